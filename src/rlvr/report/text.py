"""The summary table (shared by report.md and report.html) and report.md itself."""

from __future__ import annotations

from rlvr.report.summary import StartEnd, Summary, finite

NOT_LOGGED = "not logged"


def _se(se: StartEnd | None, fmt: str = "{:.3f}", ratio: bool = False, diff: bool = False) -> str:
    if se is None:
        return NOT_LOGGED
    text = f"{fmt.format(se.start)} → {fmt.format(se.end)}"
    if diff:
        text += f" ({se.end - se.start:+.3f})"
    if ratio and finite(se.ratio):
        text += f" ({se.ratio:.2f}×)"
    return f"{text} [{se.source}]"


def flag_text(f: dict) -> str:
    conf = ", ".join(f["confounds"]) if f["confounds"] else "none"
    return (f"step {f['step']}: {f['metric']} {f['before']:.3g} → {f['after']:.3g} "
            f"(p={f['p_value']:.3g}; confounds: {conf})")


def rows(summaries: list[Summary]) -> list[tuple[str, list[str]]]:
    """(row label, one cell per run) for the summary table."""
    out = []

    def row(label, cell):
        out.append((label, [cell(s) for s in summaries]))

    row("held-out accuracy (start → end)", lambda s: _se(s.accuracy, diff=True)
        + (f", {s.problems} problems" if s.problems else ""))
    ks = sorted({k for s in summaries for k in s.passk})
    for k in ks:
        row(f"pass@{k}", lambda s, k=k: f"{s.passk[k][0]:.3f} → {s.passk[k][1]:.3f}" if k in s.passk else NOT_LOGGED)
    if not ks:
        row("pass@k", lambda s: NOT_LOGGED)
    row("mean length of correct completions (tokens)", lambda s: _se(s.len_correct, "{:.1f}", ratio=True))
    row("clip ratio (share cut at max_new_tokens)", lambda s: _se(s.clip, "{:.2f}"))
    row("max_new_tokens (train; eval)", lambda s: "; ".join(
        " → ".join(str(x) for x in b) if b else "unknown" for b in (s.train_budget, s.eval_budget)))
    row("reflection per 1k tokens (all families)", lambda s: _se(s.reflection, "{:.2f}"))
    row("length by difficulty (tokens)", lambda s: ", ".join(
        f"{b}: {se.start:.1f} → {se.end:.1f}" for b, se in s.difficulty) + f" [by {s.difficulty_kind}]"
        if s.difficulty else NOT_LOGGED)
    row("flagged aha steps", lambda s: "change points unavailable" if s.flags is None
        else "; ".join(flag_text(f) for f in s.flags) or "none")
    row("R1-Zero signature", lambda s: "appeared" if all(ok for _, ok, _ in s.criteria) else "NOT shown")
    return out


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(summaries: list[Summary], notes: list[str]) -> str:
    names = [s.name for s in summaries]
    lines = [f"# rlvr report: {', '.join(names)}", "",
             "| | " + " | ".join(_md_cell(n) for n in names) + " |",
             "|---|" + "---|" * len(names)]
    lines += [f"| {label} | " + " | ".join(_md_cell(c) for c in cells) + " |" for label, cells in rows(summaries)]
    lines.append("")
    for s in summaries:
        lines.append(f"**{_md_cell(s.name)}.** {s.verdict}")
        lines.append("")
    if notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in notes] + [""]
    lines.append("Plots and example completions: report.html (same folder).")
    return "\n".join(lines) + "\n"
