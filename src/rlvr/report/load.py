"""Read run folders into one shape for the report: a GRPO run, or a pipeline with its stages in order.

A `Series` holds everything the report draws for one RUN argument, with steps on one axis: a pipeline's GRPO
stages are laid end to end (stage 2's step 1 follows stage 1's last step) and each stage start is a
`boundary`. Only the folder's files are read; older runs that lack newer keys or files load with what they
have, and whatever could not be read becomes a visible note instead of an error.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

STAGE_DIR = re.compile(r"^\d{2}-.+")  # a pipeline's stage folders: 01-cold-start, 02-reasoning-rl, ...


@dataclass
class Series:
    name: str
    path: Path
    kind: str  # "run" | "pipeline"
    metrics: list[dict] = field(default_factory=list)  # metrics.jsonl rows, "step" made global
    evals: list[dict] = field(default_factory=list)  # eval.jsonl rows, "step" made global
    probes: list[dict] = field(default_factory=list)
    eval_samples: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    configs: list[dict] = field(default_factory=list)  # config.yaml of each GRPO run (one for a plain run)
    boundaries: list[tuple[int, str]] = field(default_factory=list)  # (global step a stage starts at, label)
    stages: list[dict] = field(default_factory=list)  # pipeline: {name, kind, done, seconds}
    comparison: str | None = None  # a pipeline's comparison.md, as written
    flags: list[dict] | None = None  # aha flags (global steps); None when change points are unavailable
    notes: list[str] = field(default_factory=list)
    derived: set[str] = field(default_factory=set)  # metric keys computed here from rollouts.jsonl, not logged


def read_jsonl(path: Path, notes: list[str]) -> list[dict]:
    """Every JSON object line of `path`; a torn or foreign line (a run killed mid-write) is skipped, and counted."""
    if not path.is_file():
        return []
    rows, bad = [], 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                bad += 1
                continue
            step = obj.get("step", 0) if isinstance(obj, dict) else None
            if isinstance(step, (int, float)) and math.isfinite(step):  # json reads NaN and Infinity too
                rows.append(obj)
            else:
                bad += 1
    if bad:
        notes.append(f"{path.parent.name}/{path.name}: {bad} unreadable line(s) skipped")
    return rows


def _read_yaml(path: Path, notes: list[str]) -> dict:
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8", errors="replace"))
    except yaml.YAMLError as e:
        notes.append(f"{path.parent.name}/{path.name}: unreadable ({str(e).splitlines()[0]})")
        return {}
    return data if isinstance(data, dict) else {}


def is_run(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / "metrics.jsonl").is_file()


def load(path: Path | str) -> Series:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such run folder")
    if not path.is_dir():
        raise ValueError(f"{path} is not a run folder (it is a file; give the folder that holds metrics.jsonl)")
    if (path / "pipeline.yaml").is_file():
        return _load_pipeline(path)
    if is_run(path):
        s = Series(name=path.name, path=path, kind="run")
        _add_run(s, path, offset=0)
        s.flags = _aha(path, s.notes, {None: 0})
        return s
    inside = sorted(p.name for p in path.iterdir() if p.is_dir() and (is_run(p) or (p / "pipeline.yaml").is_file()))
    hint = f"; it holds run folders ({', '.join(inside[:5])}{', ...' if len(inside) > 5 else ''}): give those" if inside else ""
    raise ValueError(f"{path} is not a run folder: it has no metrics.jsonl or config.yaml (a GRPO run), "
                     f"nor pipeline.yaml (a pipeline){hint}")


def _add_run(s: Series, folder: Path, offset: int, stage: str | None = None) -> int:
    """Append one GRPO run's files to `s`, steps shifted by `offset`; return its last step."""
    def shifted(rows):
        for r in rows:
            r["step"] = int(r.get("step", 0)) + offset
            if stage:
                r["stage"] = stage
        return rows

    metrics = shifted(read_jsonl(folder / "metrics.jsonl", s.notes))
    s.metrics += metrics
    s.evals += shifted(read_jsonl(folder / "eval.jsonl", s.notes))
    s.probes += shifted(read_jsonl(folder / "probes.jsonl", s.notes))
    s.eval_samples += shifted(read_jsonl(folder / "eval_samples.jsonl", s.notes))
    s.events += shifted(read_jsonl(folder / "events.jsonl", s.notes))
    cfg = _read_yaml(folder / "config.yaml", s.notes)
    s.configs.append(cfg)
    _derive_lengths(s, folder, metrics, offset)
    last = max((r["step"] for r in metrics), default=offset)
    steps = cfg.get("steps")
    return max(last, offset + steps) if isinstance(steps, int) and not metrics else last


