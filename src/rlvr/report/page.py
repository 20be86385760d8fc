"""report.html: one self-contained page (plots inline as base64 PNG, no external URL, no external script).

Every text that came from a run (completions are untrusted model output, but prompts, names and notes too) is
HTML-escaped. A Content-Security-Policy allows only inline styles, data: images and the page's one script by
its hash, so even a mistake in escaping could not load or run anything. The script records on <body> how many
plot images decoded (data-plots-loaded / data-plots-total) and where they are, for the headless-browser test.
"""

from __future__ import annotations

import base64
import hashlib
import html
from datetime import datetime, timezone

from rlvr.report.load import Series
from rlvr.report.plots import Plot
from rlvr.report.summary import Summary
from rlvr.report.text import flag_text, rows

SCRIPT = """window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.querySelectorAll('img.plot'));
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  var rects = imgs.map(function (i) { var r = i.getBoundingClientRect();
    return [Math.round(r.left + window.scrollX), Math.round(r.top + window.scrollY), Math.round(r.width), Math.round(r.height)]; });
  document.body.setAttribute('data-plots-loaded', String(ok.length));
  document.body.setAttribute('data-plots-total', String(imgs.length));
  document.body.setAttribute('data-plot-rects', JSON.stringify(rects));
});"""

STYLE = """body { font-family: system-ui, sans-serif; margin: 16px 24px; color: #222; max-width: 1300px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
td, th { border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }
th { background: #f3f3f3; }
.plots { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px; }
img.plot { width: 100%; height: auto; }
figure { margin: 0; } figcaption { font-size: 12px; color: #555; }
.nodata { border: 1px dashed #bbb; color: #777; padding: 12px; margin: 0; height: 60px; }
pre { white-space: pre-wrap; word-break: break-word; max-height: 16em; overflow: auto; margin: 2px 0;
      background: #fafafa; font-size: 12px; }
.meta { font-size: 11px; color: #555; } .ok { color: #1a7f37; } .bad { color: #b42318; }
.verdict { font-weight: 600; }"""


def e(x) -> str:
    return html.escape(str(x), quote=True)


def _csp() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    return f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{digest}'"


def _table(header: list[str], body: list[list[str]]) -> str:
    """Cells are already HTML."""
    head = "".join(f"<th>{h}</th>" for h in header)
    return "<table><tr>" + head + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body) + "</table>"


def _completion(row: dict | None) -> str:
    if row is None:
        return '<span class="meta">(not sampled at this step)</span>'
    correct = row.get("correct")
    mark = ('<span class="meta">nothing to check</span>' if correct is None  # a general prompt of a mixture
            else '<span class="ok">✓ correct</span>' if correct else '<span class="bad">✗ wrong</span>')
    bits = [mark, f"{e(row.get('length', '?'))} tokens"] + (["truncated"] if row.get("truncated") else [])
    return f'<div class="meta">{" · ".join(bits)}</div><pre>{e(row.get("completion", ""))}</pre>'


def _compare(rows_a: list[dict], rows_b: list[dict], label_a: str, label_b: str) -> str:
    """The same prompts at two steps, side by side (matched by prompt text, in the first step's order)."""
    a_by = {str(r.get("prompt")): r for r in rows_a}
    b_by = {str(r.get("prompt")): r for r in rows_b}
    prompts = list(a_by) + [p for p in b_by if p not in a_by]
    body = [[f"<pre>{e(p)}</pre><div class=\"meta\">answer: {e((a_by.get(p) or b_by.get(p) or {}).get('answer', '?'))}</div>",
             _completion(a_by.get(p)), _completion(b_by.get(p))] for p in prompts]
    return _table(["prompt", e(label_a), e(label_b)], body)


