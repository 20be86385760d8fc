"""The report's figures, drawn by matplotlib (object API, Agg: no display, no global pyplot state) as PNG.

Each plot function takes every Series (runs overlay, one colour per run, named in the legend) and returns a
Figure, or a "no data: <key> not logged" note when none of the runs logged what it draws. Aha flags are dotted
vertical lines in the run's colour on the accuracy, length and reflection plots; pipeline stage starts are grey
dashed lines on every per-step plot.
"""

from __future__ import annotations

import base64
import io
import re
from dataclasses import dataclass

from matplotlib.figure import Figure

from rlvr.report.load import Series
from rlvr.report.summary import by_difficulty, eval_samples_setting, finite, pass_curve

SIZE = (6.4, 3.5)  # inches at 100 dpi: two plots side by side fit a 1280-px-wide page


@dataclass
class Plot:
    title: str
    png: str | None  # base64 PNG, None when there is no data
    note: str = ""  # "no data: ... not logged", or what the plot shows / derives
    labels: tuple[str, ...] = ()  # the legend's entries (run names are in them when runs overlay)


def done(title: str, fig: Figure, axes, note: str = "", xlabel: str = "step") -> Plot:
    """Label, lay out and encode the figure: a Plot with its PNG (base64) and legend entries."""
    labels = []
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        handles, names = ax.get_legend_handles_labels()
        if handles:
            ax.legend(fontsize=7, loc="best")
            labels += names
    # fixed margins: tight_layout would lay every figure's text out twice (half the report's time)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.14, top=0.86 if fig.get_suptitle() else 0.9, wspace=0.28)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return Plot(title, base64.b64encode(buf.getvalue()).decode("ascii"), note, tuple(labels))


def _xy(rows: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(r["step"], float(r[key])) for r in rows if finite(r.get(key))]
    return [p[0] for p in pts], [p[1] for p in pts]


def _has(series: list[Series], key: str, evals: bool = False) -> bool:
    return any(finite(r.get(key)) for s in series for r in (s.evals if evals else s.metrics))


def _keys(series: list[Series], pattern: str) -> list[str]:
    pat = re.compile(pattern)
    return sorted({k for s in series for r in s.metrics for k in r if pat.fullmatch(k)})


def _label(series: list[Series], s: Series, what: str) -> str:
    return what if len(series) == 1 else f"{s.name}: {what}"


def _marks(ax, series: list[Series], flags: bool) -> None:
    """Stage starts (grey dashed) and, when `flags`, aha steps (dotted, the run's colour)."""
    for i, s in enumerate(series):
        for step, label in s.boundaries:
            if step > 0:
                ax.axvline(step, color="0.5", ls="--", lw=1)
                ax.annotate(label, (step, 1), xycoords=("data", "axes fraction"), rotation=90, va="top",
                            ha="right", fontsize=7, color="0.4")
        if flags:
            for f in s.flags or []:
                ax.axvline(f["step"], color=f"C{i}", ls=":", lw=2)
                ax.annotate(f"aha? {f['metric'].split('/')[0]}", (f["step"], 0.02), xycoords=("data", "axes fraction"),
                            rotation=90, va="bottom", ha="left", fontsize=7, color=f"C{i}")


def _lines(title: str, series: list[Series], keys: list[tuple[str, str]], ylabel: str, flags: bool = False,
           eval_keys: list[tuple[str, str]] = (), share: bool = False) -> Plot:
    """One axis of per-step lines: keys = [(metric key, line style)], eval_keys drawn as markers."""
    if not any(_has(series, k) for k, _ in keys) and not any(_has(series, k, True) for k, _ in eval_keys):
        return Plot(title, None, f"no data: {', '.join(k for k, _ in keys)} not logged")
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    for i, s in enumerate(series):
        for k, ls in keys:
            x, y = _xy(s.metrics, k)
            if x:
                ax.plot(x, y, ls, color=f"C{i}", lw=1.3, label=_label(series, s, k))
        for k, marker in eval_keys:
            x, y = _xy(s.evals, k)
            if x:
                ax.plot(x, y, marker, color=f"C{i}", ms=7, label=_label(series, s, k + " (held-out)"))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    if share:  # a share from 0: a rise from 0.04 to 0.06 should look small
        ax.set_ylim(bottom=0)
    _marks(ax, series, flags)
    return done(title, fig, [ax])


def reward_accuracy(series):
    return _lines("Reward and accuracy", series, [("reward/mean", "-"), ("accuracy", "--")], "mean per step",
                  flags=True, eval_keys=[("eval/accuracy", "o")])


