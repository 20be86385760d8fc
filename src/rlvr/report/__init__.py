"""`rlvr report RUN [RUN ...]`: a self-contained report.html and a short report.md from run folders alone.

    load.py      run folders -> Series (a GRPO run; a pipeline's stages end to end; tolerant of older runs)
    summary.py   start vs end numbers and the R1-Zero signature verdict
    text.py      the summary table and report.md
    plots.py     matplotlib figures (PNG, inline)
    page.py      report.html (escaped text, CSP, the example completions)

One RUN: the report goes into that folder. Several: side by side, into --out (default: a `report-...`
folder beside the first run).
"""

from __future__ import annotations

import os
from pathlib import Path


def build(paths, out: str | Path | None = None) -> Path:
    """Write report.html and report.md for `paths` (run or pipeline folders); return report.html's path."""
    from rlvr.report.load import load
    from rlvr.report.page import page
    from rlvr.report.plots import draw
    from rlvr.report.summary import summarize
    from rlvr.report.text import markdown

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("rlvr report: give at least one run folder")
    series = [load(p) for p in paths]
    seen: dict[str, int] = {}
    for s in series:  # two runs of the same name (from different folders) stay apart in legends
        seen[s.name] = seen.get(s.name, 0) + 1
        if seen[s.name] > 1:
            s.name = f"{s.name} ({s.path.parent.name or s.path})#{seen[s.name]}"
    if out is None:
        out = paths[0] if len(paths) == 1 else paths[0].parent / ("report-" + "-vs-".join(s.path.name for s in series))[:120]
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file: the report goes into a folder (give another --out)")
    out.mkdir(parents=True, exist_ok=True)
    summaries = [summarize(s) for s in series]
    notes = [n if len(series) == 1 else f"{s.name}: {n}" for s in series for n in s.notes]
    _write(out / "report.md", markdown(summaries, notes))
    _write(out / "report.html", page(series, summaries, draw(series), notes))
    return out / "report.html"


def _write(path: Path, text: str) -> None:
    """Atomic: a reader (or a crash) never sees half a report."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors="replace")  # a lone surrogate (valid JSON "\\ud800") becomes "?"
    os.replace(tmp, path)
