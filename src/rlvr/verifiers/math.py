"""Math verifier: extract the final answer, compare it with the gold answer, return reward and details.

Threat model: the completion is written by a policy that is optimised against this reward, so every way of
scoring 1 without the right answer will be found. What it can do here is choose text. Defences:
  - one answer only: several different boxed answers, "3 or 4", a list where a scalar is expected, an empty
    box, or a free symbol where a number is expected all score 0 (hedging is never rewarded);
  - exact arithmetic: numbers compare as exact rationals, so 1/2004! and 1/2006! never collapse; a float
    tolerance applies only where one side is a written decimal approximation of an irrational value;
  - no hang: symbolic comparison (sympy through math-verify's LaTeX parser) runs in worker processes
    that are killed at a hard wall-clock limit, so `9^{9^{9^9}}` times out to 0 instead of stalling RL.
Not covered: answers that are equal only under context the checker cannot see (units implied by the
question, "the answer is the second option" without a letter).
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from rlvr.rewards.math_answer import braced_content, check_completion, completion_text, last_tag, normalize, to_number, unmarked_answer

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_OR = re.compile(r"\s(?:or|and/or)\s|\\(?:lor|text\{\s*or\s*\})", re.IGNORECASE)


@dataclass
class MathResult:
    reward: float
    extracted: str | None
    gold: str
    method: str  # how the verdict was reached: string, numeric, choice, set, tuple, matrix, symbolic, none
    reason: str = ""  # why the reward is 0, when it is
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def all_boxed(text: str) -> list[str]:
    """Contents of every \\boxed{…}/\\fbox{…} in order, braces balanced; an unclosed box is skipped."""
    found = (braced_content(text, m.end()) for m in _BOX.finditer(text))
    return [content.strip() for content in found if content is not None]


def extract(text: str, *, fallback_last_number: bool = True) -> tuple[str | None, str]:
    """(answer, reason). Reason is non-empty when the completion hedges or gives nothing to check."""
    boxes = all_boxed(text)
    if boxes:
        if len({canonical(b) for b in boxes}) > 1:
            return None, "several different boxed answers"
        return (boxes[-1], "") if boxes[-1] else (None, "empty box")
    tagged = last_tag(text, "answer")
    if tagged is not None:
        inner = all_boxed(tagged)
        found = inner[-1] if inner else tagged
        return (found, "") if found.strip() else (None, "empty answer")
    found = unmarked_answer(text, fallback_last_number=fallback_last_number)
    return (found, "") if found is not None else (None, "no answer found")


def canonical(s: str) -> str:
    s = normalize(s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("\\{", "{").replace("\\}", "}")
    return s.replace(" ", "")


def strip_equation(s: str) -> str:
    """`x = 5` -> `5` (a single variable on the left); other equations are kept whole."""
    parts = s.split("=")
    if len(parts) == 2 and re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*", parts[0]):
        return parts[1].strip()
    return s


def split_top(s: str) -> list[str]:
    """Split on commas that are not inside brackets or braces."""
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def structure(s: str) -> tuple[str, str, str, list[str]] | None:
    """(kind, open, close, items) for sets, tuples/intervals and matrices; None for a scalar."""
    c = canonical(strip_equation(s))
    m = re.fullmatch(r"\\begin\{[pbv]?matrix\}(.*)\\end\{[pbv]?matrix\}", c)
    if m:
        rows = [r for r in m.group(1).split("\\\\") if r]
        return "matrix", "[", "]", [",".join(r.split("&")) for r in rows]
    if len(c) >= 2 and c[0] == "{" and c[-1] == "}":
        return "set", "{", "}", split_top(c[1:-1])
    if len(c) >= 2 and c[0] in "([" and c[-1] in ")]":
        items = split_top(c[1:-1])
        if len(items) > 1:
            return "tuple", c[0], c[-1], items
    items = split_top(c)
    if len(items) > 1 and not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", c):
        return "list", "", "", items
    return None


def exact(s: str) -> Fraction | None:
    return to_number(strip_equation(s))


def quick_compare(pred: str, gold: str) -> tuple[bool | None, str]:
    """Decide without sympy where possible: (verdict or None if undecided, method)."""
    g_choice, p_choice = _CHOICE.fullmatch(canonical(gold).replace("\\text", "")), _CHOICE.fullmatch(
        canonical(pred).replace("\\text", "").replace("{", "").replace("}", ""))
    if g_choice:
        return (p_choice is not None and p_choice.group(1).upper() == g_choice.group(1).upper()), "choice"
    if canonical(strip_equation(pred)) == canonical(strip_equation(gold)):
        return True, "string"
    gs, ps = structure(gold), structure(pred)
    if gs is None and ps is not None:
        return False, "list where a scalar is expected"
    if gs is not None:
        if ps is None or ps[0] != gs[0] and {ps[0], gs[0]} != {"tuple", "list"}:
            return False, gs[0]
        if len(ps[3]) != len(gs[3]) or (gs[0] == "tuple" and (ps[1], ps[2]) != (gs[1], gs[2])):
            return False, gs[0]
        if gs[0] == "set":
            verdicts = [any(quick_compare(p, g)[0] for p in ps[3]) for g in gs[3]]
            return (all(verdicts), "set") if all(v is not None for v in verdicts) else (None, "set")
        verdicts = [quick_compare(p, g)[0] for p, g in zip(ps[3], gs[3])]
        if all(v is True for v in verdicts):
            return True, gs[0]
        if any(v is False for v in verdicts):
            return False, gs[0]
        return None, gs[0]
    pn, gn = exact(pred), exact(gold)
    if pn is not None and gn is not None:
        return pn == gn, "numeric"
    return None, "symbolic"


# ---------------------------------------------------------------- symbolic stage (runs in worker processes)


def _warm_up_symbolic() -> None:
    # Imports plus one real comparison: the first comparison in a fresh process pays ~0.2 s of lazy set-up
    # (parser tables, sympy caches), which must not count against the first job's timeout.
    symbolic_equal(("2x+2", "2(x+1)", 1e-9))


def symbolic_equal(job: tuple[str, str, float]) -> bool:
    pred, gold, rel_tol = job
    import sympy
    from latex2sympy2_extended import latex2sympy

    def parse(s: str):
        s = strip_equation(normalize(s))
        return latex2sympy(s)

    p, g = parse(pred), parse(gold)
    diff = sympy.simplify(p - g)
    if diff == 0:  # equal as expressions (sin^2 x + cos^2 x against 1 included)
        return True
    if diff.free_symbols and not getattr(g, "free_symbols", None):
        return False  # a free symbol where a number is expected
    if not diff.free_symbols:
        pv, gv = complex(sympy.N(p, 30)), complex(sympy.N(g, 30))
        written_decimal = re.search(r"\d\.\d", pred) is not None
        return written_decimal and abs(pv - gv) <= rel_tol * max(1.0, abs(gv))
    return False


def check_case(completion, answer) -> None:
    """ValueError naming what is wrong with one (completion, gold answer) pair."""
    check_completion(completion)
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        raise ValueError(f"answer: expected text or a number, got {type(answer).__name__}")


class MathVerifier:
    """Usable as an rlvr/TRL reward (`fn(prompts, completions, answer, **_)`) and directly (`verify`)."""

    __name__ = "math_verifier"

    def __init__(self, *, fallback_last_number: bool = True, timeout_s: float = 2.0, workers: int | None = None,
                 rel_tol: float = 1e-6):
        self.fallback_last_number, self.timeout_s, self.workers, self.rel_tol = fallback_last_number, timeout_s, workers, rel_tol
        self._pool = None

    def _workers(self):
        if self._pool is None:
            from rlvr.verifiers.pool import WorkerPool

            self._pool = WorkerPool(symbolic_equal, workers=self.workers, timeout_s=self.timeout_s, init=_warm_up_symbolic)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def verify(self, completion, answer: str) -> MathResult:
        return self.verify_batch([(completion, answer)])[0]

    def verify_batch(self, pairs) -> list[MathResult]:
        results: list[MathResult] = []
        symbolic: list[int] = []
        for completion, answer in pairs:
            check_case(completion, answer)
            start = time.perf_counter()
            text = completion_text(completion) or ""
            pred, reason = extract(text, fallback_last_number=self.fallback_last_number)
            gold, _ = extract(str(answer), fallback_last_number=False)
            gold = gold if gold is not None else str(answer)
            if pred is None:
                results.append(MathResult(0.0, None, gold, "none", reason, time.perf_counter() - start))
                continue
            if _OR.search(pred) and not _OR.search(gold):
                results.append(MathResult(0.0, pred, gold, "none", "hedged with 'or'", time.perf_counter() - start))
                continue
            verdict, method = quick_compare(pred, gold)
            r = MathResult(float(bool(verdict)), pred, gold, method, "" if verdict else "not equal",
                           time.perf_counter() - start)
            if verdict is None:
                symbolic.append(len(results))
            results.append(r)
        if symbolic:
            outcomes = self._workers().map([(results[i].extracted, results[i].gold, self.rel_tol) for i in symbolic])
            for i, out in zip(symbolic, outcomes):
                r = results[i]
                r.seconds += out.seconds
                if out.ok and out.error is None:
                    r.reward, r.reason = float(bool(out.value)), "" if out.value else "not equal"
                else:
                    r.reward, r.reason = 0.0, "timeout" if out.error == "timeout" else f"could not compare: {out.error}"
        return results

    def __call__(self, prompts, completions, answer, **_) -> list[float]:
        return [r.reward for r in self.verify_batch(list(zip(completions, answer)))]
