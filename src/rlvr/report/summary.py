"""The report's numbers: start against end, and whether R1-Zero's signature appeared.

The signature (DeepSeek-R1's R1-Zero run) needs all four of:
  1. held-out accuracy up (last evaluation above the first);
  2. mean length of correct completions up at least 1.5x;
  3. not from truncation or a budget change: max_new_tokens the same at start and end (training and eval, the
     eval's as its rows logged it), the clip ratio (share of completions cut at the budget) up by less than
     CLIP_RISE, among all completions and among the correct ones, and no flagged length
     rise whose confounds (rlvr.changepoints) name a max_new_tokens change or a clip-ratio rise;
  4. tokens growing with difficulty at the end: Spearman correlation of mean length against difficulty > 0 and
     the hardest bucket longer than the easiest. Difficulty is the task's own level when logged, else the
     prompt's solve rate (solved < easy < hard; "unsolved" is left out: with no right answer its length is
     mostly failure, rambling or truncation, not thinking).
Held-out (eval/...) numbers are preferred; without them the training rollouts' first and last steps are used,
and the table says which.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from rlvr.report.load import Series

LENGTH_RATIO = 1.5
CLIP_RISE = 0.10
SOLVE_RATE_ORDER = ("solved", "easy", "hard", "unsolved")  # easiest first


def finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def reflection_total(row: dict, prefix: str = "") -> float:
    """Sum of the lexicon families' per-1k rates: reflection/<family>/per_1k."""
    pat = re.compile(rf"^{re.escape(prefix)}reflection/[^/]+/per_1k$")
    vals = [v for k, v in row.items() if pat.match(k) and finite(v)]
    return float(sum(vals)) if vals else math.nan


@dataclass
class StartEnd:
    start: float
    end: float
    source: str  # "eval steps 0→30" or "train steps 1–3 → 28–30"

    @property
    def ratio(self) -> float:
        return self.end / self.start if self.start else math.nan


