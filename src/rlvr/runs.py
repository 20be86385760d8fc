"""One life cycle for a run folder, shared by `rlvr train`, `sft`, `rm` and `sample`.

    open_run      refuse a folder that holds another run; make it; write the resolved config.yaml; find the
                  latest checkpoint to resume from, or the finished output of a run that already ended
    StopRequest   Ctrl-C / SIGTERM: finish the step, save, stop (a second one aborts at once)

Saving itself is `checkpoint.save` (atomic, by rename) and each command's own final output.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from rlvr import checkpoint, config as config_mod


@dataclass(frozen=True)
class RunFolder:
    path: Path
    last: Path | None  # the latest checkpoint to resume from (None: start from scratch)
    finished: Path | None = None  # a resumed run that already ended: its final output, nothing left to do


def open_run(cfg, *, path: Path, resume: bool, command: str, finished: str | None = None,
             resumable: bool = True) -> RunFolder:
    """Open `path` for `rlvr <command>`. `finished`: the output (relative to the folder) whose presence means
    a resumed run already ended. `resumable`: whether the command has `--resume` to suggest."""
    if getattr(cfg, "threads", None):
        import torch

        torch.set_num_threads(cfg.threads)
    path = Path(path)
    if resume and finished and (path / finished).exists():
        return RunFolder(path, None, path / finished)
    if not resume and path.exists() and any(path.iterdir()):
        hint = f"resume it with `rlvr {command} --resume {path}` or " if resumable else ""
        raise FileExistsError(f"{path} already holds a run; {hint}pick another name")
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.yaml").write_text(config_mod.dump(cfg))
    return RunFolder(path, checkpoint.latest(path / "checkpoints") if resume else None)


class StopRequest:
    """First Ctrl-C (or SIGTERM): finish the current step, save a checkpoint, stop. Second: abort at once.

    Stopping only at step boundaries means a checkpoint never holds a half-applied optimizer step."""

    def __init__(self):
        self.requested, self.previous = False, {}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        # Only a raw write here: the handler can run in the middle of any Python code, an import included,
        # and printing through rich from there can re-enter a half-initialised module.
        os.write(2, b"\nstopping after this step to save a checkpoint (Ctrl-C again to abort without saving)\n")

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False
