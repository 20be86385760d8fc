"""Math answers: extract the final answer from a completion, then compare it with the gold answer.

Extraction, most explicit first: the last `\\boxed{…}` / `\\fbox{…}` (nested braces), the last
`<answer>…</answer>`, `#### N`, "the answer is …", and optionally the last number in the text.
Comparison: both sides normalised (LaTeX wrappers, `$`, thousands separators, trailing units and `%`); if both
read as numbers they are compared as exact rationals (`0.5`, `1/2`, `\\frac{1}{2}` are equal), else as strings.
This is the math reward of the GRPO trainer; the hardened verifier suite builds on the same contract.
"""

from __future__ import annotations

import re
from fractions import Fraction

from rlvr.tasks import Check

_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+")
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)\s*:?\s*([^\n]+)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*([^\n]+)")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}")


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


def unmarked_answer(text: str, *, fallback_last_number: bool) -> str | None:
    """Without a box or answer tag: `#### N`, then "the answer is …", then (optionally) the last number."""
    for pattern in (_HASHES, _ANSWER_IS):
        matches = pattern.findall(text)
        if matches:
            return matches[-1].strip().rstrip(".").strip()
    if fallback_last_number:
        numbers = _NUMBER.findall(text)
        if numbers:
            return numbers[-1]
    return None


def normalize(answer: str) -> str:
    s = answer.strip()
    s = _TEXT.sub(r"\1", s)
    s = _FRAC.sub(r"(\1)/(\2)", s)
    for token in ("\\$", "$", "\\left", "\\right", "\\!", "\\,", "\\;", "^\\circ", "^{\\circ}", "\\%", "%"):
        s = s.replace(token, "")
    s = s.strip().rstrip(".").strip()
    s = re.sub(r"(?<=\d),(?=\d{3}\b)", "", s)  # thousands separators
    return re.sub(r"\s+", " ", s)


def to_number(answer: str) -> Fraction | None:
    """Exact value of a plain number, decimal or fraction (units after the number ignored), else None."""
    s = normalize(answer).replace("(", "").replace(")", "").replace(" ", "")
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?|-?\.\d+)(?:/(-?\d+(?:\.\d+)?))?([a-zA-Z]*)", s)
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
