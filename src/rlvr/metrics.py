"""Per-step metrics and where they go: metrics.jsonl always, TensorBoard and W&B when asked."""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch


def reflection_rate(texts: list[str], phrases: list[str]) -> float:
    """Share of completions that contain at least one phrase of the lexicon (case-insensitive)."""
    if not texts:
        return 0.0
    lowered = [p.lower() for p in phrases]
    return sum(any(p in t.lower() for p in lowered) for t in texts) / len(texts)


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
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("step", 0) <= max_step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


def logged_steps(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {json.loads(line)["step"] for line in path.read_text().splitlines() if line.strip()}


class Loggers:
    """`purge_step`: on resume, the first step to be logged again. TensorBoard then hides what an earlier
    process logged from that step on (the steps after the checkpoint, which the resumed run replays), so
    each step shows once; the JSONL files are truncated by the trainer (`truncate_jsonl`)."""

    def __init__(self, run_dir: Path, config, *, report_to: list[str], wandb_project: str, purge_step: int | None = None):
        self.metrics = (run_dir / "metrics.jsonl").open("a")
        self.rollouts = (run_dir / "rollouts.jsonl").open("a")
        self.evals = (run_dir / "eval.jsonl").open("a")
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

    def log(self, step: int, metrics: dict, *, file=None) -> None:
        record = {"step": step, **metrics}
        (file or self.metrics).write(json.dumps(record) + "\n")
        (file or self.metrics).flush()
        scalars = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if self.tb is not None:
            for k, v in scalars.items():
                self.tb.add_scalar(k, v, step)
            self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step=step)

    def log_eval(self, step: int, result: dict) -> None:
        self.log(step, {f"eval/{k}": v for k, v in result.items()}, file=self.evals)

    def log_rollouts(self, records: list[dict]) -> None:
        for r in records:
            self.rollouts.write(json.dumps(r, ensure_ascii=False) + "\n")
        self.rollouts.flush()

    def close(self) -> None:
        for f in (self.metrics, self.rollouts, self.evals):
            f.close()
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()
