"""The eight reward functions of open-r1's math recipe (huggingface/open-r1, src/open_r1/rewards.py), re-written
in our own words from their documented behaviour, with the same names, signatures and results.

Like the originals, every one reads a completion as `completion[0]["content"]`: TRL hands conversational
completions over as a list holding one assistant message. Passed plain strings, they fail with "string indices
must be integers" (all but the soft overlong punishment, which reads token ids only). That is the point:
rlvr must call them unchanged, as TRL would.
"""

from __future__ import annotations

import math
import re

from latex2sympy2_extended import NormalizationConfig
from math_verify import LatexExtractionConfig, parse, verify


def _texts(completions) -> list[str]:
    return [completion[0]["content"] for completion in completions]


def _strict_latex() -> list:
    """How open-r1 reads a model's answer: well-formed LaTeX only, a box tried first, no bare-number fallback."""
    # (open-r1 also sets equations=True, which this math-verify deprecates: its parser handles equations itself)
    normalization = NormalizationConfig(nits=False, malformed_operators=False, basic_latex=True, boxed="all", units=True)
    return [LatexExtractionConfig(normalization_config=normalization, boxed_match_priority=0,
                                  try_extract_without_anchor=False)]


def _is_correct(text: str, solution: str) -> bool | None:
    """math-verify's verdict on `text` against the gold `solution`; None if the gold cannot be parsed."""
    gold = parse(solution, extraction_mode="first_match", extraction_config=[LatexExtractionConfig()])
    if not gold:
        return None
    return bool(verify(gold, parse(text, extraction_config=_strict_latex(), extraction_mode="first_match")))


def accuracy_reward(completions: list[list[dict[str, str]]], solution: list[str], **kwargs) -> list[float | None]:
    """1.0 when math-verify finds the completion's answer equal to the gold solution's, else 0.0; None (the
    sample is skipped) when the gold solution cannot be parsed or verification itself fails."""
    out: list[float | None] = []
    for text, sol in zip(_texts(completions), solution):
        gold = parse(sol, extraction_mode="first_match")
        if not gold:
            out.append(None)
            continue
        answer = parse(text, extraction_config=_strict_latex(), extraction_mode="first_match")
        try:
            out.append(float(verify(gold, answer)))
        except Exception:  # noqa: BLE001 - as the original: an unverifiable pair is skipped, not fatal
            out.append(None)
    return out


_LAYOUT = re.compile(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$", re.DOTALL | re.MULTILINE)


def format_reward(completions, **kwargs):
    """1.0 when the completion is a think block then an answer block, each tag on its own line, else 0.0."""
    return [1.0 if _LAYOUT.match(text) else 0.0 for text in _texts(completions)]


def tag_count_reward(completions, **kwargs) -> list[float]:
    """A quarter point for each of the four tags (with their newlines) that appears exactly once."""
    marks = ("<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>")
    return [sum((0.25 for m in marks if text.count(m) == 1), 0.0) for text in _texts(completions)]


_STEP = re.compile(r"(Step \d+:|^\d+\.|\n-|\n\*|First,|Second,|Next,|Finally,)")


def reasoning_steps_reward(completions, **kwargs):
    """Step markers ("Step 1:", a numbered line, a bullet, "First," ...) counted; three or more earn 1.0."""
    return [min(1.0, len(_STEP.findall(text)) / 3) for text in _texts(completions)]


def len_reward(completions: list[dict[str, str]], solution: list[str], **kwargs) -> float:
    """Kimi 1.5's length reward over the batch: with lambda = 0.5 - (len - shortest) / (longest - shortest),
    a correct completion gets lambda and a wrong one min(0, lambda); all 0.0 when every length is equal. A
    gold that cannot be parsed counts the completion as correct."""
    texts = _texts(completions)
    correct = [True if (c := _is_correct(text, sol)) is None else c for text, sol in zip(texts, solution)]
    lengths = [len(text) for text in texts]
    shortest, longest = min(lengths), max(lengths)
    if shortest == longest:
        return [0.0] * len(completions)
    out = []
    for length, ok in zip(lengths, correct):
        lam = 0.5 - (length - shortest) / (longest - shortest)
        out.append(float(lam if ok else min(0.0, lam)))
    return out


def get_cosine_scaled_reward(min_value_wrong: float = -1.0, max_value_wrong: float = -0.5,
                             min_value_correct: float = 0.5, max_value_correct: float = 1.0, max_len: int = 1000):
    """A reward that follows half a cosine over the completion's length (in characters, up to max_len): short
    correct answers earn most, and long wrong ones lose least."""

    def cosine_scaled_reward(completions, solution, **kwargs):
        out = []
        for text, sol in zip(_texts(completions), solution):
            ok = _is_correct(text, sol)
            if ok is None:  # gold cannot be parsed: the original gives the sample 1.0
                out.append(1.0)
                continue
            lo, hi = (min_value_correct, max_value_correct) if ok else (max_value_wrong, min_value_wrong)
            cosine = math.cos(len(text) / max_len * math.pi)
            out.append(float(lo + 0.5 * (hi - lo) * (1.0 + cosine)))
        return out

    return cosine_scaled_reward


def get_repetition_penalty_reward(ngram_size: int, max_penalty: float, language: str = "en"):
    """A penalty for repeated word n-grams: max_penalty (<= 0) times the share of n-grams that repeat an
    earlier one. Empty completions and ones shorter than an n-gram get 0.0. English word splitting only."""
    if max_penalty > 0:
        raise ValueError(f"max_penalty {max_penalty} should not be positive")
    if language != "en":
        raise ValueError(f"word splitting for language {language!r} is not implemented here")

    def repetition_penalty_reward(completions, **kwargs) -> float:
        out = []
        for text in _texts(completions):
            words = text.lower().split()
            if text == "" or len(words) < ngram_size:
                out.append(0.0)
                continue
            grams = [tuple(words[i : i + ngram_size]) for i in range(len(words) - ngram_size + 1)]
            out.append((1 - len(set(grams)) / len(grams)) * max_penalty)
        return out

    return repetition_penalty_reward


def get_soft_overlong_punishment(max_completion_len, soft_punish_cache):
    """DAPO's soft overlong punishment on token counts: 0 up to max_completion_len - soft_punish_cache, then
    falling linearly to -1 at max_completion_len, and -1 beyond."""

    def soft_overlong_punishment_reward(completion_ids: list[list[int]], **kwargs) -> list[float]:
        out = []
        for ids in completion_ids:
            n = len(ids)
            if n <= max_completion_len - soft_punish_cache:
                out.append(0.0)
            elif n <= max_completion_len:
                out.append((max_completion_len - soft_punish_cache - n) / soft_punish_cache)
            else:
                out.append(-1.0)
        return out

    return soft_overlong_punishment_reward
