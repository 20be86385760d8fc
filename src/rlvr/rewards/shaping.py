"""Shaping rewards: language consistency and length, each a TRL-signature reward factory.

- `language_consistency(script)`: the share of the reasoning's letters written in the target script. R1 added
  this to stop R1-Zero's mid-sentence language mixing. Letters are classified by Unicode name (LATIN, CJK,
  CYRILLIC, ...), so digits, punctuation and LaTeX do not count either way.
- `overlong_penalty(max_tokens, buffer_tokens)`: DAPO's soft overlong punishment. 0 up to
  max_tokens - buffer_tokens, then falling linearly to -1 at max_tokens (and -1 beyond).
- `cosine_length(...)`: cosine length scaling ("Demystifying long CoT"). A correct answer earns more when
  short and a wrong one is penalised less when long, so the policy is not pushed to stop thinking early
  on problems it gets wrong.

Lengths are measured in tokens when `completion_ids` is passed (TRL and rlvr pass it), else in
whitespace-separated words.
"""

from __future__ import annotations

import math
import unicodedata

from rlvr.answers import completion_text, last_tag

SCRIPTS = {
    "latin": ("LATIN",),
    "cjk": ("CJK", "HIRAGANA", "KATAKANA", "HANGUL"),
    "chinese": ("CJK",),
    "cyrillic": ("CYRILLIC",),
    "greek": ("GREEK",),
    "arabic": ("ARABIC",),
    "devanagari": ("DEVANAGARI",),
}


def script_share(text: str, script: str) -> float | None:
    """Share of letters in `script`; None if the text has no letters at all."""
    prefixes = SCRIPTS[script]
    total = hits = 0
    for ch in text:
        if not ch.isalpha():
            continue
        total += 1
        name = unicodedata.name(ch, "")
        hits += name.startswith(prefixes)
    return hits / total if total else None


def reasoning_script_share(text: str, script: str) -> float | None:
    """`script_share` of the reasoning: the `<think>` block when there is one, else the whole text."""
    think = last_tag(text, "think")
    return script_share(think if think is not None else text, script)


def _lengths(completions, completion_ids) -> list[int]:
    if completion_ids is not None:
        return [len(ids) for ids in completion_ids]
    return [len(completion_text(c).split()) for c in completions]


def language_consistency(script: str = "latin", *, reasoning_only: bool = True):
    """Reward = share of the reasoning's letters in `script`. The reasoning is the `<think>` block when
    there is one and `reasoning_only` is set, else the whole text. A text without letters scores 1."""
    if script not in SCRIPTS:
        raise ValueError(f"unknown script {script!r}; known: {', '.join(SCRIPTS)}")

    def language_consistency(prompts, completions, **_) -> list[float]:
        out = []
        for c in completions:
            text = completion_text(c)
            share = reasoning_script_share(text, script) if reasoning_only else script_share(text, script)
            out.append(1.0 if share is None else share)
        return out

    return language_consistency


def overlong_penalty(max_tokens: int, buffer_tokens: int):
    if not 0 < buffer_tokens <= max_tokens:
        raise ValueError("overlong_penalty needs 0 < buffer_tokens <= max_tokens")

    def overlong_penalty(prompts, completions, completion_ids=None, **_) -> list[float]:
        start = max_tokens - buffer_tokens
        return [max(-1.0, min(0.0, (start - n) / buffer_tokens)) for n in _lengths(completions, completion_ids)]

    return overlong_penalty


def cosine_length(correct_fn, *, max_tokens: int, correct_short: float = 2.0, correct_long: float = 1.0,
                  wrong_short: float = -10.0, wrong_long: float = 0.0, truncated: float = -10.0):
    """Wraps a 0/1 correctness reward: r = end + (start - end) * (1 + cos(pi * n / max_tokens)) / 2, with
    (start, end) = (correct_short, correct_long) if correct else (wrong_short, wrong_long); `truncated` at
    or beyond max_tokens."""

    def cosine_length(prompts, completions, completion_ids=None, **columns) -> list[float]:
        verdicts = correct_fn(prompts=prompts, completions=completions, **columns)
        out = []
        for ok, n in zip(verdicts, _lengths(completions, completion_ids)):
            if n >= max_tokens:
                out.append(truncated)
                continue
            start, end = (correct_short, correct_long) if ok == 1 else (wrong_short, wrong_long)
            out.append(end + (start - end) * (1 + math.cos(math.pi * n / max_tokens)) / 2)
        return out

    return cosine_length

