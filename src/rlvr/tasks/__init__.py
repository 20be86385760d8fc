"""Tasks: where prompts and gold answers come from.

A task is a deterministic stream of training examples (`example(index)`), a fixed held-out set
(`held_out(n)`) disjoint from training where the problem space allows it, and a checker that says whether a
completion is correct (`check`). Procedural tasks draw problem `index` from an RNG seeded by (seed, index),
so a run's data position is just an integer and resume needs nothing else.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Protocol

from rlvr.answers import Check  # a checker's verdict; defined with the answer helpers, which know no tasks


@dataclass(frozen=True)
class Example:
    # the problem as the user would ask it, before any prompt template: text, or chat messages [{role, content}]
    # (TRL's conversational format), which reward functions then receive as they are
    question: str | list[dict]
    answer: str | None  # the gold answer, as text (None: a prompt-only dataset, nothing to verify)
    columns: dict = field(default_factory=dict)  # extra fields handed to reward functions by name


class Task(Protocol):
    reward: str  # name of the built-in reward that scores correctness for this task

    def example(self, index: int) -> Example: ...

    def held_out(self, n: int) -> list[Example]: ...

    def check(self, completion: str, example: Example) -> Check: ...


def in_held_out(key: str, percent: int) -> bool:
    """Stable split: a problem is held out iff a hash of its text falls in the first `percent` of 100 buckets."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 100 < percent


def example_rng(seed: int, index: int) -> random.Random:
    return random.Random(seed * 1_000_003 + index)


def procedural_held_out(draw, *, n: int, seed: int, percent: int, attempts_per_item: int = 200) -> list[Example]:
    """Up to n distinct held-out problems from `draw(rng) -> Example`; fewer if the problem space is small."""
    rng = random.Random(f"held-out-{seed}")
    seen: dict[str, Example] = {}
    for _ in range(n * attempts_per_item):
        ex = draw(rng)
        if ex.question not in seen and in_held_out(ex.question, percent):
            seen[ex.question] = ex
            if len(seen) == n:
                break
    return list(seen.values())


def procedural_train(draw, *, seed: int, index: int, percent: int) -> Example:
    """Training problem `index`: the first draw from its own RNG that is not in the held-out split."""
    rng = example_rng(seed, index)
    for _ in range(10_000):
        ex = draw(rng)
        if not in_held_out(ex.question, percent):
            return ex
    raise RuntimeError("could not draw a training problem outside the held-out split; lower held_out_percent")


def build(config) -> Task:
    from rlvr.tasks.arithmetic import Arithmetic
    from rlvr.tasks.countdown import Countdown
    from rlvr.tasks.general import General
    from rlvr.tasks.jsonl import JsonlTask
    from rlvr.tasks.mixture import Mixture

    kinds = {"arithmetic": Arithmetic, "countdown": Countdown, "jsonl": JsonlTask, "general": General, "mixture": Mixture}
    return kinds[config.kind](config)
