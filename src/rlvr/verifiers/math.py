"""Math verifier: extract the final answer, compare it with the gold answer, return reward and details.

Threat model: the completion is written by a policy that is optimised against this reward, so every way of
scoring 1 without the right answer will be found. What it can do here is choose text. Defences:
  - one answer only: several different boxed answers, "3 or 4", a list where a scalar is expected, an empty
    box, or a free symbol where a number is expected all score 0 (hedging is never rewarded);
  - exact arithmetic: numbers compare as exact rationals, so 1/2004! and 1/2006! never collapse; a float
    tolerance applies only where one side is a written decimal approximation of an irrational value;
  - letters are not units: `2x`, `2i`, `3n`, `10m` are not 2, 2, 3, 10; a unit word counts only when written
    apart from the number (`10 m`, `5\\,\\text{cm}`; see answers.UNITS);
  - no hang: symbolic comparison runs in worker processes that are killed at a hard wall-clock limit, so
    `9^{9^{9^9}}` times out to 0 instead of stalling RL.
Stages: extract (rlvr's own, hedge-aware) -> quick_compare in-process (strings, exact rationals, choices, sets,
tuples, matrices: most answers end here, ~50,000/s) -> math-verify's parser and comparison (relations, intervals,
LaTeX shorthand, symbolic expressions) in the workers. math-verify compares constants with a 15-digit `chop`
(`\\sqrt{2}+10^{-100}` "equals" `\\sqrt{2}`) and falls back to sympy's slow `simplify` after a numeric verdict
of "different"; its two numeric hooks are replaced in the workers by `constant_equal` (exact, and fast on
nested radicals). Its unit stripping reads `10m` as 10, so the prediction is parsed without it.
Not covered: answers that are equal only under context the checker cannot see (units implied by the
question, "the answer is the second option" without a letter).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from fractions import Fraction

from rlvr.answers import (UNITS, bare_formula, braced_content, check_completion, completion_text, last_tag,
                                      math_spans, normalize, to_number, unmarked_answer)

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_AND = re.compile(r"\s(?:and)\s|\\text\{\s*and\s*\}", re.IGNORECASE)  # "3 and 4" lists solutions too
_OR = re.compile(r"\s(?:or|and/or)\s|\\(?:lor|vee|text\{\s*or\s*\})", re.IGNORECASE)


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
    marked = re.search(r"####|answer\s*(?:is|:)", text, re.I)
    found = bare_formula(text) if fallback_last_number and not marked else None
    found = found if found is not None else unmarked_answer(text, fallback_last_number=fallback_last_number)
    return (found, "") if found is not None else (None, "no answer found")


def extract_gold(answer: str) -> str:
    """The gold answer as text: its last box, `#### N`, or last math span ("The final answer is $14{,}916$.")."""
    boxes = [b for b in all_boxed(answer) if b]
    if len(boxes) > 1 and not re.sub(r"\\boxed\s*\{[^{}]*\}|[\s$.]", "", answer):
        return ", ".join(boxes)  # "$\\boxed{1}\\boxed{2}$": one answer given as two boxes
    if boxes:
        return boxes[-1]
    found = unmarked_answer(answer, fallback_last_number=False)
    if found is not None:
        return found
    spans = math_spans(answer)
    return spans[-1] if spans else answer.strip()


_UNIT_TEXT = re.compile(r"(?<=\S)\s*(?:\\,|\\;|\\ |~)?\s*\\(?:text|mbox|textnormal|textrm|mathrm)\s*"
                        r"\{[\s~]*([A-Za-z][A-Za-z .]*)\}(?:\s*\^\s*\{?[23]\}?)?\s*$")
_BARE_UNIT = re.compile(r"(.*?\S)\s+([A-Za-z]+)(?:\s*\^\s*\{?[23]\}?)?", flags=re.DOTALL)
# Text left in an answer after its unit: words that a parser would drop or misread (`3 \\text{ (not } 4)`).
_WORDS = re.compile(r"\\(?:text\w*|mbox|mathrm|mathit|mathbf)\s*\{([^{}]*[A-Za-z][^{}]*)\}")


def _is_unit(words: str) -> bool:
    # A unit in \\text{…} is words of two letters or more, or one of UNITS: `\\text{ m}` yes, `\\text{i}` no.
    return all(len(w) > 1 or w in UNITS for w in words.replace(".", " ").split())


def split_unit(s: str) -> tuple[str, str]:
    """(value, unit): `15\\mbox{ cm}^2` -> (`15`, `cm`), `10 m` -> (`10`, `m`); `10m`, `2x`, `2\\text{i}` keep
    their letters (a glued letter, or a single letter that is not a unit, is a variable)."""
    s = s.strip()
    m = _UNIT_TEXT.search(s)
    if m and _is_unit(m.group(1)):
        return s[: m.start()].strip(), m.group(1).strip()
    m = _BARE_UNIT.fullmatch(s)
    if m and m.group(2) in UNITS and not m.group(1).endswith("\\"):
        return m.group(1), m.group(2)
    return s, ""


def drop_unit(s: str) -> str:
    return split_unit(s)[0]


def different_units(pred: str, gold: str) -> bool:
    """Both name a unit and not the same one (`5 m` for `5 cm`); converting between units is not attempted."""
    pu, gu = (split_unit(x)[1].lower().removesuffix("s") for x in (pred, gold))
    return bool(pu and gu and pu != gu)


# Macros that change what is shown or defined rather than state a value: `\\color{white}{6} 5` renders as 5.
_MACROS = re.compile(r"\\(?:def|gdef|edef|let|newcommand|renewcommand|providecommand|DeclareMathOperator|color"
                     r"|textcolor|colorbox|phantom|hphantom|vphantom|mathchoice|catcode|begingroup|csname)(?![A-Za-z])")
# Non-ASCII that answers legitimately use (after NFKC, which already maps fullwidth digits to ASCII).
_SYMBOLS = set("°π√×÷−–≤≥≠∞·∈∪∩±∓…′″")


def suspicious(pred: str, gold: str) -> str:
    """Why an extracted answer is refused before any comparison ("" if it is not): a macro that defines or
    hides text, or a character outside ASCII that the gold does not use (Cyrillic `х` for x, zero-width
    space, private-use): parsers drop or misread those, so `2х` once read as 2."""
    if _MACROS.search(pred):
        return "macro that defines or hides text"
    for ch in set(unicodedata.normalize("NFKC", pred)):
        if ord(ch) > 127 and ch not in _SYMBOLS and ch not in gold:
            return f"character {ascii(ch)} outside the answer alphabet"
    return ""


def canonical(s: str) -> str:
    s = normalize(s)
    s = re.sub(r"\\[dt]frac", r"\\frac", s)
    s = s.replace("\\{", "{").replace("\\}", "}")
    s = re.sub(r"(?<=\d)\s+(?=\d)", "_", s)  # "2 1/2" is not "21/2"
    return s.replace(" ", "")


_VAR = r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*"
# What may stand left of `=` in a stated answer: x, a_1, (p,q), f(x), D. `5 = x` or `2x+1 = 3` are equations.
_LABEL = re.compile(rf"{_VAR}|\s*\(\s*{_VAR}(?:,{_VAR})+\)\s*|\s*[A-Za-z]\s*\(\s*[A-Za-z0-9]\s*\)\s*")


def strip_equation(s: str) -> str:
    """`x = 5`, `(p,q) = (3,2)`, `f(x) = 1`, `x \\in [0,1)` -> the value; other equations are kept whole."""
    parts = s.split("=")
    if len(parts) == 2 and _LABEL.fullmatch(parts[0]):
        return parts[1].strip()
    m = re.fullmatch(rf"{_VAR}\\in\s*(.+)", s, flags=re.DOTALL)
    return m.group(1).strip() if m else s


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


def _wraps(c: str) -> bool:
    """The first bracket closes at the last character: `(1,2)` yes, `(2,12)\\cup(12,102)` no."""
    depth = 0
    for i, ch in enumerate(c):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and i < len(c) - 1:
            return False
    return True


def structure(s: str) -> tuple[str, str, str, list[str]] | None:
    """(kind, open, close, items) for sets, tuples/intervals and matrices; None for a scalar."""
    c = canonical(strip_equation(s))
    m = re.fullmatch(r"\\begin\{[pbv]?matrix\}(.*)\\end\{[pbv]?matrix\}", c)
    if m:
        rows = [r for r in m.group(1).split("\\\\") if r]
        return "matrix", "[", "]", [",".join(r.split("&")) for r in rows]
    if len(c) >= 2 and c[0] == "{" and c[-1] == "}" and _wraps(c):
        return "set", "{", "}", split_top(c[1:-1])
    if len(c) >= 2 and c[0] in "([" and c[-1] in ")]" and _wraps(c):
        items = split_top(c[1:-1])
        if len(items) > 1:
            return "tuple", c[0], c[-1], items
    items = split_top(c)
    if len(items) > 1 and not re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", c):
        return "list", "", "", items
    return None


_PERCENT = re.compile(r"%|\b(?:percent|pct)\b")


def _terminates(q: Fraction) -> bool:
    """q has a finite decimal expansion (denominator 2^a 5^b): then a decimal must match it exactly."""
    d = q.denominator
    for p in (2, 5):
        while d % p == 0:
            d //= p
    return d == 1


def exact(s: str) -> Fraction | None:
    return to_number(strip_equation(s))


def quick_compare(pred: str, gold: str, top: bool = True) -> tuple[bool | None, str]:
    """Decide without sympy where possible: (verdict or None if undecided, method). A bare list is unordered
    at the top (solutions `-2, 1`), ordered inside a matrix row or tuple."""
    g_choice, p_choice = _CHOICE.fullmatch(canonical(gold).replace("\\text", "").strip("{}")), _CHOICE.fullmatch(
        canonical(pred).replace("\\text", "").replace("{", "").replace("}", ""))
    if g_choice:
        return (p_choice is not None and p_choice.group(1).upper() == g_choice.group(1).upper()), "choice"
    if canonical(strip_equation(pred)) == canonical(strip_equation(gold)):
        return True, "string"
    gs, ps = structure(gold), structure(pred)
    if gs is None and ps is not None and exact(gold) is not None:
        return False, "list where a scalar is expected"
    if gs is not None:
        if ps is None:  # a number is not a structure; a formula may still evaluate to one (a matrix sum)
            return (False if exact(pred) is not None else None), gs[0]
        if ps[0] != gs[0] and {ps[0], gs[0]} not in ({"tuple", "list"}, {"set", "list"}):
            return False, gs[0]
        bare_pair = ps[0] == "list" and gs[1:3] == ("(", ")")  # `x = 1, y = 2` for the point (1, 2)
        if len(ps[3]) != len(gs[3]) or (gs[0] == "tuple" and not bare_pair and (ps[1], ps[2]) != (gs[1], gs[2])):
            return False, gs[0]
        if gs[0] == "set" or (top and gs[0] == ps[0] == "list"):  # a bare list of solutions is unordered
            verdicts = [any(quick_compare(p, g, False)[0] for p in ps[3]) for g in gs[3]]
            return (all(verdicts), "set") if all(v is not None for v in verdicts) else (None, "set")
        verdicts = [quick_compare(p, g, False)[0] for p, g in zip(ps[3], gs[3])]
        if all(v is True for v in verdicts):
            return True, gs[0]
        if any(v is False for v in verdicts):
            return False, gs[0]
        return None, gs[0]
    if exact(pred) is None and re.fullmatch(r"\s*-?\d+\s+\d+\s*/\s*\d+\s*", normalize(pred)):
        return False, "malformed mixed number"  # 11 7/6: neither a mixed number nor anything else
    pn, gn = exact(pred), exact(gold)
    if pn is not None and gn is not None:
        if pn != gn and "." in pred and not _terminates(gn):  # 0.0833333 for 1/12: a written approximation
            return abs(pn - gn) <= Fraction(1, 10**6) * max(1, abs(gn)), "numeric"
        if pn != gn and (_PERCENT.search(pred) and pn / 100 == gn or _PERCENT.search(gold) and gn / 100 == pn):
            return True, "numeric"  # 28% is 28 (the usual gold) and also 0.28, on either side
        return pn == gn, "numeric"
    return None, "symbolic"


# ---------------------------------------------------------------- symbolic stage (runs in worker processes)


MAX_SYMBOLIC_CHARS = 2000  # longer answers are refused instead of parsed (a worker's time is the RL step's)
_REL_TOL = 1e-6  # set per job: how close a written decimal must be to an exact value


def _preload() -> None:
    """Imports and parser tables only, for the parent before it forks the workers: it does not install the
    grader hooks, so other math-verify users in the parent (the benchmark's baseline) see the library as is."""
    import logging

    from math_verify import parse  # noqa: F401 (sympy and latex2sympy come with it)

    logging.getLogger("math_verify").setLevel(logging.ERROR)  # it warns once that its own timeout is off
    _parse("2x+2", trusted=True)


def _warm_up_symbolic() -> None:
    # Imports plus one real comparison: the first comparison in a fresh process pays ~0.2 s of lazy set-up
    # (parser tables, sympy caches), which must not count against the first job's timeout.
    symbolic_equal(("2x+2", "2(x+1)", 1e-9))


def _small_literals(e) -> bool:
    """No literal that could hide a tiny term below evalf's 100-digit reach: rationals under 10^12, integer
    powers under 64, no factorial, a modest expression. Then "zero to 100 digits" is taken as zero."""
    import sympy

    if e.has(sympy.factorial) or sympy.count_ops(e) > 80:
        return False
    if any(abs(r.p) > 10**12 or r.q > 10**12 for r in e.atoms(sympy.Rational)):
        return False
    return all(not (pw.exp.is_Integer and abs(pw.exp) > 64) for pw in e.atoms(sympy.Pow))


def constant_equal(a, b) -> bool | None:
    """a == b when a - b is a constant; None when it is not (or is no expression), for math-verify to decide.

    Exact unless a side holds a written decimal (then within _REL_TOL, relative). sympy's evalf raises its
    working precision until it has 30 correct digits of a - b, so `\\sqrt{2}+10^{-100}` against `\\sqrt{2}`
    is 1e-100, not 0; a difference it cannot tell from 0 within 100 digits is 0 when the literals are small,
    else it must simplify to 0 (bounded by the worker's hard timeout)."""
    import sympy
    from sympy.core.evalf import PrecisionExhausted

    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return None
    try:
        diff = a - b
        if not isinstance(diff, sympy.Expr) or diff.free_symbols:
            return None
        if diff.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            return bool(a == b)
        if a.has(sympy.Float) or b.has(sympy.Float):
            scale = max(1.0, abs(complex(b.evalf(30))))
            return abs(complex(diff.evalf(30))) <= _REL_TOL * scale
        try:
            return bool(diff.evalf(30, strict=True) == 0)
        except PrecisionExhausted:
            if _small_literals(a) and _small_literals(b):
                return True
            return bool(sympy.simplify(diff) == 0)
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return None


def _install_constant_equal() -> None:
    """Route math-verify's numeric and symbolic checks through constant_equal, and its relation check through
    proportional_relations, first (in the worker processes only)."""
    import sympy
    from math_verify import grader

    if getattr(grader, "_rlvr_constant_equal", False):
        return
    numeric, symbolic = grader.sympy_numeric_eq, grader.sympy_symbolic_eq

    def numeric_eq(a, b, float_rounding, numeric_precision):
        if grader.is_atomic_or_pct_atomic(a, sympy.Number) or grader.is_atomic_or_pct_atomic(b, sympy.Number):
            return numeric(a, b, float_rounding, numeric_precision)  # plain numbers and percentages: its rules
        verdict = constant_equal(a, b)
        return numeric(a, b, float_rounding, numeric_precision) if verdict is None else verdict

    def symbolic_eq(a, b):
        verdict = constant_equal(a, b)
        return symbolic(a, b) if verdict is None else verdict

    relational = grader.sympy_compare_relational

    def compare_relational(gold, pred, float_rounding, numeric_precision):
        verdict = proportional_relations(gold, pred)
        return relational(gold, pred, float_rounding, numeric_precision) if verdict is None else verdict

    grader.sympy_numeric_eq, grader.sympy_symbolic_eq = numeric_eq, symbolic_eq
    grader.sympy_compare_relational, grader._rlvr_constant_equal = compare_relational, True


def proportional_relations(gold, pred) -> bool | None:
    """True when pred is gold times a constant (x^2/16 + y^2/12 = 1/4 against x^2/4 + y^2/3 = 1): a nonzero one
    for equations, a positive one for the same inequality, a negative one for the flipped one. math-verify
    otherwise solves both for every symbol, which takes seconds. None: not shown, its own checks decide."""
    import sympy
    from math_verify import grader

    if not (isinstance(gold, sympy.core.relational.Relational) and isinstance(pred, sympy.core.relational.Relational)):
        return None
    try:
        ratio = sympy.cancel((gold.lhs - gold.rhs) / (pred.lhs - pred.rhs))
    except (TypeError, ValueError, ArithmeticError, sympy.PolynomialError):
        return None
    if ratio.free_symbols or not ratio.is_number or ratio.is_zero or ratio.is_real is not True:
        return None
    if isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq):
        return True
    if type(gold) is type(pred) and ratio.is_positive:
        return True
    if grader.INVERSE_RELATIONS.get(type(gold)) is type(pred) and ratio.is_negative:
        return True
    return None


