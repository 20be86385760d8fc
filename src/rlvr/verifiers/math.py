"""Math verifier: extract the final answer, compare it with the gold answer, return reward and details.

Threat model: the completion is written by a policy that is optimised against this reward, so every way of
scoring 1 without the right answer will be found. What it can do here is choose text. Defences:
  - one answer only: several different boxed answers or <answer> tags, "3 or 4", text around a box inside an
    answer tag (`<answer>7 or \\boxed{5}</answer>`), words after Minerva's "I hope it is correct.", a list
    where a scalar is expected, an empty box, or a free symbol where a number is expected all score 0;
  - exact arithmetic: numbers compare as exact rationals (a decimal inside an expression is the number it
    writes: `4.9999999\\cdot1` is not 5), so 1/2004! and 1/2006! never collapse; a whole answer written as a
    decimal may stand for an irrational or non-terminating value only when it is that value rounded or
    truncated to the decimals written, to a relative 1e-6 (`approximates`); a GOLD written as a decimal stands
    for an irrational value only with >= 6 significant digits (`2.5` is 5/2 exactly, not 5/2 + sqrt2/10^8);
  - letters are not units: `2x`, `2i`, `3n`, `10m` are not 2, 2, 3, 10; a unit word counts only when written
    apart from the number (`10 m`, `5\\,\\text{cm}`; see answers.UNITS); symbols are case-sensitive (`5\\text{M}`
    is not 5 m), and "dozen" is no unit;
  - no hang: symbolic comparison runs in worker processes that are killed at a hard wall-clock limit, so
    `9^{9^{9^9}}` times out to 0 instead of stalling RL; the in-process scans are linear, and a completion over
    answers.MAX_COMPLETION_CHARS scores 0 before any of them;
  - one expression for the whole answer: the prediction is parsed as LaTeX only (never a number dug out of
    text the parser could not read) and the parse must account for every number, letter and \\pi written
    (`unread`); a prime `'` (the parser drops it: `f'(x)` read as f(x)), negation, approximation,
    divisibility, arrows, logic, `\\\\`, `&`, cases, `$`, `?` are refused unless the gold uses them, prose
    commands (\\hbox, \\emph, \\operatorname, …) unless the gold has the words; an equation
    `a = b = c` counts only when every side is equal; a trailing \\text is dropped only when it names a unit.
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

import math
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from fractions import Fraction

# all_boxed: one scan with a brace stack (4,000 unclosed boxes once took 7.9 s here, one scan each)
from rlvr.verifiers.base import Verifier
from rlvr.answers import (MAX_COMPLETION_CHARS, UNITS, all_boxed, all_tags, bare_formula, check_completion,
                          completion_text, math_spans, normalize, strip_html_comments, to_number, unmarked_answer)

_CHOICE = re.compile(r"^\(?([A-Ea-e])\)?$")
_GOLD_CHOICE = re.compile(r"^\(?([A-E])\)?$")  # a gold `e` is Euler's number, not option E
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


def box_key(box: str) -> str:
    """A box as written, for the several-boxes rule: spaces and \\dfrac/\\tfrac aside, `50` and `50\\%` differ."""
    return re.sub(r"\\[dt]frac", r"\\frac", re.sub(r"\s+|\\[,;!]", "", box))


# Minerva's closing phrase, exactly (a trailing period and spaces aside). Anchored at the end and searched, not
# `fullmatch(".+?... (\\D*)")`: that tail once accepted "…, unless it is six." and took quadratic time. Chat
# template tokens a sampler left after it (`<|im_start|>user`) are dropped with it.
_MINERVA = re.compile(r"\.\s+I hope it is correct\.?(?:\s*<\|[A-Za-z_]{1,20}\|>(?:user|assistant|system)?)*\s*\Z")
# What may stand around the box inside an answer tag: spacing, punctuation, `$`, "the (final) answer is".
_TAG_AROUND_BOX = re.compile(r"[\s$.,:;()]*(?:(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)[\s$.,:;()]*)?", re.I)


def _tag_answer(tag: str) -> tuple[str, str]:
    """(answer, reason) of one <answer> tag: its last box when the tag is that box alone (plus spacing,
    punctuation, `$`, "the answer is"), else the tag whole; `7 or \\boxed{5}` hedges, so it is refused."""
    boxes = all_boxed(tag)
    if not boxes:
        return tag, ""
    if len({box_key(b) for b in boxes}) > 1:
        return tag, "several different boxed answers"
    around = re.sub(r"\\boxed\s*\{" + re.escape(boxes[-1]) + r"\}", " ", tag)
    if not _TAG_AROUND_BOX.fullmatch(around):
        return tag, "text around the box in the answer tag"
    return boxes[-1], ""


def extract(text: str, *, fallback_last_number: bool = True) -> tuple[str | None, str]:
    """(answer, reason). Reason is non-empty when the completion hedges or gives nothing to check."""
    if len(text) > MAX_COMPLETION_CHARS:  # the same cap as answers.check_answer, before any scan
        return None, f"completion too long (over {MAX_COMPLETION_CHARS} characters)"
    text = strip_html_comments(text)  # what is not rendered is not an answer: `6. <!-- \boxed{5} -->`
    boxes = all_boxed(text)
    tags = [_tag_answer(t) for t in all_tags(text, "answer")]
    if len({box_key(a.strip("$")) for a, _ in tags}) > 1:  # `<answer>7</answer> then <answer>5</answer>`
        return None, "several different answers"
    if any(why for _, why in tags):
        return None, next(why for _, why in tags if why)
    tagged = tags[-1][0] if tags else None
    if boxes:
        if len({box_key(b) for b in boxes}) > 1:
            return None, "several different boxed answers"
        tag_answer = tagged if tagged is not None else boxes[-1]
        # `<answer>57</answer> \boxed{56}`
        if tag_answer.strip() and box_key(tag_answer.strip("$")) != box_key(boxes[-1]):
            return None, "an answer tag and a boxed answer that differ"
        return (boxes[-1], "") if boxes[-1] else (None, "empty box")
    if tagged is not None:
        return (tagged, "") if tagged.strip() else (None, "empty answer")
    marked = re.search(r"####|answer\s*(?:is|:)", text, re.I)
    found = bare_formula(text) if fallback_last_number and not marked else None
    found = found if found is not None else unmarked_answer(text, fallback_last_number=fallback_last_number)
    # Minerva's format: "The final answer is 12,000,023. I hope it is correct." The whole line comes back; the
    # answer is its first sentence when the rest names no other number (the parser no longer digs one out).
    minerva = _MINERVA.search(found or "")
    found = found[:minerva.start()].strip() if minerva else found
    if minerva:  # "Final Answer: The final answer is N": the marker's line starts with the marker again
        found = re.sub(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is|:)\s*", "", found, flags=re.IGNORECASE).strip()
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


# One run of spacing (plain or LaTeX) between the value and its \\text unit: a single starred group, so that
# a long run of spaces is scanned once (two adjacent `\s*` once made it quadratic).
_UNIT_TEXT = re.compile(r"(?<=\S)(?:\s|\\[,; ]|~)*\\(?:text|mbox|textnormal|textrm|mathrm)\s*"
                        r"\{[\s~]*([A-Za-z][A-Za-z ./]*)\}(?:\s*\^\s*\{?[23]\}?)?\s*$")
_BARE_UNIT = re.compile(r"(.*?\S)\s+([A-Za-z]+)(?:\s*\^\s*\{?[23]\}?)?", flags=re.DOTALL)


# Units that answers.UNITS lacks but that MATH/GSM8K answers write in \\text{…}.
_MORE_UNITS = frozenset("""
inch in mi yd acre acres hectare hectares radian radians rad kph kmph celsius fahrenheit kelvin calorie calories
joule joules watt watts volt volts newton newtons pascal sec. hr. min. cm. mm. km. ft. yd. kilometre kilometres
centimetre centimetres millimetre millimetres tons ton tonne tonnes sqft cc cubic square meter
""".split())


def _is_unit(words: str) -> bool:
    """A trailing \\text{…} is dropped only when every word is a known unit (answers.UNITS, a few more, plurals,
    `m/s`, `square meters`): `\\text{ cm}` yes; `\\text{ thousand}`, `\\text{ and six}`, `\\text{ at least}`,
    `\\text{i}` no (they change or hedge the value, and stay for the "words in the answer" check). Symbols are
    case-sensitive (`M` is mega, not metres; `Mg` is not mg); only words of 3+ letters match in any case
    (`Meters`, `HOURS`). "dozen" is no unit: it multiplies by 12."""
    parts = words.replace(".", " ").replace("/", " ").split()
    known = UNITS | _MORE_UNITS

    def unit(w: str) -> bool:
        if any(x in known for x in (w, w.removesuffix("s"), w.removesuffix("es"))):
            return True
        low = w.lower()
        return any(len(x) >= 3 and x in known for x in (low, low.removesuffix("s"), low.removesuffix("es")))

    return bool(parts) and all(unit(w) for w in parts)


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


_SUPERSCRIPT = {ch: str(d) for d, ch in enumerate("⁰¹²³⁴⁵⁶⁷⁸⁹")} | {"⁻": "-", "⁺": "+"}


def superscripts_to_powers(s: str) -> str:
    """`3²` -> `3^{2}`, `x⁻¹` -> `x^{-1}`: NFKC would make `3²` the number 32."""
    return re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺]+", lambda m: "^{" + "".join(_SUPERSCRIPT[c] for c in m.group()) + "}", s)


def suspicious(pred: str, gold: str) -> str:
    """Why an extracted answer is refused before any comparison ("" if it is not): a macro that defines or
    hides text, or a character outside ASCII that the gold does not use (Cyrillic `х` for x, zero-width
    space, private-use, subscript digits `101₂`): parsers drop or misread those, so `2х` once read as 2.
    Judged on the text as written (NFKC turns `₂` into 2); only fullwidth forms (`３`) pass, as their ASCII."""
    if _MACROS.search(pred):
        return "macro that defines or hides text"
    for ch in set(pred):
        wide = unicodedata.decomposition(ch).startswith("<wide>")
        if ord(ch) > 127 and ch not in _SYMBOLS and ch not in gold and not wide:
            return f"character {ascii(ch)} outside the answer alphabet"
    return ""


# Symbols that make an answer something other than one value: negation, approximation, divisibility, arrows,
# logic, set relations, alternatives (`\\`, `&`, cases), a LaTeX comment (`%` unescaped, not at the end), `?`,
# a prime mark (the parser drops `'`: `f'(x)` read as f(x), `5'` as 5; a derivative is not the function).
# The parser reads `5 \\approx 7` as 5 and `5 \\mid 7` as 7, so each is refused unless the gold uses it too.
_CONNECTIVES = re.compile(
    r"\\(?:neq?|not|n?eg|lnot|sim|simeq|approx|cong|equiv|n?mid|[vV]ert|\||to|gets|mapsto|implies|impliedby|iff"
    r"|(?:long)?(?:left|right|leftright|Left|Right|Leftright)arrow|land|wedge|bigvee|bigwedge|cup|cap|in|notin"
    r"|ni|subset|subseteq|supset|supseteq|setminus|backslash|slash|colon|cr|propto|parallel|perp|[lcvd]?dots"
    r"|begin\{(?:cases|aligned|align\*?|gathered)\})(?![A-Za-z])|\\\\|&|(?<!\\)%(?!\s*$)|\?|(?<!\\);|['′″]")
# Text left in an answer after its unit: commands that typeset prose, whose words a parser drops or misreads
# (`3 \\text{ (not } 4)` once read as 4, `\\hbox{not } 5` as 5). Every such command, not only \\text.
_WORDS = re.compile(r"\\(?:text\w*|[mhv]box|fbox|emph|operatorname\*?|math(?:rm|it|bf|sf|tt|normal)|mbox"
                    r"|textsf|textit|texttt|bf|it|rm|sf|tt)\s*\{([^{}]*[A-Za-z][^{}]*)\}")


_SAME_CONNECTIVE = {"\\ne": "\\neq", "\\not": "\\neq"}  # and `!=` in a gold


def unread_parts(pred: str, gold: str) -> str:
    """Why pred cannot be read as one value of the gold's kind ("" if it can): a connective the gold does not
    use, a `$` (the parser would split the answer into spans and keep one; a leading money sign is fine), or
    an inequality where the gold is a value. (Equations `a = b` are judged in the workers: every side must be
    equal, see `symbolic_equal`.)"""
    # & and \\ of a matrix or array are its cells
    body = re.sub(r"\\begin\{([pbBvV]?matrix|array)\}.*?\\end\{\1\}", "M", pred, flags=re.DOTALL)
    sets = _interval_like(gold)
    in_gold = {_SAME_CONNECTIVE.get(m.group(), m.group()) for m in _CONNECTIVES.finditer(gold)}
    in_gold |= {"\\neq"} if "!=" in gold else set()
    # one item at a time: `x=3 \\text{ or } x=-2` and `x = 1, y = 2` are lists of labelled values
    items = [strip_equation(i) for i in split_top(_AND.sub(", ", _OR.sub(", ", body)))]
    for m in (m for i in items for m in _CONNECTIVES.finditer(i)):  # `x \\in [0,1)` is the interval
        if _SAME_CONNECTIVE.get(m.group(), m.group()) not in in_gold and not (
                sets and m.group() in ("\\cup", "\\cap", "\\setminus")):
            return f"connective the gold does not use: {m.group()!r}"
    if re.search(r"(?<!\\)\$", re.sub(r"^\s*\$(?=\s*\d)", "", pred)):
        return "a '$' inside the answer"
    if any(_INEQUALITY.search(i) for i in items) and not _INEQUALITY.search(gold) and not sets:
        return "an inequality where a value is expected"
    return ""


_INEQUALITY = re.compile(r"<|>|\\[lg]eq?(?![A-Za-z])|\\[lg]t(?![A-Za-z])")


def _interval_like(gold: str) -> bool:
    # `x < 3` answers `(-\\infty, 3)`; a relation may answer a set, an interval or a union of them
    return bool(re.search(r"\\infty|\\cup|\\cap|\\mathbb|\\emptyset|\\varnothing", gold)) or (
        structure(gold) or ("",))[0] in ("set", "tuple")


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
    m = re.fullmatch(r"\\begin\{([pbB]?matrix)\}(.*)\\end\{\1\}", c)  # vmatrix is a determinant: a scalar
    if m:
        rows = [r for r in m.group(2).split("\\\\") if r]
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
    g_choice, p_choice = _GOLD_CHOICE.fullmatch(canonical(gold).replace("\\text", "").strip("{}")), _CHOICE.fullmatch(
        canonical(pred).replace("\\text", "").replace("{", "").replace("}", ""))
    if g_choice:
        return (p_choice is not None and p_choice.group(1).upper() == g_choice.group(1).upper()), "choice"
    if canonical(strip_equation(pred)) == canonical(strip_equation(gold)):
        return True, "string"
    if re.fullmatch(r"[A-Za-z]", canonical(pred)) and re.fullmatch(r"[A-Za-z]", canonical(gold)):
        return False, "string"  # one letter for another: `E` is not Euler's `e` (the parser lowercases names)
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
        if gs[0] == "set":
            verdicts = [any(quick_compare(p, g, False)[0] for p in ps[3]) for g in gs[3]]
            return (all(verdicts), "set") if all(v is not None for v in verdicts) else (None, "set")
        if top and gs[0] == ps[0] == "list":  # solutions `-2, 1`: unordered, but `1, 1, 2` is not `1, 2, 2`
            return _same_multiset(ps[3], gs[3]), "multiset"
        verdicts = [quick_compare(p, g, False)[0] for p, g in zip(ps[3], gs[3])]
        if all(v is True for v in verdicts):
            return True, gs[0]
        if any(v is False for v in verdicts):
            return False, gs[0]
        return None, gs[0]
    if exact(pred) is None and re.fullmatch(r"\s*-?\d+\s+\d+\s*/\s*\d+\s*", normalize(pred)):
        return False, "malformed mixed number"  # 11 7/6: neither a mixed number nor anything else
    pn, gn = exact(ungrouped(pred)), exact(gold)  # `1 000` and `1\\,000` are 1000
    if pn is not None and gn is not None:
        decimals = _written_decimals(pred)
        if pn != gn and decimals is not None and not _terminates(gn):  # 0.0833333 for 1/12: an approximation
            return approximates(pn, decimals, gn), "numeric"
        # 28% is 28 (the usual gold) and also 0.28, on either side; a percentage against a percentage (or two
        # plain numbers) compares the numbers as written: 0.5% is not 50%
        if pn != gn and bool(_PERCENT.search(pred)) != bool(_PERCENT.search(gold)):
            return (pn / 100 == gn if _PERCENT.search(pred) else gn / 100 == pn), "numeric"
        return pn == gn, "numeric"
    return None, "symbolic"


def _same_multiset(preds: list[str], golds: list[str]) -> bool | None:
    """Each gold item matched by its own pred item (equality is transitive, so a greedy match is enough)."""
    unused, undecided = list(preds), False
    for g in golds:
        verdicts = [quick_compare(p, g, False)[0] for p in unused]
        if True in verdicts:
            unused.pop(verdicts.index(True))
        elif None in verdicts:
            undecided = True
        else:
            return False
    return None if undecided else True


def ungrouped(s: str) -> str:
    """`12 345 678` and `1\\,000.5` without their digit-group spaces; anything else unchanged (`2 1/2`, `5 12`)."""
    m = re.fullmatch(r"\s*(-?\d{1,3})((?:(?:\s|\\[,;! ]|~)+\d{3})+)(\.\d+)?\s*", s)
    return m.group(1) + re.sub(r"\D", "", m.group(2)) + (m.group(3) or "") if m else s


_DECIMAL = re.compile(r"\s*-?\d*\.(\d+)\s*")


def _written_decimals(s: str) -> int | None:
    """How many decimals a plain written decimal has (`0.0833` -> 4); None for anything else."""
    m = _DECIMAL.fullmatch(normalize(s))
    return len(m.group(1)) if m else None


def approximates(written: Fraction, decimals: int, value, rel_tol: float = 1e-6) -> bool:
    """A decimal written for a value it cannot equal exactly (1/12, \\sqrt{17}): it must be that value rounded
    (half up) or truncated to the decimals written (333333.0 is not 10^6/3, 0.0833334 is not 1/12) AND carry
    enough significant digits: relative error at most rel_tol (0.33 is not 1/3). value: a Fraction, or a sympy
    number evaluated to 50+ digits."""
    value = value if isinstance(value, Fraction) else Fraction(str(value))
    if value == 0 or (written < 0) != (value < 0):
        return written == value
    scaled = abs(value) * 10**decimals
    allowed = {math.floor(scaled), math.floor(scaled + Fraction(1, 2))}  # truncated, rounded
    return abs(written) * 10**decimals in allowed and abs(written - value) <= Fraction(rel_tol) * abs(value)


def by_label(pred: str, gold: str) -> str | None:
    """For a tuple gold: pred's labelled values put in order, as a tuple (`y=1, x=2` -> `(2, 1)`); pred
    unchanged when it has no labels; None when labels cannot be ordered (a value unlabelled, a label twice,
    labels the gold does not name). The order is the gold's own labels (`(x, y) = (1, 2)`), else alphabetical
    for one-letter labels (x before y, a_1 before a_2), else as written (`(r, \\theta)`)."""
    m = re.fullmatch(r"\s*\(([^()]*)\)\s*=\s*(\(.*\))\s*", pred, flags=re.DOTALL)
    if m:
        labels, values = split_top(m.group(1)), split_top(m.group(2)[1:-1])
    else:
        items = split_top(pred)
        found = [re.fullmatch(rf"({_VAR})=(.+)", i, flags=re.DOTALL) for i in items]
        if len(items) < 2 or not any(found):
            return pred
        if not all(found):
            return None
        labels, values = [f.group(1).strip() for f in found], [f.group(2).strip() for f in found]
    if len(labels) != len(values) or len(set(labels)) != len(labels):
        return None
    g = re.fullmatch(r"\s*\(([^()]*)\)\s*=.*", gold, flags=re.DOTALL)
    if g:
        order = split_top(g.group(1))
    else:
        order = sorted(labels) if all(re.fullmatch(_VAR, lab) for lab in labels) else labels
    if sorted(order) != sorted(labels):
        return None
    return "(" + ", ".join(values[labels.index(lab)] for lab in order) + ")"


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

    Exact: a decimal inside an expression counts as the number it writes (`4.9999999\\cdot1` is not 5; only a
    whole answer written as a decimal may approximate, see `approximates`). sympy's evalf raises its
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
        if a.has(sympy.Float) or b.has(sympy.Float):  # 4.9999999 is 49999999/10^7, not 5 to 6 places
            a, b = exact_decimals(a), exact_decimals(b)
            diff = a - b
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
        # exact first, plain numbers included: its float_rounding=6 made 999999.5+0 equal 1000000
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


def exact_decimals(e):
    """e with every Float replaced by the decimal it prints as, exactly (Float('4.9999999') -> 49999999/10^7)."""
    import sympy

    return e.xreplace({f: sympy.Rational(str(f)) for f in e.atoms(sympy.Float)})


def _parse(s: str, *, trusted: bool) -> list:
    """math-verify's parse of one answer. Its unit stripping is kept for the gold (trusted) and off for the
    prediction, whose units drop_unit has already removed: that stripping also eats glued letters (`10m` -> 10).
    The prediction is read as LaTeX only: the expression extractor pulls a bare number out of text the LaTeX
    parser could not read (`\\neq 5`, `5?`, `\\hbox{not } 5` all became 5)."""
    from latex2sympy2_extended.latex2sympy2 import NormalizationConfig
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    norm = NormalizationConfig(basic_latex=True, units=trusted, malformed_operators=True, nits=True, boxed="all",
                               equations=False)
    targets = [LatexExtractionConfig(boxed_match_priority=0, normalization_config=norm)]
    return parse(f"${s}$", targets + [ExprExtractionConfig()] if trusted else targets, parsing_timeout=None)


_LITERAL = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|,)(?:\\[!,;]|\s)*(?=\d{3}(?!\d))")


def unread(text: str, expr) -> str:
    """What of text the parsed expr lost ("" if nothing): every number literal must be a number in expr (up to
    sign, or as its reciprocal: `\\sqrt[3]{2}` holds 1/3; `\\frac{6}{8}` may become 3/4 from two literals), and
    every letter left after removing command names and prose must be one of its symbols or e/i. The LaTeX
    parser keeps one side of `5 \\approx 7`, the last span of `5$ $7`: a lost literal shows it."""
    import sympy

    items = list(expr) if isinstance(expr, sympy.MatrixBase) else [expr]
    values, letters = set(), set()
    for item in items:
        for a in item.atoms(sympy.Number):
            if a.is_Rational or a.is_Float:
                v = abs(Fraction(a.p, a.q) if a.is_Rational else Fraction(str(a)))
                values |= {v, 1 / v} if v else {v}
        for sym in item.atoms(sympy.Symbol) | {f.func for f in item.atoms(sympy.core.function.AppliedUndef)}:
            name = getattr(sym, "name", str(sym))
            letters |= set(re.findall(r"[A-Za-z]", name.lower() + name.upper()))  # the parser lowercases F_n
            values |= {Fraction(d) for d in re.findall(r"\d+", name)}  # a_1
        letters |= {"e"} if item.has(sympy.E) or item.has(sympy.exp) else set()
        letters |= {"i", "j"} if item.has(sympy.I) else set()
    text = re.sub(r"\\([dt]?frac)\s*(\d)\s*(\d)", r"\\\1{\2}{\3}", text)  # \\frac94 is 9 over 4
    # the parser evaluates \\binom{5}{2} to 10: its literals are that value
    text = re.sub(r"\\[dt]?binom\s*\{\s*(\d{1,3})\s*\}\s*\{\s*(\d{1,3})\s*\}",
                  lambda m: f" {math.comb(int(m.group(1)), int(m.group(2)))} ", text)
    text = re.sub(r"\\begin\{array\}\s*\{[^{}]*\}", " ", text)  # the column spec {cc}
    text = _WORDS.sub(" ", re.sub(r"\\(?:begin|end|mathbb|operatorname)\s*\{[A-Za-z*]*\}", " ", text))
    for command, constant in (("\\pi", sympy.pi), ("\\infty", sympy.oo)):  # `2\\sqrt3 \\approx \\pi` kept 2\\sqrt3
        if re.search(re.escape(command) + r"(?![A-Za-z])", text) and not any(
                i.has(constant) or i.has(-constant) for i in items):
            return f"{command}"
    text = re.sub(r"\\[A-Za-z]+", " ", text)
    for letter in re.findall(r"[A-Za-z]", text):
        if letter not in letters:
            return f"the letter {letter!r}"
    for variant in dict.fromkeys((text, _THOUSANDS.sub("", text))):
        literals = [Fraction(x) for x in _LITERAL.findall(variant)]
        # a literal lost in a folded fraction: x over (or under) another literal y gives a number in expr
        missing = [x for x in literals if x not in values
                   and not any(y and (x / y in values or (x and y / x in values)) for y in literals)]
        if not missing:
            return ""
    return f"the number {str(missing[0])!r}"


MIN_GOLD_DIGITS = 6  # significant digits a decimal gold needs to stand for an irrational value


def _plain_decimal_verdict(pred: str, gold: str, p, g) -> bool | None:
    """A whole side written as a decimal against a constant the other side gives exactly: `approximates`
    (exact equality when that constant is rational). None when neither side is a plain decimal or the other
    side is no constant. A decimal GOLD stands for an irrational answer only when it writes at least
    MIN_GOLD_DIGITS significant digits (`4.1231056256` for `\\sqrt{17}`): `2.5` is 5/2 exactly, so
    `\\frac{5}{2}+\\frac{\\sqrt{2}}{10^8}` is not it."""
    import sympy

    for is_gold, (text, other) in enumerate(((pred, g), (gold, p))):
        decimals = _written_decimals(text)
        if decimals is None or not isinstance(other, sympy.Expr) or not other.is_number or other.has(sympy.Float):
            continue
        written = Fraction(normalize(text).strip())
        other = other.doit() if other.is_rational and not other.is_Rational else other  # 10^{-2} is 1/100
        if other.is_Rational:
            return written == Fraction(other.p, other.q)
        if is_gold and len(re.sub(r"\D", "", text).lstrip("0")) < MIN_GOLD_DIGITS:
            return False
        value = other.evalf(60)
        if not value.is_real or not value.is_finite:
            return False
        return approximates(written, decimals, value, _REL_TOL)
    return None


def _one_value(expr, gold):
    """(expr to compare, why refused): an equation or chain `[label =] a = b = c` states one value only when every
    side equals the next (math-verify kept the last side of `x = 6 = 5` and the right side of `2\\sqrt3 = \\pi`).
    Against a value gold the answer is then that value; against an equation, `label = last side`. A single
    equation against an equation gold (`y = 2x + 1`) is left to math-verify's relation comparison."""
    import sympy
    from math_verify import verify

    eqs = list(getattr(expr, "_unsorted_args", expr.args)) if isinstance(expr, sympy.And) else [expr]
    if not all(isinstance(e, sympy.Eq) for e in eqs):
        return expr, ""
    relation = isinstance(gold, (sympy.core.relational.Relational, sympy.And))
    if relation and len(eqs) == 1:
        return expr, ""
    sides = [eqs[0].lhs] + [e.rhs for e in eqs]
    label = sides[0] if isinstance(sides[0], (sympy.Symbol, sympy.core.function.AppliedUndef)) else None
    values = sides[1:] if label is not None else sides
    for a, b in zip(values, values[1:]):
        if not verify([a], [b], float_rounding=6, timeout_seconds=None):
            return expr, "an equation whose sides differ"
    if relation:
        return sympy.Eq(label if label is not None else values[0], values[-1], evaluate=False), ""
    return values[-1], ""


