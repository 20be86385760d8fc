"""Per-step metrics and where they go: metrics.jsonl always, TensorBoard and W&B when asked; the run folder's
other JSONL records (rollouts, evaluations, probes, events). What the emergence metrics mean: rlvr.emergence."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path

import torch


def mean_std(values: list[float]) -> tuple[float, float]:
    vals = [v for v in values if not math.isnan(v)]
    if not vals:
        return math.nan, math.nan
    t = torch.tensor(vals, dtype=torch.float64)
    return float(t.mean()), float(t.std(unbiased=False))


def truncate_jsonl(path: Path, *, max_step: int) -> None:
    """Drop records written after the checkpoint being resumed from (and any torn last line)."""
    if not path.exists():
        return
    kept = []
    # records end at "\n" only: splitlines() would also cut inside a completion holding U+2028 or NEL (json.dumps
    # with ensure_ascii=False writes them raw), and the halves would be dropped as torn lines
    for line in path.read_text(encoding="utf-8").split("\n"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= max_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def logged_steps(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {json.loads(line)["step"] for line in path.read_text(encoding="utf-8").split("\n") if line.strip()}


# the run folder's JSONL files, each record with a "step"; a resumed run truncates them to its checkpoint's step
JSONL_FILES = ("metrics.jsonl", "rollouts.jsonl", "eval.jsonl", "eval_samples.jsonl", "probes.jsonl", "events.jsonl")


class Loggers:
    """`purge_step`: on resume, the first step to be logged again. TensorBoard then hides what an earlier
    process logged from that step on (the steps after the checkpoint, which the resumed run replays), so
    each step shows once; the JSONL files are truncated by the trainer (`truncate_jsonl`)."""

    def __init__(self, run_dir: Path, config, *, report_to: list[str], wandb_project: str, purge_step: int | None = None):
        self.run_dir, self.files = run_dir, {}  # JSONL files, opened (appending) on their first record
        for name in ("metrics", "rollouts", "eval"):  # these exist from the start, even empty
            self._file(name)
        self.tb = self.wandb = None
        if "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=purge_step)
        if "wandb" in report_to:
            try:
                import wandb
            except ImportError:
                raise RuntimeError("report_to includes wandb but wandb is not installed: pip install 'rlvr[wandb]'") from None
            self.wandb = wandb.init(project=wandb_project, name=run_dir.name, dir=str(run_dir), config=config, resume="allow")

    def _file(self, name: str):
        if name not in self.files:
            self.files[name] = (self.run_dir / f"{name}.jsonl").open("a", encoding="utf-8")
        return self.files[name]

    def log(self, step: int, metrics: dict, *, file: str = "metrics") -> None:
        self.write(file, [{"step": step, **metrics}])
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def log_eval(self, step: int, result: dict, samples: list[dict] = ()) -> None:
        """`samples`: the evaluation's example completions, to eval_samples.jsonl."""
        self.log(step, {f"eval/{k}": v for k, v in result.items()}, file="eval")
        self.write("eval_samples", [{"step": step, **r} for r in samples])

    def log_rollouts(self, records: list[dict]) -> None:
        self.write("rollouts", records)

    def event(self, kind: str, step: int) -> None:
        """events.jsonl: the run's starts and resumes (a resume is a confound for a change in the series)."""
        self.write("events", [{"step": step, "event": kind, "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}])

    def write(self, name: str, records: list[dict]) -> None:
        if not records:
            return
        f = self._file(name)
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()

    def close(self) -> None:
        for f in self.files.values():
            f.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