def length_distribution(series):
    title = "Completion length over steps"
    if not any(_has(series, k) for k in ("completion_length/median", "completion_length/mean")):
        return Plot(title, None, "no data: completion_length/median not logged")
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    for i, s in enumerate(series):
        c = f"C{i}"
        x, med = _xy(s.metrics, "completion_length/median")
        x90, p90 = _xy(s.metrics, "completion_length/p90")
        if x and x == x90:
            ax.fill_between(x, med, p90, color=c, alpha=0.18, lw=0, label=_label(series, s, "median–p90"))
            ax.plot(x, med, "-", color=c, lw=1.3, label=_label(series, s, "median"))
        for key, ls, what in (("completion_length/correct_mean", "--", "correct mean"),
                              ("completion_length/incorrect_mean", ":", "incorrect mean"),
                              ("completion_length/stopped_mean", (0, (5, 1, 1, 1)), "stopped (not truncated) mean")):
            xs, ys = _xy(s.metrics, key)
            if xs:
                ax.plot(xs, ys, ls=ls, color=c, lw=1.5, label=_label(series, s, what))
        xs, ys = _xy(s.evals, "eval/completion_length/correct_mean")
        if xs:
            ax.plot(xs, ys, "D", color=c, ms=6, label=_label(series, s, "correct mean (held-out)"))
        if not x:
            xs, ys = _xy(s.metrics, "completion_length/mean")
            ax.plot(xs, ys, "-", color=c, lw=1.3, label=_label(series, s, "mean"))
        xb, yb = _xy(s.metrics, "max_new_tokens")
        if xb:
            ax.step(xb, yb, where="post", color=c, ls="-.", lw=1, alpha=0.6, label=_label(series, s, "max_new_tokens"))
    ax.set_title(title)
    ax.set_ylabel("tokens")
    _marks(ax, series, flags=True)
    derived = sorted({k for s in series for k in s.derived})
    note = ("band: median to p90 of the step's completions" +
            (f"; computed from rollouts.jsonl: {', '.join(derived)}" if derived else ""))
    return done(title, fig, [ax], note)


def clip_ratio(series):
    return _lines("Clip ratio (share cut at max_new_tokens)", series, [("truncated_fraction", "-")], "share",
                  eval_keys=[("eval/truncated_fraction", "o")], share=True)


def reflection(series):
    title = "Reflection per 1k tokens, by family"
    fams = sorted({k.split("/")[1] for k in _keys(series, r"reflection/[^/]+/per_1k")})
    if not fams:
        if _has(series, "reflection_rate"):
            p = _lines(title, series, [("reflection_rate", "-")], "reflection_rate", flags=True)
            p.note = "older run: only reflection_rate (not per 1k tokens) was logged"
            return p
        return Plot(title, None, "no data: reflection/<family>/per_1k not logged")
    fig = Figure(figsize=SIZE)
    left, right = fig.subplots(1, 2, sharey=True)
    styles = ["-", "--", "-.", ":"]
    for i, s in enumerate(series):
        for j, fam in enumerate(fams):
            x, y = _xy(s.metrics, f"reflection/{fam}/per_1k")
            if x:
                left.plot(x, y, styles[j % 4], color=f"C{i}", lw=1.3, label=_label(series, s, fam))
            for part, marker in (("correct", "-"), ("incorrect", ":")):
                x, y = _xy(s.metrics, f"reflection/{fam}/per_1k_{part}")
                if x:
                    right.plot(x, y, marker, color=f"C{(i * len(fams) + j) % 10}" if len(series) == 1 else f"C{i}",
                               lw=1.2, label=_label(series, s, f"{fam} {part}"))
    left.set_title("all completions", fontsize=9)
    right.set_title("correct vs incorrect", fontsize=9)
    left.set_ylabel("per 1k tokens")
    fig.suptitle(title)
    for ax in (left, right):
        _marks(ax, series, flags=True)
    return done(title, fig, [left, right])


def behaviours(series):
    keys = _keys(series, r"behaviour/[^/]+")
    if not keys:
        return Plot("Behaviours", None, "no data: behaviour/{verification,backtracking,...} not logged")
    styles = ["-", "--", "-.", ":"]
    return _lines("Behaviours (share of completions showing it)", series,
                  [(k, styles[j % 4]) for j, k in enumerate(keys)], "share", share=True)


