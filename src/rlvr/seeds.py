"""A pipeline run over several seeds (`seeds: [..]`): every comparison column per seed, its mean and range.

    runs/<pipeline>/
        01-... 0N-...            the stages before `vary_from`, run once
        seed-S/                  a whole pipeline folder per seed: its own stages from `vary_from` on, links to
                                 the shared ones, comparison.md/.json
        seeds.md, seeds.json     this module's summary

A number measured once is worth little when the stage's sign depends on the seed: the summary puts each
model's mean next to the smallest and largest value, the change each varied policy made to the model it
started from on every seed, and every stage's wall time per seed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from rlvr.compare import COLUMNS, columns

DELTAS = [("accuracy", "accuracy"), ("preference reward", "preference_reward"),
          ("general: right answer", "general_correct_rate")]  # what a varied policy changed, per seed
DATA_COLUMNS = ["samples", "kept", "acceptance_rate"]  # a rejection-sampled dataset's row


def _num(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _spread(values: list[float | None]) -> dict | None:
    """{"values" (per seed, None: no figure), "mean", "min", "max"} over the seeds that have one; None if none has."""
    got = [v for v in values if v is not None]
    return {"values": values, "mean": sum(got) / len(got), "min": min(got), "max": max(got)} if got else None


def _spreads(per_seed: dict, label: str, keys) -> dict:
    """{key: its spread over the seeds} for one row of the comparisons, keys no seed has left out."""
    out = {key: _spread([_num(c.get(label, {}).get(key)) for c in per_seed.values()]) for key in keys}
    return {k: v for k, v in out.items() if v is not None}


def collect(p, root: Path) -> dict:
    """{"seeds", "varied", "rows": {label: {column: {"values": [per seed], "mean", "min", "max"}}}, "changes",
    "seconds": {stage folder: [per seed]}}; a value is None where that seed has no figure."""
    from rlvr.pipeline import first_varied, seed_folder

    per_seed = {}
    for seed in p.seeds:
        path = seed_folder(root, seed) / "comparison.json"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: seed {seed} has not finished")
        per_seed[seed] = json.loads(path.read_text())
    labels = [k for k in per_seed[p.seeds[0]] if not k.startswith("data/")]
    varied = [f"{i:02d}-{s.name}" for i, s in enumerate(p.stages, start=1)][first_varied(p):]
    keys = [k for _, k in COLUMNS] + ["problems"] + [f"pass@{k}" for k in p.eval.k]
    rows = {label: _spreads(per_seed, label, keys) for label in labels}
    data_rows = {label[5:]: _spreads(per_seed, label, DATA_COLUMNS)  # rejection-sampled datasets: what was kept
                 for label in per_seed[p.seeds[0]] if label.startswith("data/")}
    changes = []  # each varied policy against the model it started from, seed by seed
    for label, before in _sources(p).items():
        if label not in varied or label not in rows or before not in rows:
            continue
        for i, seed in enumerate(p.seeds):
            change = {"seed": seed, "model": label, "against": before}
            for _, key in DELTAS:
                a, b = (rows[x].get(key, {}).get("values", [None] * len(p.seeds))[i] for x in (before, label))
                change[key] = None if a is None or b is None else b - a
            n = rows[label].get("problems", {}).get("values", [None] * len(p.seeds))[i]
            if change["accuracy"] is not None and n:
                change["accuracy_problems"] = round(change["accuracy"] * n)
            changes.append(change)
    seconds = {}
    for i, s in enumerate(p.stages, start=1):
        folder = f"{i:02d}-{s.name}"
        seconds[folder] = [_seconds(seed_folder(root, seed) / folder / "done") for seed in p.seeds]
    return {"seeds": p.seeds, "varied": varied, "rows": rows, "data": data_rows, "changes": changes, "seconds": seconds}


def _sources(p) -> dict[str, str]:
    """{policy row: the row of the model its stage started from}, as the pipeline's plan resolves `model:`."""
    from rlvr.pipeline import plan

    stages = plan(p, p.seeds[0])  # (folder names and sources are the same for every seed)
    folder = {s.name: s.folder.name for s in stages}
    return {s.folder.name: folder[s.source] if s.source else "base" for s in stages if s.makes == "policy"}


def _seconds(marker: Path) -> float | None:
    from rlvr.pipeline import read_json

    done = read_json(marker)
    return _num(done.get("seconds")) if isinstance(done, dict) else None


def _fmt(key: str, v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:.1f}" if key == "mean_length" else f"{v:.3f}"


def _range(key: str, c: dict | None, fmt: str | None = None) -> str:
    """`mean [min, max]`, or the one value when every seed gave the same."""
    if c is None:
        return ""
    f = (lambda v: fmt.format(v)) if fmt else (lambda v: _fmt(key, v))
    cell = f(c["mean"]) if c["min"] == c["max"] else f"{f(c['mean'])} [{f(c['min'])}, {f(c['max'])}]"
    missing = sum(v is None for v in c["values"])
    return cell + (f" ({len(c['values']) - missing} of {len(c['values'])} seeds)" if missing else "")


def markdown(p, data: dict) -> str:
    seeds = ", ".join(map(str, p.seeds))
    shared = [f"{i:02d}-{s.name}" for i, s in enumerate(p.stages, start=1) if f"{i:02d}-{s.name}" not in data["varied"]]
    lines = [f"# {p.name} over seeds {seeds}", "",
             f"Varied per seed: {', '.join(data['varied'])}. Run once, shared: {', '.join(shared) or 'none'}. "
             f"Cells: mean [min, max] over the seeds.", ""]
    cols = columns(p.eval.k, data["rows"].values())
    lines += ["| model | " + " | ".join(h for h, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    for label, r in data["rows"].items():
        cells = [_range(k, r.get(k)) for _, k in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if data["data"]:
        lines += ["", "| rejection-sampled data | " + " | ".join(DATA_COLUMNS) + " |", "|---|" + "---|" * len(DATA_COLUMNS)]
        for label, r in data["data"].items():
            cells = [_range(k, r.get(k), "{:.0f}" if k != "acceptance_rate" else "{:.3f}") for k in DATA_COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if data["changes"]:
        lines += ["", "| seed | model | against | accuracy change (problems) | preference reward change | "
                      "general: right answer change |", "|---|---|---|---|---|---|"]
        for c in data["changes"]:
            acc = "" if c["accuracy"] is None else f"{c['accuracy']:+.3f}" + (
                f" ({c['accuracy_problems']:+d})" if "accuracy_problems" in c else "")
            pref, gen = (("" if c[k] is None else f"{c[k]:+.3f}") for k in ("preference_reward", "general_correct_rate"))
            lines.append(f"| {c['seed']} | {c['model']} | {c['against']} | {acc} | {pref} | {gen} |")
    lines += ["", "| stage wall time (s) | " + " | ".join(f"seed {s}" for s in p.seeds) + " |",
              "|---|" + "---|" * len(p.seeds)]
    for folder, secs in data["seconds"].items():  # a shared stage ran once: its time in the first column only
        if folder not in data["varied"]:
            secs, folder = secs[:1] + [None] * (len(secs) - 1), f"{folder} (shared, ran once)"
        lines.append(f"| {folder} | " + " | ".join("" if s is None else f"{s:.0f}" for s in secs) + " |")
    return "\n".join(lines) + "\n"


def summarize(p, root: Path) -> str:
    """Write seeds.json and seeds.md into the pipeline folder; return the markdown."""
    data = collect(p, root)
    text = markdown(p, data)
    (root / "seeds.json").write_text(json.dumps(data, indent=2) + "\n")
    (root / "seeds.md").write_text(text)
    return text