def examples(s: Series) -> str:
    """Probes (fixed held-out prompts, greedy) at start and end, and either side of each flagged step."""
    source, rows_ = "probes.jsonl", s.probes
    if not rows_:
        source, rows_ = "eval_samples.jsonl", s.eval_samples
    if not rows_:
        return '<p class="nodata">no data: probes.jsonl not logged</p>'
    by_step: dict[int, list[dict]] = {}
    for r in rows_:
        by_step.setdefault(r["step"], []).append(r)
    steps = sorted(by_step)
    out = [f'<p class="meta">from {source}: greedy completions of the same held-out prompts</p>']
    if source != "probes.jsonl":
        out[0] = '<p class="meta">probes.jsonl not logged: greedy eval samples (eval_samples.jsonl) instead</p>'
    a, b = steps[0], steps[-1]
    out.append("<h4>Start vs end</h4>" + _compare(by_step[a], by_step[b], f"step {a} (start)", f"step {b} (end)"))
    flagged: dict[int, list[dict]] = {}  # several metrics can change at one step: one comparison for them all
    for f in s.flags or []:
        flagged.setdefault(f["step"], []).append(f)
    for step, fs in sorted(flagged.items()):
        head = "<h4>Around " + "; ".join(e(flag_text(f)) for f in fs) + "</h4>"
        # metrics step k are the rollouts of the model after k - 1 updates, probe (and eval) step k the model after
        # k updates: the change first seen at `step` came from the model probed at step - 1
        before = [st for st in steps if st < step - 1]
        after = [st for st in steps if st >= step - 1]
        if not before or not after:
            out.append(head + '<p class="meta">no probe on both sides of this step</p>')
            continue
        out.append(head + _compare(by_step[before[-1]], by_step[after[0]], f"step {before[-1]} (before)",
                                   f"step {after[0]} (after)"))
    return "\n".join(out)


def _plot(p: Plot) -> str:
    if p.png is None:
        return f'<figure><h3>{e(p.title)}</h3><p class="nodata">{e(p.note)}</p></figure>'
    cap = f"<figcaption>{e(p.note)}</figcaption>" if p.note else ""
    return (f'<figure><img class="plot" alt="{e(p.title)}" width="640" height="350" '
            f'src="data:image/png;base64,{p.png}">{cap}</figure>')


def _pipeline(s: Series) -> str:
    body = [[e(st["name"]), e(st["kind"]), "done" if st["done"] else "not done",
             "" if st["seconds"] is None else f"{st['seconds']:.0f} s"] for st in s.stages]
    parts = [f"<h3>Pipeline {e(s.name)}: stages in order</h3>", _table(["stage", "kind", "state", "time"], body),
             "<p class=\"meta\">RL stages are laid end to end on the step axis; grey dashed lines mark stage starts.</p>"]
    if s.comparison:
        parts.append(f"<h4>comparison.md</h4><pre>{e(s.comparison)}</pre>")
    return "\n".join(parts)


def page(series: list[Series], summaries: list[Summary], plots: list[Plot], notes: list[str]) -> str:
    names = ", ".join(s.name for s in series)
    table = _table([""] + [e(s.name) for s in summaries],
                   [[e(label)] + [e(c) for c in cells] for label, cells in rows(summaries)])
    verdicts = "".join(f'<p class="verdict">{e(sm.name)}: {e(sm.verdict)}</p>' for sm in summaries)
    sources = "".join(f"<li>{e(s.name)}: {e(s.kind)} at <code>{e(s.path)}</code></li>" for s in series)
    body = [f"<h1>rlvr report: {e(names)}</h1>", f"<ul>{sources}</ul>",
            f'<p class="meta">written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by rlvr report</p>',
            "<h2>Summary</h2>", table, verdicts]
    body += [_pipeline(s) for s in series if s.kind == "pipeline"]
    body += ["<h2>Plots</h2>", '<div class="plots">', *(_plot(p) for p in plots), "</div>", "<h2>Example completions</h2>"]
    for s in series:
        body += [f"<h3>{e(s.name)}</h3>", examples(s)]
    if notes:
        body += ["<h2>Notes</h2><ul>", *(f"<li>{e(n)}</li>" for n in notes), "</ul>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_csp()}">'
            f"<title>rlvr report: {e(names)}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + f"\n<script>{SCRIPT}</script>\n</body></html>\n")
