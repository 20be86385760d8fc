"""Format reward: the R1-Zero layout `<think>…</think> <answer>…</answer>`, each tag exactly once."""

from __future__ import annotations

import re

from rlvr.answers import completion_text

_LAYOUT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def is_r1_format(completion: str) -> bool:
    if any(completion.count(t) != 1 for t in _TAGS):
        return False
    m = _LAYOUT.fullmatch(completion)
    return bool(m) and m.group(2).strip() != ""


def r1_format(prompts, completions, **_) -> list[float]:
    """1.0 if the completion is exactly one think block followed by one non-empty answer block."""
    return [float(is_r1_format(completion_text(c))) for c in completions]
