"""Math answers: extract the final answer from a completion, then compare it with the gold answer.

Extraction, most explicit first: the last `\\boxed{…}` / `\\fbox{…}` (nested braces), the last
`<answer>…</answer>`, `#### N`, "the answer is …", and optionally the last number in the text.
Comparison: both sides normalised (LaTeX wrappers, `$`, thousands separators, `%`, degrees); if both read as
numbers they are compared as exact rationals (`0.5`, `1/2`, `\\frac{1}{2}` are equal), else as strings.
Units: a number keeps its letters (`2x`, `2i`, `3n`, `10m` are not numbers) unless they are a unit word written
apart from it: inside `\\text{…}`/`\\mbox{…}` or after a space and on the list below (`10 m`, `12 dollars`).
Mixed numbers: `2 1/2` and `2\\frac{1}{2}` are 5/2 (a whole number then a proper fraction), never 21/2.
Shared by the tasks' checkers, the `math_answer` reward and the verifiers: a neutral module that imports
nothing from rlvr, so tasks and rewards need not import each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class Check:
    """A checker's verdict on one completion (tasks re-export it as `rlvr.tasks.Check`)."""

    correct: bool | None  # None: nothing verifiable to check (a general chat prompt); left out of accuracy
    extracted: str | None  # the answer found in the completion (None: nothing found), used by maj@k

_NUMBER = re.compile(r"(?<![A-Za-z])(?:-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+)(?![A-Za-z\d])")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*([^\n]+)")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|textbf|textnormal|textrm|mathrm|mbox)\s*\{([^{}]*)\}")
# A math span in prose: $…$ (not $$), \(…\), \[…\]. Used for golds like "The final answer is $14{,}916$."
_SPAN = re.compile(r"(?<![\\$])\$(?!\$)([^$\n]+?)(?<!\\)\$|\$\$(.+?)\$\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
# Unit words that may follow a number after a space. Single letters only where they are SI symbols that are
# not also the usual variable names (x, n, i, e, t, a, b, c, k are never units).
UNITS = frozenset("""
m cm mm km g kg mg s ms h l ml mL L
sec secs second seconds min mins minute minutes hr hrs hour hours day days week weeks month months year years
meter meters metre metres centimeter centimeters millimeter millimeters kilometer kilometers inch inches foot feet
ft yard yards mile miles mph kmh gram grams kilogram kilograms pound pounds lb lbs ounce ounces oz liter liters
litre litres gallon gallons cup cups dollar dollars cent cents euro euros units unit degree degrees deg
square sq cubic per percent pct people students apples times ways
""".split())


def completion_text(completion) -> str:
    """A completion as text: TRL hands conversational completions over as message lists."""
    if isinstance(completion, list):
        return "".join(m.get("content", "") for m in completion if isinstance(m, dict) and m.get("role") == "assistant")
    return completion


def check_completion(completion) -> None:
    """ValueError unless the completion is text or a list of chat messages (what `completion_text` reads)."""
    if not isinstance(completion, (str, list)):
        raise ValueError(f"completion: expected text or a list of chat messages, got {type(completion).__name__}")


def braced_content(text: str, i: int) -> str | None:
    """The text from index i (just after an opening brace) to its matching closing brace; None if unclosed."""
    depth = 1
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j]
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{…} or \\fbox{…}, braces balanced; None if there is none or it is unclosed."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    return braced_content(text, text.index("{", start) + 1)


def last_tag(text: str, tag: str) -> str | None:
    matches = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.DOTALL)
    return matches[-1].strip() if matches else None


def extract_answer(text: str, *, fallback_last_number: bool = True) -> str | None:
    for found in (last_boxed(text), last_tag(text, "answer")):
        if found is not None:
            inner = last_boxed(found)
            return (inner if inner is not None else found).strip()
    return unmarked_answer(text, fallback_last_number=fallback_last_number)


def math_spans(text: str) -> list[str]:
    """Contents of the math spans ($…$, $$…$$, \\(…\\), \\[…\\]) in order; none when the `$` signs do not pair up
    (GSM8K prose uses `$` for money: "for 9 * 2 = $18.")."""
    if len(re.findall(r"(?<!\\)\$", text)) % 2:
        return []
    found = (next(g for g in m.groups() if g is not None) for m in _SPAN.finditer(text))
    # "$\\frac{1}{3},$": sentence punctuation goes; an ellipsis "1, 2, 3, ..." stays
    return [re.sub(r"(?<![.\\])\s*[.,;]$", "", f.strip()) for f in found]


