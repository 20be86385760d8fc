"""Math answers: extract the final answer from a completion, then compare it with the gold answer.

Extraction, most explicit first: the boxes (`\\boxed{…}`, `\\fbox{…}`, `\\framebox`, `\\bbox[…]`,
`\\colorbox{c}{…}`, …, nested braces, and TeX's brace-less `\\boxed 6`: see _BOX), the `<answer>…</answer>` tags,
`#### N`, "the answer is …", and optionally the last math span or number in the text. HTML comments
(`<!-- … -->`) are not rendered and are removed first: nothing in them is an answer.
Hedging is never an answer (`extract_with_reason` says why, `extract_answer` gives None):
  - several boxes that differ (`\\boxed{57} or \\boxed{56}`), several answer tags that differ, or an answer tag
    and a box that disagree; boxes equal as strings or as exact numbers (`\\frac{1}{2}`, `0.5`) are one answer;
  - in a marked line or the fallback, the answer joined to a different candidate by a hedge word (also a
    correction or comparison: vs, unless, then, instead, `/`, `->`, `—`, …) or a bare separator: `The answer is
    $5$ or $6$.`, `#### $5$ or $6$`, `5 or maybe 6`, `$5$, $6$`, `5 and 6`; number words (zero-twenty, the tens,
    hundred) are candidates behind a hedge word (`5, or maybe six`);
  - below a marked answer, on the next lines or chat messages, a candidate joined to it by nothing but hedge
    words, punctuation and fillers (`The answer is 5.\\nHmm, or 6.`; not `…5.\\n\\nCheck: 2+3=5`).
Comparison: both sides normalised (LaTeX wrappers, `$`, thousands separators as in `12,345` only (`0,056` is not
56), one sentence period (`56...` is no number), a single `\\!` (a run of them overprints: no number), a trailing
`%` or degree mark); the string comparison drops spaces except between digits (`5\\text{ }6` is not 56);
if both read as numbers they are compared as exact rationals (`0.5`, `1/2`, `\\frac{1}{2}` are equal), else as
strings. A number is a number only if its whole text is one: `(1)(5)`, `2(3)` and `5%0` are not numbers (one
pair of enclosing parentheses is allowed: `(-3)`, `-(-56)`); a `%` or degree mark is a unit only at the end.
Units: a number keeps its letters (`2x`, `2i`, `3n`, `10m` are not numbers) unless they are a unit word written
apart from it: inside `\\text{…}`/`\\mbox{…}` or after a space and on the list below (`10 m`, `12 dollars`), with
qualifiers (`56 square meters`, `60 miles per hour`; `56 square` alone is no unit).
Mixed numbers: `2 1/2` and `2\\frac{1}{2}` are 5/2 (a whole number then a proper fraction), never 21/2.
Cost: every helper is linear in its input (single scans, no regex with lazy or nested quantifiers over
unbounded text); completions over MAX_COMPLETION_CHARS are refused before any extraction, and numbers over
MAX_NUMBER_CHARS characters are not read as numbers. Nothing a completion's text reaches raises.
Shared by the tasks' checkers, the `math_answer` reward and the verifiers: a neutral module that imports
nothing from rlvr, so tasks and rewards need not import each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

MAX_COMPLETION_CHARS = 100_000  # longer completions score 0 ("completion too long") before any extraction
MAX_ALTERNATIVES = 32  # an answer joined by hedges or separators to more candidates than this is a hedge
MAX_NUMBER_CHARS = 20_000  # longer text is not read as a number (exact up to ~15,000 digits, no int() limit)


@dataclass(frozen=True)
class Check:
    """A checker's verdict on one completion (tasks re-export it as `rlvr.tasks.Check`)."""

    correct: bool | None  # None: nothing verifiable to check (a general chat prompt); left out of accuracy
    extracted: str | None  # the answer found in the completion (None: nothing found), used by maj@k
    reason: str = ""  # why nothing was extracted (a hedge, "completion too long"), when that is known


# ASCII digits only (re.ASCII) here and in to_number: `٣` or `３` are not read as 3 behind the checker's back.
_NUMBER = re.compile(r"(?<![A-Za-z\d])(?:-?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|-?\.\d+)(?![A-Za-z\d])",
                     re.ASCII)
