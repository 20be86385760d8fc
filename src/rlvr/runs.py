"""One life cycle for a run folder, shared by `rlvr train`, `sft`, `rm` and `sample`.

    open_run      lock the folder (RUN/.lock, held while the process runs); refuse a folder that holds another
                  run; make it; write the resolved config.yaml; find the latest intact checkpoint to resume
                  from, or the finished output of a run that already ended
    RunFolder     .release() the lock; .discard() a folder this start made, when the start failed
    StopRequest   Ctrl-C / SIGTERM: finish the step, save, stop (a second one aborts at once)

Saving itself is `checkpoint.save` (atomic, by rename) and each command's own final output.
"""

from __future__ import annotations

import fcntl
import contextlib
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rlvr import checkpoint, config as config_mod


LOCK = ".lock"  # inside the run folder: flock'ed by the process training it, holding its PID


class RunLocked(RuntimeError):
    """The run folder is held by another process (a run still training, or a start of the same name)."""


class RunLock:
    """An exclusive flock on RUN/.lock. The OS drops it when the process ends, however it ends (SIGKILL
    included), so a stale lock cannot outlive its process and needs no clean-up."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        _held.pop(_key(self.path), None)


_held: dict[str, RunLock] = {}  # this process's locks, by resolved folder


def _key(path: Path) -> str:
    return str(Path(path).resolve())


def _holder(fd: int) -> str:
    """The PID written by the process holding the lock (it may be a moment from writing it)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.05)
    return "unknown"


def lock(path: Path) -> RunLock:
    """Lock `path` (made if missing) for this process, or raise RunLocked naming the process that holds it.
    This process opening a folder again (one run after another from Python) takes over its own lock; `rlvr
    sft|rm|sample` keep theirs until the process ends."""
    earlier = _held.pop(_key(path), None)
    if earlier is not None:
        earlier.release()
    for _ in range(5):
        path.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # removed between mkdir and open (a failed start discarding it): again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunLocked(f"{path} is in use by process {holder} (a run still training there, or another start "
                            f"of the same name); wait for it to end, or stop it (kill {holder}) and resume") from None
        try:  # the file locked must still be the folder's (a failed start may have removed both meanwhile)
            current = os.stat(path / LOCK).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if not current:
            os.close(fd)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        held = _held[_key(path)] = RunLock(path, fd)
        return held
    raise RunLocked(f"could not lock {path}: it keeps being removed by another process")


@dataclass(frozen=True)
class RunFolder:
    path: Path
    last: Path | None  # the latest checkpoint to resume from (None: start from scratch)
    finished: Path | None = None  # a resumed run that already ended: its final output, nothing left to do
    lock: RunLock | None = None
    created: bool = False  # this start made the folder (a fresh start, not a resume)

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()

    def discard(self) -> None:
        """A start that failed before its first step: remove the folder if this start made it (never a
        resumed one, which holds an earlier run), then release the lock."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
        self.release()

    @contextlib.contextmanager
    def guard(self):
        """Around a command's work (`rlvr sft|rm|sample`): a failure before it kept anything (a step in
        metrics.jsonl, a checkpoint, its output) discards the folder; after that the folder stays to resume."""
        try:
            yield self
        except BaseException:
            if not self.kept_anything():
                self.discard()
            raise

    def kept_anything(self) -> bool:
        metrics = self.path / "metrics.jsonl"
        return ((metrics.exists() and metrics.stat().st_size > 0) or any((self.path / "checkpoints").glob("step-*"))
                or (self.path / "dataset.jsonl").exists())


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
    created = not resume and not path.exists()
    held = lock(path)
    try:
        # checked under the lock: a start of the same name that got there first has written its config by now
        if not resume and any(p.name != LOCK for p in path.iterdir()):
            hint = f"resume it with `rlvr {command} --resume {path}` or " if resumable else ""
            raise FileExistsError(f"{path} already holds a run; {hint}pick another name")
        (path / "config.yaml").write_text(config_mod.dump(cfg))
        last = checkpoint.latest(path / "checkpoints") if resume else None
    except BaseException:
        held.release()
        raise
    return RunFolder(path, last, lock=held, created=created)


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
