"""Change points in per-step training curves (the "aha step"), and what else changed at the same step.

`detect(values)` finds where a series' level changes, in two steps, each decided by permutation tests
(no normality assumed: the threshold comes from the series' own values, shuffled).

1. **Circular binary segmentation** (Olshen et al. 2004) on mean shifts. A segment's statistic is the largest
   share of its sum of squares that giving one part [i, j) its own mean removes (a split is the part
   reaching an end), over parts and rest at least `min_segment` long; p = (1 + #{shuffled series scoring
   >= it}) / (1 + B). If p is below the level the segment is cut at i and j and the pieces are tested
   again. Each round's tests use alpha / (segments tested in the round), so in pure noise the chance of any
   change is at most alpha; reported p-values are Bonferroni-adjusted (<= alpha).
2. **Jumps beyond a trend** (`trend=True`, the default). Step 1 cuts a steady climb into steps, so its cuts
   (proposed at 5 * alpha) are only candidates. Each is tested between its neighbouring candidates: the
   largest mean shift there, scored as the share of the residual sum of squares around a straight line that
   a jump adds, against the line's fit plus shuffled residuals, each shuffled series choosing its own split
   the same way (Freedman-Lane; the choice is paid for). The least significant failing candidate is dropped,
   so its neighbours' windows widen, until every one left passes alpha / (candidates). A straight climb
   gives nothing; a jump on top of it, a staircase, a bump, or a rise within a few steps is a change. A bend
   (a fast rise, then a plateau) is a change where it bends. `trend=False` skips this step.

The permutation count grows so the p-value can reach the level (B >= 4 / level - 1), batches start small
and stop once p is surely above the level, and each segment's RNG is seeded from (seed, segment): results
are deterministic. Limits: the noise must be exchangeable within a segment; autocorrelated noise (a random
walk) looks like changes. Changes closer than `min_segment` steps are merged.

`aha(run_dir)` runs `detect` on a run's length, reflection and accuracy curves (metrics.jsonl) and lists,
for every change, the confounds within +-1 step: a change of max_new_tokens, of the learning rate not
explained by its schedule, the end of warm-up, a resume (events.jsonl), a stage boundary (pipeline runs),
and, for length, a clip ratio that moves by 0.2 or more across the change (lengths capped by the budget).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml


@dataclass(frozen=True)
class Change:
    index: int  # position in the input of the first value after the change
    before_mean: float  # mean of the segment before it (up to the previous change)
    after_mean: float  # mean of the segment after it (up to the next change)
    p_value: float


@dataclass(frozen=True)
class Flag:
    metric: str
    step: int  # the first step after the change (within `stage` for a pipeline)
    before: float
    after: float
    p_value: float
    confounds: list[str] = field(default_factory=list)
    stage: str | None = None  # the stage folder's name, for a pipeline run


# ----------------------------------------------------------------------------------------------- detection

CHUNK_ELEMENTS = 1_000_000  # numbers scored at once per batch of permutations (8 MB of float64)
MAX_PERMUTATIONS = 200_000
PROPOSE = 5  # with trend, step 1 proposes splits at 5 * alpha; step 2's tests decide


def _permutation_p(observed: float, null_scores, level: float, permutations: int, width: int) -> float:
    """(1 + #{null >= observed}) / (1 + B). null_scores(c) scores c permuted series, each `width` numbers of
    work. Enough permutations that p can fall below the level; stops early once p > level is certain (p is
    then a lower bound), so batches start small and double."""
    B = min(MAX_PERMUTATIONS, max(permutations, math.ceil(4 / level) - 1))
    observed *= 1 - 1e-9  # ties (identical permutations) count as >=
    hits = done = 0
    chunk = 32
    while done < B:
        c = min(chunk, B - done, max(1, CHUNK_ELEMENTS // width))
        hits += int((null_scores(c) >= observed).sum())
        done += c
        chunk *= 2
        if (hits + 1) / (B + 1) > level:
            return (hits + 1) / (done + 1)
    return (hits + 1) / (B + 1)


def _flat(y: np.ndarray) -> bool:
    return float(np.ptp(y)) <= 1e-12 * max(1.0, float(np.abs(y).max()))


MAX_GRID = 100  # boundaries scanned per segment: longer segments use a grid, refined afterwards


def _pairs(n: int, m: int, starts: np.ndarray, ends: np.ndarray):
    """Admissible (i, j) of a segment of n values, i from starts, j from ends: the part [i, j) against the
    rest, every piece of [0, i), [i, j), [j, n) that is not empty at least m long."""
    I, J = np.meshgrid(starts, ends, indexing="ij")
    L = J - I
    ok = (L >= m) & (n - L >= m) & ((I == 0) | (I >= m)) & ((J == n) | (n - J >= m))
    return I[ok], J[ok]


def _cbs(Y: np.ndarray, I: np.ndarray, J: np.ndarray) -> np.ndarray:
    """Circular binary segmentation scores of rows Y [b, n] for pairs (I, J) [P]: the share of the sum of
    squares around the mean that a different mean on [i, j) removes, [b, P]."""
    n = Y.shape[1]
    Yc = Y - Y.mean(1, keepdims=True)
    S = np.concatenate([np.zeros((len(Y), 1)), np.cumsum(Yc, axis=1)], axis=1)  # [b, n + 1]
    L = J - I
    return (S[:, J] - S[:, I]) ** 2 / (L * (n - L) / n) / np.maximum((Yc**2).sum(1, keepdims=True), 1e-300)


def _mean_shift_test(y: np.ndarray, m: int, level: float, permutations: int, rng):
    """The largest mean shift of a segment y [n] and its permutation p-value: (cuts, p) with cuts the one
    or two indices (into y) where the part that differs begins and ends, or None for a constant segment.
    Scanning a part [i, j) rather than one split (circular binary segmentation) finds a bump in the middle
    of a segment, which a single split would miss."""
    n = len(y)
    if _flat(y):
        return None
    grid = math.ceil(n / MAX_GRID)
    cuts = np.unique(np.r_[np.arange(0, n + 1, grid), n])  # i, j on multiples of the grid (or the ends)
    I, J = _pairs(n, m, cuts, cuts)
    if not len(I):
        return None
    s = _cbs(y[None], I, J)[0]
    best = int(s.argmax())
    i, j = int(I[best]), int(J[best])
    if grid > 1:  # refine the grid's best pair on the exact positions around it
        around = [np.arange(max(0, k - grid), min(n, k + grid) + 1) for k in (i, j)]
        fi, fj = _pairs(n, m, *around)  # includes (i, j) itself
        fs = _cbs(y[None], fi, fj)[0]
        i, j = int(fi[fs.argmax()]), int(fj[fs.argmax()])
    p = _permutation_p(float(s.max()), lambda c: _cbs(rng.permuted(np.broadcast_to(y, (c, n)), axis=1), I, J).max(1),
                       level, permutations, len(I))
    return [k for k in (i, j) if 0 < k < n], p


def _cusum(Y: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """Single-split mean-shift scores of rows Y [b, n] at splits ks: the share of the sum of squares around
    the mean that a step at k removes, [b, len(ks)]."""
    n = Y.shape[1]
    Yc = Y - Y.mean(1, keepdims=True)
    tails = np.cumsum(Yc[:, ::-1], axis=1)[:, ::-1][:, ks]  # sums after each split
    return tails**2 / ((n - ks) * ks / n) / np.maximum((Yc**2).sum(1, keepdims=True), 1e-300)


def _jump_share(t: np.ndarray, Y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For rows Y [b, n], each split at index at[b]: the share of the residual sum of squares around a straight
    line that a jump at the split removes (regressors 1, t and [after the split]). [b]
    The cross products are sums over all values or over those after the split: suffix sums, gathered per row."""
    n = len(t)

    def suffix(v):  # [..., n] -> [..., n + 1]: sums from each index to the end
        return np.concatenate([np.cumsum(v[..., ::-1], axis=-1)[..., ::-1], np.zeros(v.shape[:-1] + (1,))], axis=-1)

    Y = Y - Y.mean(1, keepdims=True)  # the intercept absorbs it; keeps the subtraction in rss() precise
    c1, ct = suffix(np.ones(n))[at], suffix(t)[at]  # [b] each: count and sum of positions after the split
    cy = np.take_along_axis(suffix(Y), at[:, None], 1)[:, 0]  # [b]: sum of values after the split
    one = np.ones_like(c1)
    G = np.stack([np.stack(row, -1) for row in (
        [n * one, t.sum() * one, c1],
        [t.sum() * one, (t * t).sum() * one, ct],
        [c1, ct, c1])], -2)  # [b, 3, 3]
    v = np.stack([Y.sum(1), (Y * t).sum(1), cy], -1)  # [b, 3]

    def rss(p):  # residual sum of squares with the first p regressors
        beta = np.linalg.solve(G[:, :p, :p] + 1e-12 * np.eye(p), v[:, :p, None])[..., 0]
        return np.maximum((Y**2).sum(1) - (beta * v[:, :p]).sum(1), 0.0)

    r0 = rss(2)
    return np.where(r0 > 0, (r0 - rss(3)) / np.maximum(r0, 1e-300), 0.0)


def _jump_test(t: np.ndarray, y: np.ndarray, m: int, level: float, permutations: int, rng):
    """Is the largest mean shift of a segment y [n] (positions t) a jump beyond a straight line through the
    segment? (k, p), or None when it cannot be tested. The permuted series are the line's fit plus its shuffled
    residuals (Freedman-Lane), and each picks its own split by the same rule (largest mean shift), so the choice
    of the split is paid for."""
    n = len(y)
    ks = np.arange(m, n - m + 1)
    if n < 5 or not len(ks) or _flat(y):
        return None
    t = (t - t.mean()) / max(1e-12, float(np.ptp(t)))  # centred and scaled: the normal equations stay well posed
    at = ks[_cusum(y[None], ks).argmax(1)]
    observed = float(_jump_share(t, y[None], at)[0])
    X = np.column_stack([np.ones(n), t])
    fit = X @ np.linalg.lstsq(X, y, rcond=None)[0]
    r = y - fit

    def null_scores(c):
        Y = fit + rng.permuted(np.broadcast_to(r, (c, n)), axis=1)
        return _jump_share(t, Y, ks[_cusum(Y, ks).argmax(1)])

    return int(at[0]), _permutation_p(observed, null_scores, level, permutations, 4 * n)


def detect(values: Sequence[float], *, alpha: float = 0.01, min_segment: int = 3, permutations: int = 999,
           seed: int = 0, trend: bool = True) -> list[Change]:
    """Change points of `values` (NaN/inf/None skipped; indices refer to `values`), sorted by index."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if min_segment < 2:
        raise ValueError(f"min_segment must be at least 2, got {min_segment}")
    if permutations < 1:
        raise ValueError(f"permutations must be at least 1, got {permutations}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    try:
        arr = np.array([math.nan if v is None else v for v in values], dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"values must be numbers (or None/NaN for missing): {e}") from None
    if arr.ndim != 1:
        raise ValueError(f"values must be one series, got shape {arr.shape}")
    pos = np.flatnonzero(np.isfinite(arr))  # positions of the values kept
    y, t = arr[pos], pos.astype(float)  # a trend runs over the original positions, gaps included

    # 1. circular binary segmentation on mean shifts; each round's tests at alpha / (segments tested in it).
    #    With trend these splits are only candidates for step 2, which decides: each is tested at PROPOSE * alpha.
    pending, splits = [(0, len(y))], {}
    while pending:
        testable = [(a, b) for a, b in pending if b - a >= 2 * min_segment]
        level, pending = min(0.5, PROPOSE * alpha) if trend else alpha / max(1, len(testable)), []
        for a, b in testable:
            rng = np.random.default_rng([seed, a, b])  # per segment: results do not depend on testing order
            result = _mean_shift_test(y[a:b], min_segment, level, min(permutations, math.ceil(4 / alpha) - 1)
                                      if trend else permutations, rng)
            if result is not None and result[1] <= level:
                cuts = [a, *(a + k for k in result[0]), b]
                splits.update({k: min(1.0, result[1] * alpha / level) for k in cuts[1:-1]})  # Bonferroni-adjusted
                pending += list(zip(cuts, cuts[1:]))
    # 2. with trend: keep a split only if, between its neighbouring splits, it is a jump beyond a straight line.
    #    Backward elimination: drop the least significant split that fails, so its neighbours' windows widen,
    #    and test again. Each test at alpha / (splits from step 1).
    if trend and splits:
        found, cand, level, tested = len(splits), sorted(splits), alpha / len(splits), {}
        while cand:
            bounds = [0, *cand, len(y)]
            windows = [(bounds[i], bounds[i + 2]) for i in range(len(cand))]
            for a, b in windows:
                if (a, b) not in tested:  # a window's test does not change while its neighbours stay
                    rng = np.random.default_rng([seed, a, b, 1])
                    tested[a, b] = _jump_test(t[a:b], y[a:b], min_segment, level, permutations, rng)
            pv = [2.0 if tested[w] is None else tested[w][1] for w in windows]
            worst = max(range(len(cand)), key=lambda i: (pv[i], i))
            if pv[worst] <= level:
                break
            del cand[worst]
        splits = {}
        for a, b in windows if cand else []:  # the jump's own position within its window (usually the split's)
            k, p = a + tested[a, b][0], min(1.0, tested[a, b][1] * found)  # Bonferroni-adjusted
            near = [j for j in splits if abs(j - k) < min_segment]
            if all(p < splits[j] for j in near):
                for j in near:
                    del splits[j]
                splits[k] = p
    bounds = [0, *sorted(splits), len(y)]
    return [Change(index=int(pos[k]), before_mean=float(y[bounds[i]:k].mean()),
                   after_mean=float(y[k:bounds[i + 2]].mean()), p_value=float(splits[k]))
            for i, k in enumerate(bounds[1:-1])]


# ------------------------------------------------------------------------------------------ reading runs

LENGTH, REFLECTION, ACCURACY = "completion_length/mean", "reflection/per_1k", "accuracy"
REFLECTION_KEY = re.compile(r"^reflection/[^/]+/per_1k$")  # one family's rate; the series sums the families
OLD_REFLECTION = "reflection_rate"  # runs before the lexicon families: share of completions with a phrase


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 inside a record is no line end
    while lines and not lines[-1].strip():  # the file ends with "\n": the empty tail is no record
        lines.pop()
    out = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if i == len(lines):  # a torn last line: the writer was killed mid-line
                break
            raise ValueError(f"{path}:{i}: not valid JSON: {e}") from None
        if not isinstance(record, dict) or not isinstance(record.get("step"), int):
            raise ValueError(f"{path}:{i}: expected an object with an integer 'step'")
        out.append(record)
    return out


def _read_config(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None
    return data if isinstance(data, dict) else {}


def _section(config: dict, name: str) -> dict:  # a config.yaml section; {} when absent or hand-edited wrong
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _int(v, default: int) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else default


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


@dataclass
class _Stage:
    name: str | None
    steps: list[int]  # dense: first..last logged step
    records: list[dict]  # one per step ({} where none was logged)
    config: dict
    events: list[dict]


def _load_stage(folder: Path, name: str | None) -> _Stage | None:
    by_step = {r["step"]: r for r in _read_jsonl(folder / "metrics.jsonl")}  # the last record of a step wins
    if not any(LENGTH in r or ACCURACY in r for r in by_step.values()):
        return None  # not a GRPO run (an SFT, reward-model or sampling stage)
    first, last = min(by_step), max(by_step)
    if last - first + 1 > 4 * len(by_step) + 100:  # the axis is dense: a stray step number would cost its span
        raise ValueError(f"{folder / 'metrics.jsonl'}: steps run from {first} to {last} but only {len(by_step)} are "
                         f"logged: not a per-step series (a garbled step number?)")
    steps = list(range(first, last + 1))
    return _Stage(name, steps, [by_step.get(s, {}) for s in steps], _read_config(folder / "config.yaml"),
                  _read_jsonl(folder / "events.jsonl"))


def _series(records: list[dict], metric: str) -> list[float]:
    if metric != REFLECTION:
        return [_num(r.get(metric)) for r in records]
    out = []
    for r in records:
        rates = [_num(v) for k, v in r.items() if REFLECTION_KEY.match(k)]
        rates = [v for v in rates if not math.isnan(v)]
        out.append(sum(rates) if rates else math.nan)
    return out


# ------------------------------------------------------------------------------------------------ confounds


def _lr_factor(step_index: int, warmup: int, schedule: str, total: int) -> float:
    """The trainer's schedule (policy.optimizer_and_schedule) after `step_index` optimizer steps."""
    if warmup and step_index < warmup:
        return (step_index + 1) / (warmup + 1)
    progress = min(1.0, (step_index - warmup) / max(1, total - warmup))
    return {"linear": 1.0 - progress, "cosine": 0.5 * (1.0 + math.cos(math.pi * progress))}.get(schedule, 1.0)


def _stage_confounds(st: _Stage, where) -> list[tuple[int, str]]:
    """(position within the stage, words) for the warm-up end, lr jumps and resumes of one stage."""
    out = []
    optim = _section(st.config, "optim")
    warmup, schedule = _int(optim.get("warmup_steps"), 0), str(optim.get("schedule") or "constant")
    total = _int(st.config.get("steps"), st.steps[-1])
    if warmup and st.steps[0] <= warmup + 1 <= st.steps[-1]:
        i = st.steps.index(warmup + 1)  # the first step at the peak learning rate
        after = "constant" if schedule == "constant" else f"{schedule} decay"
        out.append((i, f"learning-rate warm-up ends at step {warmup}{where} ({after} from step {warmup + 1})"))
    lr = [_num(r.get("lr")) for r in st.records]
    known = [i for i, v in enumerate(lr) if not math.isnan(v)]
    same = lambda u, v: abs(u - v) <= 1e-6 * max(abs(u), abs(v))  # noqa: E731
    # config.yaml is the last (re)start's (a resume rewrites it, e.g. with more steps, which stretches the decay):
    # it governs the steps logged after that start; the ones before are judged by the no-config rule
    governed = max((e["step"] for e in st.events if isinstance(e.get("step"), int) and not isinstance(e["step"], bool)
                    and e.get("event") in ("start", "resume")), default=-math.inf)
    for n, (i, j) in enumerate(zip(known, known[1:])):  # consecutive logged steps
        a, b = lr[i], lr[j]
        at = f" at step {st.steps[j]}{where}"
        if st.config and st.steps[j] > governed:  # against the schedule: its own warm-up ramp or decay is no confound
            # the lr logged at step k is the one its update used: the schedule after k - 1 optimizer steps
            ea, eb = (_lr_factor(st.steps[x] - 1, warmup, schedule, total) for x in (i, j))
            if (abs((b / eb) / (a / ea) - 1) > 1e-3) if a > 0 and ea > 0 and eb > 0 else not same(a, b):
                out.append((j, f"lr changed {a:.3g} -> {b:.3g}{at}"))
        elif n:  # no config (or before it): a constant lr that starts changing, or a changing one that settles
            a0 = lr[known[n - 1]]
            if same(a0, a) and not same(a, b):
                out.append((j, f"lr changed {a:.3g} -> {b:.3g}{at}"))
            elif not same(a0, a) and same(a, b) and not (out and out[-1][0] == i):  # not right after a jump
                out.append((j, f"lr stops changing{at} (stays {b:.3g})"))
    for e in st.events:  # events.jsonl: "step" = updates done when the process (re)started
        s = e.get("step")
        if isinstance(s, int) and (e.get("event") == "resume" or s > 0) and st.steps[0] <= s + 1 <= st.steps[-1]:
            out.append((st.steps.index(s + 1), f"resumed at step {s}{where}"))
    return out


def _flags(stages: list[_Stage], skipped: dict[int, list[str]], **detect_kw) -> list[Flag]:
    """Concatenate the stages' curves, detect changes, attach confounds within +-1 step."""
    records = [r for st in stages for r in st.records]
    where = [(st, s) for st in stages for s in st.steps]  # global position -> (stage, step)
    confounds: list[tuple[int, str]] = []
    offset = 0
    for n, st in enumerate(stages):
        at = f" of {st.name}" if st.name else ""
        confounds += [(offset + i, text) for i, text in _stage_confounds(st, at)]
        if n:
            between = f", after {', '.join(skipped[n])}" if skipped.get(n) else ""
            confounds.append((offset, f"stage boundary ({stages[n - 1].name} -> {st.name}{between})"))
            a, b = _num(stages[n - 1].records[-1].get("lr")), _num(st.records[0].get("lr"))
            if a == a and b == b and abs(b - a) > 1e-3 * max(abs(a), abs(b)):
                confounds.append((offset, f"lr changed {a:.3g} -> {b:.3g} at step {st.steps[0]}{at}"))
        offset += len(st.steps)
    budget, last = [], None  # max_new_tokens per step: the logged value, else the stage config's
    for st in stages:
        default = _section(st.config, "generation").get("max_new_tokens")
        budget += [r.get("max_new_tokens", default) for r in st.records]
    for i, v in enumerate(budget):
        if isinstance(v, (int, float)) and v == v:
            if last is not None and v != last:
                st, s = where[i]
                confounds.append((i, f"max_new_tokens {last:g} -> {v:g} at step {s}" + (f" of {st.name}" if st.name else "")))
            last = v
    clip = np.array([_num(r.get("truncated_fraction")) for r in records])

    flags = []
    metrics = [LENGTH, REFLECTION if any(REFLECTION_KEY.match(k) for r in records for k in r)
               else OLD_REFLECTION, ACCURACY]
    for metric in metrics:
        changes = detect(_series(records, metric), **detect_kw)
        bounds = [0, *(c.index for c in changes), len(records)]
        for n, c in enumerate(changes):
            # once each: a resume that crashed before its first step and was resumed again logs the same event twice
            words = list(dict.fromkeys(text for i, text in sorted(confounds, key=lambda e: e[0]) if abs(i - c.index) <= 1))
            before, after = clip[bounds[n]:c.index], clip[c.index:bounds[n + 2]]
            if metric == LENGTH and np.isfinite(before).any() and np.isfinite(after).any():
                cb, ca = np.nanmean(before), np.nanmean(after)
                if abs(ca - cb) >= 0.2:  # lengths capped by the budget on one side: truncation, not reasoning
                    why = "more" if ca > cb else "fewer"
                    words.append(f"clip ratio {cb:.2f} -> {ca:.2f} across the change ({why} completions cut at "
                                 f"max_new_tokens)")
            st, s = where[c.index]
            flags.append(Flag(metric, s, c.before_mean, c.after_mean, c.p_value, words, st.name))
    return flags


def aha(run_dir: Path, *, alpha: float = 0.01, min_segment: int = 3, permutations: int = 999,
        seed: int = 0, trend: bool = True) -> list[Flag]:
    """Change points of a train run's length, reflection and accuracy curves with their confounds; a
    pipeline folder (stage folders `<nn-name>/`, no metrics.jsonl of its own) goes to `aha_pipeline`."""
    run_dir = Path(run_dir)
    kw = dict(alpha=alpha, min_segment=min_segment, permutations=permutations, seed=seed, trend=trend)
    if not (run_dir / "metrics.jsonl").exists():
        if _stage_folders(run_dir):
            return aha_pipeline(run_dir, **kw)
        raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (not a train run folder) and no stage folders")
    stage = _load_stage(run_dir, None)
    return _flags([stage], {}, **kw) if stage else []


def _stage_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and re.match(r"^\d+-", p.name)) if root.is_dir() else []


def aha_pipeline(root: Path, **detect_kw) -> list[Flag]:
    """`aha` over a pipeline's GRPO stages, their curves joined in stage order; each join is a confound."""
    stages, skipped, between = [], {}, []
    for folder in _stage_folders(Path(root)):
        st = _load_stage(folder, folder.name)
        if st is None:
            between.append(folder.name)  # stages without these curves (SFT, sampling) still sit between
            continue
        if stages and between:
            skipped[len(stages)] = between
        stages.append(st)
        between = []
    return _flags(stages, skipped, **detect_kw) if stages else []