# Never two adjacent unbounded blank runs (`\s*:?\s*` retried every split of 50,000 newlines: quadratic).
_ANSWER_IS = re.compile(r"answer\s*(?:is|:)[ \t]*:?\s*([^\n]+)", re.IGNORECASE)
_HASHES = re.compile(r"####\s*([^\n]+)")
_FRAC = re.compile(r"\\[dt]?frac\{([^{}]+)\}\{([^{}]+)\}")
_TEXT = re.compile(r"\\(?:text|textbf|textnormal|textrm|mathrm|mbox)\s*\{([^{}]*)\}")
# A box macro (`\\colorbox{c}`, `\\fcolorbox{a}{b}` with their colours, `\\bbox[…]`/`\\framebox[…][…]` with
# their options), then either "{" (group 1: a braced box, closed by the brace scan) or, as TeX reads an argument
# without braces, one token (group 2): a digit run (a decimal point allowed: `\\boxed 56` and `\\boxed 5.5` read as
# 56 and 5.5, as a reader sees them), one letter, or one \\command with its brace-free braced arguments
# (`\\boxed\\frac{1}{2}`). Every bracket/brace class stops at the next one, so 50,000 unclosed openers stay linear.
_BOX = re.compile(r"\\(?:boxed|fbox|framebox|bbox|ovalbox|Ovalbox|doublebox|shadowbox"
                  r"|colorbox\s*\{[^{}]*\}|fcolorbox\s*\{[^{}]*\}\s*\{[^{}]*\})(?![A-Za-z])(?:\s*\[[^\[\]{}]*\])*\s*"
                  r"(?:(\{)|(\d+(?:\.\d+)?|[A-Za-z]|\\[A-Za-z]+(?:\s*\{[^{}]*\})*))", re.ASCII)

_BRACE = re.compile(r"[{}]")
_NONSPACE = re.compile(r"\S")
# Between two candidate answers: a word that hedges ("5 or maybe 6", "$5$, but it could be $6$") ...
# A correction or comparison hedges too ("5 vs 6", "5 unless 6", "5 then 6", "$5$ / $6$", "5 -> 6", "5 — really 6").
# The cost: an honest "2 + 3 -> 5" or "3 / 4" written with spaces is refused too (the answer then is `3/4`, `5`).
_HEDGE_WORDS = (r"or|maybe|perhaps|possibly|probably|either|alternatively|otherwise|might|could|unsure|guess"
                r"|vs|versus|else|unless|nor|instead|then|rather|really")
_HEDGE = re.compile(rf"(?<![A-Za-z])(?:{_HEDGE_WORDS})(?![A-Za-z])|not sure|\\(?:lor|vee)(?![A-Za-z])|/|->|→|—",
                    re.IGNORECASE)
# Across a line break a joiner must be nothing but hedges, punctuation and fillers ("5.\nHmm, or 6"), so that
# "The answer is 5.\n\nCheck: 2+3=5" does not tie 5 to 2.
_FILLER = r"hmm+|um+|uh+|oh|well|wait|actually|no|so|it|is|it's|be|the|answer"
_NEXT_LINE_JOIN = re.compile(rf"(?:[\s,;.:!?$()]|(?<![A-Za-z])(?:{_HEDGE_WORDS}|{_FILLER})(?![A-Za-z])"
                             r"|not sure|/|->|→|—){0,40}", re.IGNORECASE)
# Number words are candidates that only a hedge word joins ("5, or maybe six"); bare separators do not
# ("$5$, one more than $4$" stays an answer).
_WORD_VALUES = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve "
                                           "thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
                                           .split())}