def symbolic_equal(job: tuple[str, str, float]) -> tuple[bool, str]:
    """math-verify's verdict on (pred, gold) and why it is False (""), with its timeouts off: the worker pool
    enforces the hard limit. The prediction must parse as ONE expression that accounts for all of its text."""
    global _REL_TOL
    pred, gold, _REL_TOL = job
    import sympy
    from math_verify import verify

    _install_constant_equal()
    pred = drop_unit(pred)
    g = _parse(gold, trusted=True)
    if not g:
        raise ValueError("could not parse the gold answer")
    expr = next((x for x in _parse(pred, trusted=False) if isinstance(x, (sympy.Basic, sympy.MatrixBase))), None)
    lost = "the answer" if expr is None else unread(pred, expr)
    if lost:
        return False, f"the parser could not read the whole answer ({lost})"
    gold_expr = next((x for x in g if isinstance(x, sympy.Basic)), None)
    expr, refused = _one_value(expr, gold_expr)
    if refused:
        return False, refused
    verdict = _plain_decimal_verdict(pred, gold, expr, gold_expr)
    if verdict is not None:
        return verdict, "" if verdict else "not equal"
    # allow_set_relation_comp: `x < 3` answers the gold `(-\\infty, 3)` (the other way round works by default)
    verdict = bool(verify(g, [expr], float_rounding=6, timeout_seconds=None, allow_set_relation_comp=True))
    return verdict, "" if verdict else "not equal"