def entropy_kl(series):
    title = "Entropy and KL"
    if not _has(series, "entropy") and not _has(series, "kl"):
        return Plot(title, None, "no data: entropy, kl not logged")
    fig = Figure(figsize=SIZE)
    axes = fig.subplots(1, 2)
    for ax, key in zip(axes, ("entropy", "kl")):
        for i, s in enumerate(series):
            x, y = _xy(s.metrics, key)
            if x:
                ax.plot(x, y, "-", color=f"C{i}", lw=1.3, label=s.name if len(series) > 1 else None)
        if not _has(series, key):
            ax.text(0.5, 0.5, f"no data: {key} not logged", ha="center", transform=ax.transAxes)
        ax.set_title(key, fontsize=9)
        _marks(ax, series, flags=False)
    fig.suptitle(title)
    return done(title, fig, axes)


def diversity(series):
    title = "Diversity and language"
    left_keys = [k for k in ("diversity/distinct_1", "diversity/distinct_2", "language/off_script_share")
                 if _has(series, k)]
    if not left_keys and not _has(series, "diversity/distinct_answers"):
        return Plot(title, None, "no data: diversity/distinct_1, diversity/distinct_answers not logged")
    fig = Figure(figsize=SIZE)
    left, right = fig.subplots(1, 2)
    for i, s in enumerate(series):
        for k, ls in zip(left_keys, ("-", "--", ":")):
            x, y = _xy(s.metrics, k)
            left.plot(x, y, ls, color=f"C{i}", lw=1.3, label=_label(series, s, k.split("/")[1]))
        x, y = _xy(s.metrics, "diversity/distinct_answers")
        if x:
            right.plot(x, y, "-", color=f"C{i}", lw=1.3, label=s.name if len(series) > 1 else None)
    left.set_title("share", fontsize=9)
    right.set_title("distinct final answers per group", fontsize=9)
    fig.suptitle(title)
    for ax in (left, right):
        _marks(ax, series, flags=False)
    return done(title, fig, [left, right])


def pass_at_k_curves(series):
    title = "pass@k: base (first eval) vs trained (last eval)"
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    drawn, notes = False, []
    for i, s in enumerate(series):
        n = eval_samples_setting(s)
        curves = [(r["step"], pass_curve(r, n)) for r in s.evals]
        curves = [(st, c) for st, c in curves if c]
        if len(curves) >= 1:
            for (st, c), ls, what in ((curves[0], "--", "base"), (curves[-1], "-", "trained")):
                ax.plot([k for k, _ in c], [v for _, v in c], ls, color=f"C{i}", marker=".",
                        label=_label(series, s, f"{what} (step {st})"))
                if len(curves) == 1:
                    break
            drawn = True
            continue
        # older runs: only the logged eval/pass@k points
        for row, ls, what in ((s.evals[0], "--", "base"), (s.evals[-1], "-", "trained")) if len(s.evals) >= 2 else ():
            pts = sorted((int(m.group(1)), v) for k, v in row.items()
                         if (m := re.fullmatch(r"eval/pass@(\d+)", k)) and finite(v))
            if pts:
                ax.plot(*zip(*pts), ls, color=f"C{i}", marker="o", label=_label(series, s, f"{what} (step {row['step']})"))
                drawn = True
        if len(s.evals) >= 2:
            notes.append(f"{s.name}: eval/correct_counts not logged; only the logged pass@k points")
    if not drawn:
        return Plot(title, None, "no data: eval/correct_counts not logged")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.set_ylabel("pass@k (unbiased estimator)")
    return done(title, fig, [ax], "; ".join(notes), xlabel="k (samples per problem)")


def difficulty(series):
    title = "Length by difficulty, start vs end"
    fig = Figure(figsize=SIZE)
    ax = fig.add_subplot()
    drawn, kinds = False, set()
    for i, s in enumerate(series):
        kind, buckets = by_difficulty(s)
        if not buckets:
            continue
        kinds.add(kind)
        names = [b for b, _ in buckets]
        ax.plot(names, [se.start for _, se in buckets], "--o", color=f"C{i}", label=_label(series, s, "start"))
        ax.plot(names, [se.end for _, se in buckets], "-o", color=f"C{i}", label=_label(series, s, "end"))
        drawn = True
    if not drawn:
        return Plot(title, None, "no data: completion_length/by_level/*, completion_length/by_solve_rate/* not logged")
    ax.set_title(title)
    ax.set_ylabel("mean tokens")
    return done(title, fig, [ax], xlabel=" / ".join(sorted(kinds)) + " (easiest first)")


ALL = (reward_accuracy, length_distribution, clip_ratio, reflection, behaviours, entropy_kl, pass_at_k_curves,
       difficulty, diversity)


def draw(series: list[Series]) -> list[Plot]:
    out = []
    for f in ALL:
        try:
            out.append(f(series))
        except Exception as e:  # noqa: BLE001 -- one bad series must not cost the other plots
            out.append(Plot(f.__name__.replace("_", " "), None, f"plot failed: {type(e).__name__}: {e}"))
    return out