def start_end(s: Series, key: str, train: bool = True) -> StartEnd | None:
    """`key`'s value at the first and last evaluation (eval/<key>), else the mean over the first and last
    tenth (1-5 steps) of training."""
    get = (lambda r, p: reflection_total(r, p)) if key == "reflection/per_1k" else (lambda r, p: r.get(p + key))
    ev = [(r["step"], get(r, "eval/")) for r in s.evals]
    ev = [(st, v) for st, v in ev if finite(v)]
    if len(ev) >= 2:
        return StartEnd(ev[0][1], ev[-1][1], f"eval, steps {ev[0][0]}→{ev[-1][0]}")
    if not train:
        return None
    tr = [(r["step"], get(r, "")) for r in s.metrics]
    tr = [(st, v) for st, v in tr if finite(v)]
    if len(tr) < 2:
        return None
    w = min(5, max(1, len(tr) // 10))
    a, b = tr[:w], tr[-w:]
    span = (lambda pts: f"{pts[0][0]}–{pts[-1][0]}") if w > 1 else (lambda pts: f"{pts[0][0]}")
    return StartEnd(float(np.mean([v for _, v in a])), float(np.mean([v for _, v in b])),
                    f"train, step{'s' if w > 1 else ''} {span(a)} → {span(b)}")


def pass_curve(row: dict, samples: int | None) -> list[tuple[int, float]]:
    """pass@k for k = 1..n from the eval's per-problem correct counts (unbiased estimator)."""
    counts = row.get("eval/correct_counts")
    n = row.get("eval/samples_per_problem") or samples
    if not isinstance(counts, list) or not counts or not isinstance(n, int) or n < 1 \
            or not all(isinstance(c, int) and 0 <= c <= n for c in counts):
        return []  # absent, or not counts out of n: no curve rather than a wrong one
    from rlvr.algos import pass_at_k  # imports torch (seconds): only when there is a curve to draw

    return [(k, float(np.mean([pass_at_k(n, c, k) for c in counts]))) for k in range(1, n + 1)]


def section(cfg: dict, name: str) -> dict:
    """A config.yaml section as a mapping ({} when absent or hand-edited into something else)."""
    value = cfg.get(name)
    return value if isinstance(value, dict) else {}


def eval_samples_setting(s: Series) -> int | None:
    n = section(s.configs[-1] if s.configs else {}, "eval").get("samples")
    return n if isinstance(n, int) else None


def budgets(s: Series) -> tuple[list, list]:
    """max_new_tokens at start and end: (training budgets, eval budgets) as [start, end]."""
    train = [r["max_new_tokens"] for r in s.metrics if finite(r.get("max_new_tokens"))]
    gen = [section(c, "generation").get("max_new_tokens") for c in s.configs]
    if len(train) < 2:
        train = [g for g in gen if g is not None]
    ev = [r["eval/max_new_tokens"] for r in s.evals if finite(r.get("eval/max_new_tokens"))]
    if not ev:  # older runs: config.yaml, which a resume rewrites (so a budget changed on resume is missed)
        ev = [section(c, "eval").get("max_new_tokens") or g for c, g in zip(s.configs, gen)]
        ev = [e for e in ev if e is not None]
    return (train[:1] + train[-1:], ev[:1] + ev[-1:])


def by_difficulty(s: Series) -> tuple[str, list[tuple[str, StartEnd]]]:
    """('level' | 'solve rate', [(bucket, start/end mean length)]) easiest first."""
    keys = {k for r in s.evals + s.metrics for k in r}
    levels = {k.rsplit("/", 1)[1] for k in keys if "completion_length/by_level/" in k}
    # a level orders by its one number ("3", "Level 3"); names ("beginner", "advanced") have no order the report
    # can know (alphabetical is not difficulty), so then the solve rate is the difficulty
    number = {lv: re.fullmatch(r"\D*?(-?\d+(?:\.\d+)?)\D*", lv) for lv in levels}
    levels = sorted(levels, key=lambda lv: (float(number[lv].group(1)), lv)) if all(number.values()) else []
    kind, buckets = ("level", levels) if levels else ("solve rate", list(SOLVE_RATE_ORDER))
    prefix = "completion_length/by_level/" if levels else "completion_length/by_solve_rate/"
    out = [(b, se) for b in buckets if (se := start_end(s, prefix + b)) is not None]
    return kind, out


def _spearman(y: list[float]) -> float:
    r = np.argsort(np.argsort(np.asarray(y)))
    x = np.arange(len(y))
    return float(np.corrcoef(x, r)[0, 1]) if len(y) > 1 and r.std() > 0 else 0.0


@dataclass
class Summary:
    name: str
    accuracy: StartEnd | None
    problems: int | None
    passk: dict[int, tuple[float, float]]  # k -> (start, end)
    len_correct: StartEnd | None
    clip: StartEnd | None
    clip_correct: StartEnd | None  # the clip ratio among correct completions
    train_budget: list
    eval_budget: list
    reflection: StartEnd | None
    difficulty_kind: str
    difficulty: list[tuple[str, StartEnd]]
    flags: list[dict] | None
    criteria: list[tuple[str, bool | None, str]] = field(default_factory=list)  # (name, met?, why)

    @property
    def verdict(self) -> str:
        failed = [f"{n} ({why})" for n, ok, why in self.criteria if ok is False]
        unknown = [f"{n} ({why})" for n, ok, why in self.criteria if ok is None]
        if not failed and not unknown:
            return ("The R1-Zero signature appeared: " + "; ".join(f"{n} ({why})" for n, _, why in self.criteria)
                    + ".")
        if failed:
            met = [f"{n} ({why})" for n, ok, why in self.criteria if ok is True]
            return ("The R1-Zero signature did NOT appear. Not met: " + "; ".join(failed)
                    + (". Met: " + "; ".join(met) if met else "")
                    + (". Could not be checked: " + "; ".join(unknown) if unknown else "") + ".")
        return "The R1-Zero signature is NOT shown: it could not be checked: " + "; ".join(unknown) + "."


def summarize(s: Series) -> Summary:
    acc = start_end(s, "accuracy")
    n_samples = eval_samples_setting(s)
    curves = [pass_curve(r, n_samples) for r in s.evals]
    curves = [c for c in curves if c]
    if len(curves) >= 2:
        first, last = dict(curves[0]), dict(curves[-1])
        ks = sorted({1, max(first)} & set(last))
        passk = {k: (first[k], last[k]) for k in ks}
    else:
        pk = sorted({int(m.group(1)) for r in s.evals for k in r if (m := re.fullmatch(r"eval/pass@(\d+)", k))})
        passk = {k: (se.start, se.end) for k in pk if (se := start_end(s, f"pass@{k}", train=False))}
    problems = next((r["eval/problems"] for r in reversed(s.evals) if finite(r.get("eval/problems"))), None)
    clip = start_end(s, "truncated_fraction")
    length = start_end(s, "completion_length/correct_mean")
    train_b, eval_b = budgets(s)
    kind, diff = by_difficulty(s)
    sm = Summary(s.name, acc, problems, passk, length, clip, start_end(s, "truncated_fraction/correct"), train_b, eval_b,
                 start_end(s, "reflection/per_1k"), kind, diff, s.flags)
    sm.criteria = _criteria(sm)
    return sm


def _criteria(sm: Summary) -> list[tuple[str, bool | None, str]]:
    out = []
    a = sm.accuracy
    if a is not None and not a.source.startswith("eval"):  # training accuracy is no held-out evidence
        out.append(("held-out accuracy up", None, f"no held-out evaluation; training accuracy {a.start:.3f} → {a.end:.3f}"))
    else:
        out.append(("held-out accuracy up", None if a is None else a.end > a.start,
                    "accuracy not logged" if a is None else f"{a.start:.3f} → {a.end:.3f}"))
    ln = sm.len_correct
    if ln is None or not finite(ln.ratio):
        out.append((f"correct-completion length ≥{LENGTH_RATIO}×", None,
                    "completion_length/correct_mean not logged"))
    else:
        out.append((f"correct-completion length ≥{LENGTH_RATIO}×", ln.ratio >= LENGTH_RATIO,
                    f"{ln.start:.1f} → {ln.end:.1f} tokens, {ln.ratio:.2f}×"))
    why, ok = [], True
    for what, b in (("training", sm.train_budget), ("eval", sm.eval_budget)):
        if len(b) == 2 and b[0] != b[1]:
            ok = False
            why.append(f"{what} max_new_tokens changed {b[0]} → {b[1]}")
    for f in sm.flags or []:  # a flagged length rise that changepoints ties to the budget or to clipping
        tied = [c for c in f["confounds"] if "max_new_tokens" in c or "clip ratio" in c]
        if f["metric"].startswith("completion_length") and finite(f["after"]) and finite(f["before"]) \
                and f["after"] > f["before"] and tied:
            ok = False
            why.append(f"length jump at step {f['step']} comes with: {'; '.join(tied)}")
    if sm.clip is None:
        ok = None if ok else ok
        why.append("clip ratio not logged")
    else:
        rise = sm.clip.end - sm.clip.start
        if rise >= CLIP_RISE:
            ok = False
        why.append(f"clip ratio {sm.clip.start:.2f} → {sm.clip.end:.2f}")
    if sm.clip_correct is not None:  # right answers that grew because they were cut at the budget
        if sm.clip_correct.end - sm.clip_correct.start >= CLIP_RISE:
            ok = False
        why.append(f"clip ratio of correct completions {sm.clip_correct.start:.2f} → {sm.clip_correct.end:.2f}")
    if not sm.train_budget and not sm.eval_budget:
        ok = None if ok else ok
        why.append("budget unknown")
    out.append(("not from truncation or a budget change", ok, "; ".join(why)))
    d = [(b, se.end) for b, se in sm.difficulty if finite(se.end) and b != "unsolved"]
    if len(d) < 2:
        out.append(("length grows with difficulty", None, "length by difficulty not logged" if not sm.difficulty else
                    f"fewer than two {sm.difficulty_kind} buckets with a length at the end"))
    else:
        rho = _spearman([v for _, v in d])
        out.append(("length grows with difficulty", rho > 0 and d[-1][1] > d[0][1],
                    f"at the end, by {sm.difficulty_kind}: " + ", ".join(f"{b} {v:.1f}" for b, v in d)
                    + f"; Spearman {rho:+.2f}"))
    return out