def check_case(completion, answer) -> None:
    """ValueError naming what is wrong with one (completion, gold answer) pair."""
    check_completion(completion)
    if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
        raise ValueError(f"answer: expected text or a number, got {type(answer).__name__}")


class MathVerifier(Verifier):
    """The verifier interface (`verifiers.base`) over cases {"completion", "answer"}: a reward
    (`fn(prompts, completions, answer, **_)`), `verify(completion, answer)` and `verify_batch(cases)`."""

    __name__ = "math_verifier"
    reference = "answer"

    @classmethod
    def check_case(cls, case: dict) -> None:
        check_case(case["completion"], case["answer"])

    @classmethod
    def cli_options(cls, *, timeout_s: float | None, allow_unisolated: bool) -> dict:
        return {"timeout_s": timeout_s} if timeout_s else {}

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

    def verify_batch(self, cases: list[dict]) -> list[MathResult]:
        results: list[MathResult] = []
        symbolic: list[int] = []
        for case in cases:
            completion, answer = case["completion"], case["answer"]
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
            # first, before any regex runs over it: no real answer is that long; spare the workers
            refused = f"answer over {MAX_SYMBOLIC_CHARS} characters" if len(pred) > MAX_SYMBOLIC_CHARS else ""
            pred = superscripts_to_powers(pred)  # `3²` is 3^{2}; NFKC (below) would make it 32
            refused = refused or suspicious(pred, gold)
            if refused:
                results.append(MathResult(0.0, pred, gold, "none", refused, time.perf_counter() - start))
                continue
            pred = unicodedata.normalize("NFKC", pred)  # fullwidth digits
            solutions = _OR.search(gold) or (structure(gold) or ("",))[0] in ("set", "list")
            compared = pred
            if (structure(gold) or ("",))[0] == "tuple":  # `y = 1, x = 2` is the point (2, 1)
                compared = by_label(pred, gold)
            refused = ("different unit" if different_units(pred, gold) else
                       "hedged with 'or'" if _OR.search(pred) and not solutions else
                       "labels that do not match the gold's order" if compared is None else
                       unread_parts(drop_unit(pred), gold))
            if refused:
                results.append(MathResult(0.0, pred, gold, "none", refused, time.perf_counter() - start))
                continue
            if solutions:  # the gold lists solutions ("3 or 4", {2, 18}): "x=2 or x=18" is that list, unordered
                compared = _AND.sub(", ", _OR.sub(", ", pred))
                verdict, method = quick_compare(compared, _AND.sub(", ", _OR.sub(", ", gold)))
            else:
                verdict, method = quick_compare(compared, gold)
            r = MathResult(float(bool(verdict)), pred, gold, method, "" if verdict else "not equal",
                           time.perf_counter() - start)
            words = [w for w in _WORDS.findall(drop_unit(pred)) if w.strip() not in gold]
            if verdict is None and words:  # parsers drop or misread prose: `3 \\text{ (not } 4)` once read as 4
                r.reason, verdict = f"words in the answer: {words[0].strip()!r}", False
            if verdict is None:
                symbolic.append((len(results), compared))
            results.append(r)
        if symbolic:
            outcomes = self._workers().map([(c, results[i].gold, self.rel_tol) for i, c in symbolic])
            symbolic = [i for i, _ in symbolic]
            for i, out in zip(symbolic, outcomes):
                r = results[i]
                r.seconds += out.seconds
                if out.ok and out.error is None:
                    r.reward, r.reason = float(out.value[0]), out.value[1]
                else:
                    r.reward, r.reason = 0.0, "timeout" if out.error == "timeout" else f"could not compare: {out.error}"
        return results