def _load_pipeline(root: Path) -> Series:
    s = Series(name=root.name, path=root, kind="pipeline")
    offset, offsets = 0, {}  # stage folder -> the global step its step 0 sits at
    folders = sorted(p for p in root.iterdir() if p.is_dir() and STAGE_DIR.match(p.name))
    for folder in folders:
        done = None
        if (folder / "done").is_file():
            try:
                done = json.loads((folder / "done").read_text())
            except ValueError:
                pass
            if not isinstance(done, dict):
                s.notes.append(f"{folder.name}/done: unreadable")
                done = None
        kind = (done or {}).get("kind") or _guess_kind(folder)
        seconds = (done or {}).get("seconds")
        s.stages.append({"name": folder.name, "kind": str(kind), "done": done is not None,
                         "seconds": seconds if isinstance(seconds, (int, float)) and math.isfinite(seconds) else None})
        # every stage start is a boundary: a non-RL stage between two RL ones changed the weights there
        s.boundaries.append((offset, f"{folder.name} ({kind})"))
        if kind == "grpo":
            offsets[folder.name] = offset
            offset = _add_run(s, folder, offset, stage=folder.name)
    if not folders:
        s.notes.append("pipeline.yaml but no stage folders (nn-name/) yet")
    if (root / "comparison.md").is_file():
        s.comparison = (root / "comparison.md").read_text(encoding="utf-8", errors="replace")
    s.flags = _aha(root, s.notes, offsets)
    return s


def _guess_kind(folder: Path) -> str:
    """A stage without its `done` marker (interrupted): GRPO runs are the ones that log rollouts or rewards."""
    if (folder / "rollouts.jsonl").is_file():
        return "grpo"
    try:
        with (folder / "metrics.jsonl").open() as f:
            return "grpo" if "reward/mean" in json.loads(f.readline() or "{}") else "other"
    except (OSError, ValueError):
        return "other"


def _aha(folder: Path, notes: list[str], offsets: dict[str | None, int]) -> list[dict] | None:
    """rlvr.changepoints.aha's flags (a pipeline's joined across its stages, stage boundaries among the
    confounds) as plain dicts on the global step axis; None, with a note, when it is missing or fails."""
    try:
        from rlvr import changepoints
    except ImportError:
        notes.append("change points unavailable (rlvr.changepoints is not installed)")
        return None
    try:
        return [{"metric": str(f.metric), "step": int(f.step) + offsets.get(getattr(f, "stage", None), 0),
                 "before": float(f.before), "after": float(f.after), "p_value": float(f.p_value),
                 "confounds": [str(c) for c in (f.confounds or [])]} for f in changepoints.aha(folder)]
    except Exception as e:  # noqa: BLE001 -- the report must not fail because change-point detection did
        notes.append(f"change points unavailable for {folder.name}: {type(e).__name__}: {e}")
        return None


LENGTH_KEYS = ("completion_length/median", "completion_length/p90", "completion_length/correct_mean",
               "completion_length/incorrect_mean")


def _derive_lengths(s: Series, folder: Path, metrics: list[dict], offset: int) -> None:
    """Older runs log only the mean length: take percentiles and correct/incorrect means from rollouts.jsonl
    (every sample's length and correctness), marked as derived. Streams the file: it can be large."""
    if not metrics or all(k in metrics[0] for k in LENGTH_KEYS) or not (folder / "rollouts.jsonl").is_file():
        return
    by_step: dict[int, list[tuple[float, bool]]] = {}
    with (folder / "rollouts.jsonl").open(encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                r = json.loads(line)
                by_step.setdefault(int(r["step"]) + offset, []).append((float(r["length"]), bool(r.get("correct"))))
            except (ValueError, KeyError, TypeError):
                continue
    import numpy as np

    for row in metrics:
        samples = by_step.get(row["step"])
        if not samples:
            continue
        lengths = np.array([n for n, _ in samples])
        ok = np.array([c for _, c in samples])
        derived = {"completion_length/median": float(np.median(lengths)),
                   "completion_length/p90": float(np.percentile(lengths, 90)),
                   "completion_length/correct_mean": float(lengths[ok].mean()) if ok.any() else math.nan,
                   "completion_length/incorrect_mean": float(lengths[~ok].mean()) if (~ok).any() else math.nan}
        for k, v in derived.items():
            if k not in row:
                row[k] = v
                s.derived.add(k)
    if s.derived:
        s.notes.append(f"{folder.name}: {', '.join(sorted(s.derived))} not logged; computed from rollouts.jsonl "
                       f"(the samples it kept: log.rollouts_per_step)")