_WORD_VALUES.update({w: 10 * i for i, w in enumerate("thirty forty fifty sixty seventy eighty ninety".split(), 3)})
_WORD_VALUES["hundred"] = 100
_NUMBER_WORD = re.compile(r"(?<![A-Za-z])(?:" + "|".join(_WORD_VALUES) + r")(?![A-Za-z])", re.IGNORECASE)
# ... or nothing but separators: "$5$, $6$", "5 and 6", "$5$ $6$" give two answers, not one.
_BARE_JOIN = re.compile(r"[\s,;$]*(?:(?:and|&|\\text\{\s*and\s*\})[\s,;$]*)?")
# Unit words that may follow a number after a space. Single letters only where they are SI symbols that are
# not also the usual variable names (x, n, i, e, t, a, b, c, k are never units).
UNITS = frozenset("""
m cm mm km g kg mg s ms h l ml mL L
sec secs second seconds min mins minute minutes hr hrs hour hours day days week weeks month months year years
meter meters metre metres centimeter centimeters millimeter millimeters kilometer kilometers inch inches foot feet
ft yard yards mile miles mph kmh gram grams kilogram kilograms pound pounds lb lbs ounce ounces oz liter liters
litre litres gallon gallons cup cups dollar dollars cent cents euro euros units unit degree degrees deg
percent pct people students apples ways
""".split())
# Words that only qualify a unit: `56 square meters`, `5 cubic cm`, `60 miles per hour` are units, `56 square`,
# `56 per` are not (nor is `56 times`, which is no unit at all).
UNIT_QUALIFIERS = frozenset({"square", "sq", "cubic", "per"})


# ---------------------------------------------------------------- completions and scanning helpers


def completion_text(completion) -> str:
    """A completion as text: TRL hands conversational completions over as message lists. An assistant
    message's content is text, None (a tool call: no text) or a list of parts, of which only
    {"type": "text", "text": …} carry text; messages and parts are joined by newlines (so "…5" and "6…" never
    read as 56). Anything else has no text: it scores 0 and never raises."""
    if isinstance(completion, str):
        return completion
    if not isinstance(completion, list):
        return ""
    texts = []
    for m in completion:
        content = m.get("content") if isinstance(m, dict) and m.get("role") == "assistant" else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts += [p["text"] for p in content
                      if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)]
    return "\n".join(texts)


def strip_html_comments(text: str) -> str:
    """The text without its HTML comments (`<!-- … -->`; an unclosed one runs to the end): they are not
    rendered, so nothing in them is an answer. One left-to-right pass with str.find."""
    if "<!--" not in text:
        return text
    out, at = [], 0
    while (o := text.find("<!--", at)) >= 0:
        out.append(text[at:o])
        c = text.find("-->", o + 4)
        if c < 0:
            return "".join(out)
        at = c + 3
    return "".join(out) + text[at:]


def check_completion(completion) -> None:
    """ValueError unless the completion is text or a list of chat messages (what `completion_text` reads)."""
    if not isinstance(completion, (str, list)):
        raise ValueError(f"completion: expected text or a list of chat messages, got {type(completion).__name__}")


def braced_content(text: str, i: int) -> str | None:
    """The text from index i (just after an opening brace) to its matching closing brace; None if unclosed.
    Linear in the rest of the text: call it once per text, not once per box (see `box_spans`)."""
    depth = 1
    for m in _BRACE.finditer(text, i):
        depth += 1 if m.group() == "{" else -1
        if depth == 0:
            return text[i:m.start()]
    return None