def bare_formula(text: str) -> str | None:
    """The whole text when it is one short formula and no prose ("\\frac{10}{9}", "4 4/9", "$(1,3)$"), else None."""
    bare = text.strip()
    if not (0 < len(bare) <= 200) or "\n" in bare or not bare.isprintable():
        return None
    if re.search(r"(?<![\\A-Za-z])[A-Za-z]{3,}", bare):
        return None
    spans = math_spans(bare)
    return spans[0] if len(spans) == 1 else bare


def unmarked_answer(text: str, *, fallback_last_number: bool) -> str | None:
    """Without a box or answer tag: `#### N`, then "the answer is …" (its first math span if it has one), then
    (optionally) the last math span, then the last number. (The math verifier first tries `bare_formula`.)"""
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:  # "is $28\\%$. I hope it is correct." -> 28\\%; "The largest $n$ is 34." -> 34
            spans = [sp for sp in math_spans(matches[-1]) if re.search(r"\d", sp)]
            numbers = _NUMBER.findall(matches[-1])
            if spans:
                return spans[0]
            return numbers[-1] if numbers and math_spans(matches[-1]) else matches[-1].strip().rstrip(".").strip()
    if fallback_last_number:
        spans = math_spans(text)
        if spans and re.search(r"\d", spans[-1]):
            return spans[-1]
        numbers = _NUMBER.findall(text)
        if numbers:
            return numbers[-1]
    return None


def normalize(answer: str) -> str:
    s = answer.strip()
    s = _TEXT.sub(r" \1 ", s)  # spaced, so that `5\,\text{cm}` stays "5 cm": a unit apart from its number
    s = _FRAC.sub(r"(\1)/(\2)", s)
    for token in ("\\$", "$", "\\left", "\\right", "\\!", "\\,", "\\;", "^\\circ", "^{\\circ}", "\\%", "%"):
        s = s.replace(token, "")
    s = s.strip().rstrip(".").strip()
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # thousands separators
    return re.sub(r"\s+", " ", s)


_MIXED = re.compile(r"(-?)(\d+)(?:\s+|\s*(?=\\[dt]?frac))(?:(\d+)/(\d+)|\\[dt]?frac\{(\d+)\}\{(\d+)\})")


def strip_unit(s: str) -> str:
    """`12 dollars` -> `12`, `5 cm^2` -> `5`: a unit word after a space (see UNITS); glued letters stay."""
    m = re.fullmatch(r"(.*?\S)\s+([A-Za-z]+)(?:\s*\^\s*\{?[23]\}?)?", s)
    return m.group(1) if m and m.group(2) in UNITS else s


def to_number(answer: str) -> Fraction | None:
    """Exact value of a plain number, decimal, fraction or mixed number (a unit word after it ignored), else None."""
    raw = re.sub(r"\\[,;!]|\$", " ", _TEXT.sub(r" \1 ", answer)).strip().rstrip(".")
    mixed = _MIXED.fullmatch(strip_unit(re.sub(r"\s+", " ", raw)).strip())
    if mixed:  # a whole number then a proper fraction: 2 1/2 = 5/2
        sign, whole, num, den = mixed.group(1), int(mixed.group(2)), *(int(g) for g in mixed.groups()[2:] if g)
        if 0 < num < den:
            value = whole + Fraction(num, den)
            return -value if sign else value
        return None
    s = strip_unit(normalize(answer))
    if re.search(r"\d\s+\d", s):  # "2 1/2" that is not a mixed number, "1 000": not read by dropping the space
        return None
    s = s.replace("(", "").replace(")", "").replace(" ", "")
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?|-?\.\d+)(?:/(-?\d+(?:\.\d+)?))?", s)
    if not m:
        return None
    try:
        value = Fraction(m.group(1))
        if m.group(2) is not None:
            value /= Fraction(m.group(2))
    except (ZeroDivisionError, ValueError):  # ValueError: over Python's 4,300-digit int limit, not an answer
        return None
    return value


def answers_equal(predicted: str, gold: str) -> bool:
    p, g = to_number(predicted), to_number(gold)
    if p is not None and g is not None:
        return p == g
    return normalize(predicted).replace(" ", "") == normalize(gold).replace(" ", "")


def check_answer(completion: str, gold: str, *, fallback_last_number: bool = True) -> Check:
    extracted = extract_answer(completion, fallback_last_number=fallback_last_number)
    if extracted is None or extracted == "":
        return Check(False, None)
    return Check(answers_equal(extracted, gold), normalize(extracted))