def _parse(s: str, *, trusted: bool) -> list:
    """math-verify's parse of one answer. Its unit stripping is kept for the gold (trusted) and off for the
    prediction, whose units drop_unit has already removed: that stripping also eats glued letters (`10m` -> 10)."""
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    norm = NormalizationConfig(basic_latex=True, units=trusted, malformed_operators=True, nits=True, boxed="all",
                               equations=False)
    targets = [LatexExtractionConfig(boxed_match_priority=0, normalization_config=norm), ExprExtractionConfig()]
    return parse(f"${s}$", targets, parsing_timeout=None)


def symbolic_equal(job: tuple[str, str, float]) -> bool:
    """math-verify's verdict on (pred, gold), with its timeouts off: the worker pool enforces the hard limit."""
    global _REL_TOL
    pred, gold, _REL_TOL = job
    from math_verify import verify

    _install_constant_equal()
    g, p = _parse(gold, trusted=True), _parse(drop_unit(pred), trusted=False)
    if not g or not p:
        raise ValueError(f"could not parse the {'gold answer' if not g else 'answer'}")
    # allow_set_relation_comp: `x < 3` answers the gold `(-\\infty, 3)` (the other way round works by default)
    return bool(verify(g, p, float_rounding=6, timeout_seconds=None, allow_set_relation_comp=True))


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
        self.fallback_last_number, self.timeout_s = fallback_last_number, timeout_s
        self.workers, self.rel_tol = workers, rel_tol
        self._pool = None

    def _workers(self):
        if self._pool is None:
            from rlvr.verifiers.pool import WorkerPool

            # Once here, before the workers fork: they inherit the imports and parser tables, so a worker that
            # replaces a killed one is ready in milliseconds instead of ~1.5 s of imports.
            _preload()
            self._pool = WorkerPool(symbolic_equal, workers=self.workers, timeout_s=self.timeout_s,
                                    init=_warm_up_symbolic)
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
            gold = extract_gold(str(answer))
            if pred is None:
                results.append(MathResult(0.0, None, gold, "none", reason, time.perf_counter() - start))
                continue
            if pred == gold:  # the common case (`#### 18` against 18) needs nothing else
                results.append(MathResult(1.0, pred, gold, "string", "", time.perf_counter() - start))
                continue
            refused = suspicious(pred, gold)
            if refused:
                results.append(MathResult(0.0, pred, gold, "none", refused, time.perf_counter() - start))
                continue
            pred = unicodedata.normalize("NFKC", pred)  # fullwidth digits and compatibility forms
            solutions = _OR.search(gold) or (structure(gold) or ("",))[0] in ("set", "list")
            if different_units(pred, gold):
                results.append(MathResult(0.0, pred, gold, "none", "different unit", time.perf_counter() - start))
                continue
            if _OR.search(pred) and not solutions:
                results.append(MathResult(0.0, pred, gold, "none", "hedged with 'or'", time.perf_counter() - start))
                continue
            if solutions:  # the gold lists solutions ("3 or 4", {2, 18}): "x=2 or x=18" is that list, unordered
                verdict, method = quick_compare(_AND.sub(", ", _OR.sub(", ", pred)), _AND.sub(", ", _OR.sub(", ", gold)))
            else:
                verdict, method = quick_compare(pred, gold)
            r = MathResult(float(bool(verdict)), pred, gold, method, "" if verdict else "not equal",
                           time.perf_counter() - start)
            words = [w for w in _WORDS.findall(drop_unit(pred)) if w.strip() not in gold]
            if verdict is None and words:  # parsers drop or misread prose: `3 \\text{ (not } 4)` once read as 4
                r.reason, verdict = f"words in the answer: {words[0].strip()!r}", False
            if verdict is None and len(pred) > MAX_SYMBOLIC_CHARS:  # no real answer is that long; spare the workers
                r.reason, verdict = f"answer over {MAX_SYMBOLIC_CHARS} characters", False
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