def box_spans(text: str) -> list[tuple[int, int, int]]:
    """(box start, content start, content end) of every closed box (see _BOX: \\boxed{…}, \\fbox{…},
    \\framebox, \\bbox, \\colorbox{c}{…}, … and the brace-less `\\boxed 6`), in order of the box; an unclosed
    box is skipped. One scan with a brace stack, so 4,000 unclosed boxes cost what one does."""
    openers, found = {}, []  # index of a braced box's "{" -> its "\\"; brace-less boxes go straight to found
    for m in _BOX.finditer(text):
        if m.group(1):
            openers[m.start(1)] = m.start()
        else:
            found.append((m.start(), m.start(2), m.end(2)))
    if not openers:
        return found
    stack: list[int] = []
    for m in _BRACE.finditer(text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            o = stack.pop()
            if o in openers:
                found.append((openers[o], o + 1, m.start()))
    return sorted(found)


def all_boxed(text: str) -> list[str]:
    """Contents of every closed box in order, stripped. Materialises every box: nested boxes in a long
    completion add up to quadratic memory, so completions go through `boxed_answer` instead."""
    return [text[cs:ce].strip() for _, cs, ce in box_spans(text)]


def last_boxed(text: str) -> str | None:
    """Content of the last box (see _BOX), braces balanced; None if there is none or it is unclosed."""
    last = None
    for last in _BOX.finditer(text):
        pass
    if last is None:
        return None
    return braced_content(text, last.end(1)) if last.group(1) else last.group(2)


def all_tags(text: str, tag: str) -> list[str]:
    """Contents of every <tag>…</tag>, stripped, left to right: each runs from an opening tag to the next
    closing one (`<a>1<a>2</a>` is "1<a>2"). One scan: an unclosed tag ends the search."""
    found, pos, open_, close = [], 0, f"<{tag}>", f"</{tag}>"
    while (o := text.find(open_, pos)) >= 0:
        c = text.find(close, o + len(open_))
        if c < 0:
            break
        found.append(text[o + len(open_):c].strip())
        pos = c + len(close)
    return found


def last_tag(text: str, tag: str) -> str | None:
    found = all_tags(text, tag)
    return found[-1] if found else None


def _math_span_positions(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of the math spans: $…$ (one line, not $$), $$…$$, \\(…\\), \\[…\\]; a `$` after a
    backslash is money, not math. A left-to-right scan that jumps from opener to opener; once a closer is
    missing no later opener of its kind is tried, so 16,000 unclosed `\\(` cost one pass."""
    out, i, n = [], 0, len(text)
    d = p = k = -1  # the next `$`, `\\(`, `\\[` at or after i (n: none left), searched again only once passed
    while True:
        if d < i:
            d = text.find("$", i) % (n + 1)  # -1 -> n
        if p < i:
            p = text.find("\\(", i) % (n + 1)
        if k < i:
            k = text.find("\\[", i) % (n + 1)
        i = min(d, p, k)
        if i >= n - 1:
            return out
        two = text[i:i + 2]
        if two in ("\\(", "\\[", "$$"):
            j = text.find("$$" if two == "$$" else "\\" + ")]"[two == "\\["], i + 2)
            if j < 0:  # unclosed: no later opener of this kind can close either
                p, k = (n if two == "\\(" else p), (n if two == "\\[" else k)
                i += 2
                continue
            if j > i + 2:
                out.append((i, j + 2, text[i + 2:j]))
            i = j + 2
        elif i > 0 and text[i - 1] == "\\":
            i += 1  # `\\$`: a dollar sign
        else:  # one $: the span closes at the next $, on the same line, unescaped, with something between
            j = text.find("$", i + 1)
            if j > i + 1 and text[j - 1] != "\\" and text.find("\n", i + 1, j) < 0:
                out.append((i, j + 1, text[i + 1:j]))
                i = j + 1
            else:
                i, d = i + 1, j % (n + 1)


def _tidy_span(f: str) -> str:
    """"\\frac{1}{3}," -> "\\frac{1}{3}": sentence punctuation goes; an ellipsis "1, 2, 3, ..." stays."""
    f = f.strip()
    if f and f[-1] in ".,;":
        rest = f[:-1].rstrip()
        if rest and rest[-1] not in ".\\":
            return rest
        if len(rest) < len(f) - 1:  # "x. ." keeps "x. " as the old rule did: only the blank run goes
            return f[:len(rest) + 1]
    return f


def _dollars_pair(text: str) -> bool:
    return (text.count("$") - text.count("\\$")) % 2 == 0  # unescaped `$` signs


def math_spans(text: str) -> list[str]:
    """Contents of the math spans ($…$, $$…$$, \\(…\\), \\[…\\]) in order; none when the `$` signs do not pair up
    (GSM8K prose uses `$` for money: "for 9 * 2 = $18.")."""
    if not _dollars_pair(text):
        return []
    return [_tidy_span(c) for _, _, c in _math_span_positions(text)]


def bare_formula(text: str) -> str | None:
    """The whole text when it is one short formula and no prose ("\\frac{10}{9}", "4 4/9", "$(1,3)$"), else None."""
    bare = text.strip()
    if not (0 < len(bare) <= 200) or "\n" in bare or not bare.isprintable():
        return None
    if re.search(r"(?<![\\A-Za-z])[A-Za-z]{3,}", bare):
        return None
    spans = math_spans(bare)
    return spans[0] if len(spans) == 1 else bare


# ---------------------------------------------------------------- hedge-aware extraction


def answer_key(s: str):
    """What two answers must share to be one answer: the exact value of a number, else the normalised text."""
    value = to_number(s)
    return value if value is not None else _squash(normalize(s))


def _squash(s: str) -> str:
    """Spaces dropped for a string comparison (`x = 5` is `x=5`) except between two digits: `5 6` (from
    `5\\text{ }6`) stays two numbers, not 56."""
    return _SPACE_NOT_BETWEEN_DIGITS.sub("", s)


_SPACE_NOT_BETWEEN_DIGITS = re.compile(r"(?<!\d) +| +(?!\d)", re.ASCII)


Cand = tuple[int, int, str, bool]  # (start, end, text, is a number word); a word's text is its value in digits


def _joins(joiner: str, word: bool) -> bool:
    """Whether a joiner ties two candidates into one hedged answer: a hedge word, or (between two written
    numbers or spans) bare separators."""
    return bool(_HEDGE.search(joiner) or (not word and _BARE_JOIN.fullmatch(joiner)))


def _hedged(text: str, cands: list[Cand], k: int) -> tuple[str, int]:
    """(the hedge around candidate k or "", the last candidate the rightward walk reached): walking from k
    through the joiners between neighbouring candidates while each joiner hedges ("or", "maybe", …, or bare
    separators), a candidate with another value. `5 or maybe 6` hedges; `12 + 5 = 17` and `add 3 and 4 to get
    7` (for 7) do not."""
    walked, j = 0, k
    for step in (-1, 1):
        j = k
        while 0 <= j + step < len(cands):
            left, right = sorted((cands[j], cands[j + step]))
            if not _joins(text[left[1]:right[0]], left[3] or right[3]):
                break
            j, walked = j + step, walked + 1
            if walked > MAX_ALTERNATIVES:  # a long list of alternatives is no answer (and bounds the work)
                return f"hedged: over {MAX_ALTERNATIVES} alternatives", j
            if cands[j][2] != cands[k][2] and answer_key(cands[j][2]) != answer_key(cands[k][2]):
                return f"hedged: {cands[min(j, k)][2]!r} or {cands[max(j, k)][2]!r}", j
    return "", j


def _hedged_below(text: str, at: int, answer: str) -> str:
    """The hedge on the lines after a marked answer ("The answer is 5\nor maybe 6", a next chat message "or
    6"), "" if none: from index `at` (the answer's end) the next candidates are walked while each joiner is
    only hedge words, punctuation and fillers (_NEXT_LINE_JOIN) holding a hedge word."""
    tail = text[at:]
    spans = _math_span_positions(tail) if _dollars_pair(tail) else []
    prev = 0
    for steps, c in enumerate(_candidates(tail, spans)):
        joiner = tail[prev:c[0]]
        if len(joiner) > 200 or not (
                _HEDGE.search(joiner) and _NEXT_LINE_JOIN.fullmatch(joiner)):
            return ""
        if steps >= MAX_ALTERNATIVES:  # as on the answer's line: a long list of alternatives is no answer
            return f"hedged: over {MAX_ALTERNATIVES} alternatives"
        if c[2] != answer and answer_key(c[2]) != answer_key(answer):
            return f"hedged: {answer!r} or {c[2]!r} below it"
        prev = c[1]
    return ""


def _candidates(text: str, spans: list[tuple[int, int, str]]) -> list[Cand]:
    """Possible answers in order: math spans that hold a digit, and numbers and number words outside every
    span."""
    out: list[Cand] = [(a, b, _tidy_span(c), False) for a, b, c in spans if re.search(r"\d", c)]
    for pattern in (_NUMBER, _NUMBER_WORD):
        si = 0
        for m in pattern.finditer(text):
            while si < len(spans) and spans[si][1] <= m.start():
                si += 1
            if si < len(spans) and spans[si][0] <= m.start():
                continue  # inside a span
            word = pattern is _NUMBER_WORD
            out.append((m.start(), m.end(), str(_WORD_VALUES[m.group().lower()]) if word else m.group(), word))
    return sorted(out)


def unmarked_with_reason(text: str, *, fallback_last_number: bool) -> tuple[str | None, str]:
    """Without a box or answer tag: `#### N`, then "the answer is …" (its first math span if it has one), then
    (optionally) the last math span, then the last number. (answer, "") or (None, why): the answer is refused
    when it is picked out of its line or text and joined there to a different candidate by a hedge, or when a
    marked line's answer is followed on the next lines by a hedge to another candidate."""
    for pattern in (_HASHES, _ANSWER_IS):
        last = None
        for last in pattern.finditer(text):
            pass
        if last is None:
            continue
        region, offset = last.group(1), last.start(1)  # "is $28\\%$. I hope…" -> 28\\%; "The $n$ is 34." -> 34
        spans = _math_span_positions(region) if _dollars_pair(region) else []
        cands = _candidates(region, spans)
        if any(re.search(r"\d", c) for _, _, c in spans):
            k = next(i for i, c in enumerate(cands) if region[c[0]] in "$\\")  # the first span with a digit
        elif spans and any(not c[3] for c in cands):
            k = max(i for i, c in enumerate(cands) if not c[3] and _NUMBER.fullmatch(c[2]))
        else:  # the whole line is the answer: whatever it hedges stays in it for the comparison to see
            answer = strip_period(region.strip()).strip()
            why = _hedged_below(text, last.end(1), answer)
            return (None, why) if why else (answer, "")
        why, reach = _hedged(region, cands, k)
        if not why and reach == len(cands) - 1:  # the walk reached the line's end: go on below it
            why = _hedged_below(text, offset + cands[reach][1], cands[k][2])
        return (None, why) if why else (cands[k][2], "")
    if not fallback_last_number:
        return None, "no answer found"
    spans = _math_span_positions(text) if _dollars_pair(text) else []
    if spans and re.search(r"\d", spans[-1][2]):
        cands = _candidates(text, spans)
        k = max(i for i, c in enumerate(cands) if c[0] == spans[-1][0])
    else:  # the last number, also inside a span: "$x = 5$ then $y$" -> 5
        cands = sorted([(m.start(), m.end(), m.group(), False) for m in _NUMBER.finditer(text)]
                       + [(m.start(), m.end(), str(_WORD_VALUES[m.group().lower()]), True)
                          for m in _NUMBER_WORD.finditer(text)])
        numbers = [i for i, c in enumerate(cands) if not c[3]]
        if not numbers:
            return None, "no answer found"
        k = numbers[-1]
    why = _hedged(text, cands, k)[0]
    return (None, why) if why else (cands[k][2], "")


def unmarked_answer(text: str, *, fallback_last_number: bool) -> str | None:
    return unmarked_with_reason(text, fallback_last_number=fallback_last_number)[0]


def boxed_answer(text: str, key: Callable[[str], object] = answer_key) -> tuple[str | None, str] | None:
    """None if the text has no closed box; else (last box's content, "") or (None, why): boxes whose `key`
    differ hedge. A box that only wraps another (`\\boxed{\\boxed{5}}`) is that box. Stops at the first
    difference, so nested boxes are materialised two at a time, never all at once."""
    spans = box_spans(text)
    if not spans:
        return None
    by_start = {b: ce + (text[cs - 1] == "{") for b, cs, ce in spans}  # box start -> box end (after its "}")
    first, first_key, answer = None, None, None
    for _, cs, ce in spans:
        inner = _NONSPACE.search(text, cs, ce)
        end = ce
        while end > cs and text[end - 1].isspace():
            end -= 1
        if inner and by_start.get(inner.start()) == end:
            continue  # a wrapper: its only content is the next box
        answer = text[cs:ce].strip()
        if first is None:
            first, first_key = answer, key(answer)
        elif answer != first and key(answer) != first_key:  # the same text again needs no key (9,000 boxes)
            return None, "several different boxed answers"
    return (answer, "") if answer else (None, "empty box")


def extract_with_reason(text: str, *, fallback_last_number: bool = True) -> tuple[str | None, str]:
    """(answer, "") or (None, why): the light checker's extraction, hedge-aware (see the module docstring)."""
    if len(text) > MAX_COMPLETION_CHARS:
        return None, f"completion too long (over {MAX_COMPLETION_CHARS} characters)"
    text = strip_html_comments(text)  # not rendered, so not an answer: `The answer is 6. <!-- \\boxed{5} -->`
    boxed = boxed_answer(text)
    tags = all_tags(text, "answer")
    tag_keys = set()
    for t in dict.fromkeys(tags):  # distinct texts in order; a tag holding a box is that box (counted above)
        tag_keys |= set() if _BOX.search(t) else {answer_key(t)}
        if len(tag_keys) > 1:
            return None, "several different tagged answers"
    if boxed is not None:
        if boxed[0] is not None and tag_keys and tag_keys != {answer_key(boxed[0])}:
            return None, "answer tag and box disagree"
        return boxed
    if tags:
        return (tags[-1], "") if tags[-1] else (None, "empty answer")
    return unmarked_with_reason(text, fallback_last_number=fallback_last_number)


def extract_answer(text: str, *, fallback_last_number: bool = True) -> str | None:
    return extract_with_reason(text, fallback_last_number=fallback_last_number)[0]


# ---------------------------------------------------------------- normalising and reading numbers

_TRAILING_UNIT = ("\\%", "%", "^\\circ", "^{\\circ}", "°")


def strip_period(s: str) -> str:
    """One sentence-ending period goes (`56.` is 56); an ellipsis stays (`56...` is not a number)."""
    return s[:-1] if s.endswith(".") and not s.endswith("..") else s


def _drop_trailing_unit(s: str) -> str:
    """`50\\%.` -> `50`, `90^\\circ` -> `90`: one percent or degree mark is a unit only at the very end."""
    s = strip_period(s.strip()).strip()
    mark = next((m for m in _TRAILING_UNIT if s.endswith(m)), "")
    if mark == "%" and s.endswith("\\%"):
        mark = "\\%"
    return s[: len(s) - len(mark)].strip() if mark else s


def _thin_spaces(m: re.Match) -> str:
    """One `\\!` (negative thin space) is dropped (`5\\!6` is 56); a run of them overprints (`5\\!\\!\\!7` draws
    the 7 over the 5), so it stays and the text is no number."""
    return "" if m.group() == "\\!" else m.group()


_NEG_SPACES = re.compile(r"\\!(?:\s*\\!)*")
# A thousands separator: a first group of 1-3 digits not starting with 0, then groups of exactly 3
# (`1,000` is 1000; `0,056` and `00,056` are not 56, `1,00` is not 100).
_THOUSANDS = re.compile(r"(?<![\d.,])[1-9]\d{0,2}(?:,\d{3})+(?![\d]|,\d)", re.ASCII)


def normalize(answer: str) -> str:
    s = answer.strip()
    s = _TEXT.sub(r" \1 ", s)  # spaced, so that `5\,\text{cm}` stays "5 cm": a unit apart from its number
    s = _FRAC.sub(r"(\1)/(\2)", s)
    s = _NEG_SPACES.sub(_thin_spaces, s)
    s = re.sub(r"\\\$|\$|\\[,;]|\\(?:left|right)(?![A-Za-z])", "", s).replace("{,}", ",")
    # A `%` anywhere else stays: in LaTeX it starts a comment, in prose it is not a unit (`5%0` is not 50).
    s = _drop_trailing_unit(s)
    s = _THOUSANDS.sub(lambda m: m.group().replace(",", ""), s)
    return re.sub(r"\s+", " ", s)


_DEC = r"(?:[1-9]\d{0,2}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+"
# A term: a signed decimal, in at most one pair of parentheses, which may carry a sign: 5, -5, (-3), -(-56).
_TERM = rf"[+-]?\s*(?:{_DEC}|\(\s*[+-]?\s*(?:{_DEC})\s*\))"
_RATIO = re.compile(rf"({_TERM})(?:\s*/\s*({_TERM}))?", re.ASCII)
_MIXED = re.compile(r"(-?)(\d+)(?:\s+|\s*(?=\\[dt]?frac))(?:(\d+)/(\d+)|\\[dt]?frac\{(\d+)\}\{(\d+)\})", re.ASCII)


def _int(digits: str) -> int:
    """int() of a digit string without Python's 4,300-digit limit on str -> int (callers bound the length)."""
    value = 0
    for i in range(0, len(digits), 4000):
        chunk = digits[i:i + 4000]
        value = value * 10 ** len(chunk) + int(chunk)
    return value


def _term(t: str) -> Fraction:
    sign = -1 if t.lstrip().startswith("-") else 1
    inner = t.strip().lstrip("+-").strip()
    if inner.startswith("("):
        inner = inner[1:-1].strip()
        sign *= -1 if inner.startswith("-") else 1
        inner = inner.lstrip("+-").strip()
    whole, _, frac = inner.replace(",", "").partition(".")
    return sign * Fraction(_int(whole + frac or "0"), 10 ** len(frac))


def strip_unit(s: str) -> str:
    """`12 dollars` -> `12`, `5 cm^2` -> `5`, `56 square meters` -> `56`, `60 miles per hour` -> `60`: the longest
    unit phrase (up to 4 words) after a space, its words units (UNITS) or qualifiers (UNIT_QUALIFIERS), its last
    word a unit, a `per` never first; glued letters stay, and a qualifier alone (`56 square`, `56 per`) is no unit."""
    power = _POWER.search(s)
    body = s[:power.start()] if power else s
    i, words = len(body.rstrip()), []  # words: (start, text), last first; scanned by hand, 4 words at most
    while len(words) < 4:
        j = i
        while j > 0 and body[j - 1].isascii() and body[j - 1].isalpha():
            j -= 1
        if j == i or j == 0 or not body[j - 1].isspace():
            break
        words.append((j, body[j:i]))
        i = len(body[:j].rstrip())
        if i == 0:
            words.pop()  # nothing before the words: no number to keep
            break
    for n in range(len(words), 0, -1):
        phrase = [w for _, w in reversed(words[:n])]
        if (phrase[-1] in UNITS and phrase[0] != "per"
                and all(w in UNITS or w in UNIT_QUALIFIERS for w in phrase)):
            return body[:words[n - 1][0]].rstrip()
    return s


_POWER = re.compile(r"(?<=[A-Za-z])\s*\^\s*\{?[23]\}?\Z")


def to_number(answer: str) -> Fraction | None:
    """Exact value of a plain number, decimal, fraction or mixed number (a unit word after it ignored), else None.
    Its whole text must be the number: `(1)(5)`, `2(3)`, `\\frac{(1)(2)}{5}` are not numbers."""
    if len(answer) > MAX_NUMBER_CHARS:
        return None
    if re.search(r"\\!\s*\\!", answer):  # overprinting (see _thin_spaces)
        return None
    raw = strip_period(re.sub(r"\\[,;!]|\$", " ", _TEXT.sub(r" \1 ", answer)).strip())
    mixed = _MIXED.fullmatch(strip_unit(re.sub(r"\s+", " ", raw)).strip())
    if mixed:  # a whole number then a proper fraction: 2 1/2 = 5/2
        sign, whole, num, den = mixed.group(1), _int(mixed.group(2)), *(_int(g) for g in mixed.groups()[2:] if g)
        if 0 < num < den:
            value = whole + Fraction(num, den)
            return -value if sign else value
        return None
    s = strip_unit(normalize(answer))
    if re.search(r"\d\s+\d", s):  # "2 1/2" that is not a mixed number, "1 000": not read by dropping the space
        return None
    if s.startswith("(") and s.endswith(")") and "(" not in s[1:-1] and ")" not in s[1:-1]:
        s = s[1:-1].strip()  # one pair of parentheses around the whole: (1/2)
    m = _RATIO.fullmatch(s)
    if not m:
        return None
    value = _term(m.group(1))
    if m.group(2) is not None:
        den = _term(m.group(2))
        if den == 0:
            return None
        value /= den
    return value


def answers_equal(predicted: str, gold: str) -> bool:
    p, g = to_number(predicted), to_number(gold)
    if p is not None and g is not None:
        return p == g
    return _squash(normalize(predicted)) == _squash(normalize(gold))


def check_answer(completion, gold: str, *, fallback_last_number: bool = True) -> Check:
    """The light checker: hedge-aware extraction, then `answers_equal`. Never raises on a completion's content
    (text or chat messages); a hedge or an over-long completion is Check(False, None, reason)."""
    extracted, why = extract_with_reason(completion_text(completion), fallback_last_number=fallback_last_number)
    if extracted is None or extracted == "":
        return Check(False, None, why or "no answer found")
    return Check(answers_equal(extracted, gold), normalize(extracted))


def fenced_blocks(text: str) -> list[str]:
    """The contents of the fenced blocks, left to right, without overlap: three backticks, the rest of that line
    (a language tag or anything), a newline, then everything up to the next three backticks. Found with
    str.find, so linear whatever the text holds."""
    blocks, at = [], 0
    while (start := text.find("```", at)) >= 0:
        newline = text.find("\n", start + 3)
        end = -1 if newline < 0 else text.find("```", newline + 1)
        if end < 0:  # a later opening would need a newline and a closing after this one's: none either
            break
        blocks.append(text[newline + 1:end])
        at = end + 3
    return blocks
