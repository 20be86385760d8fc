"""General chat prompts: questions with no verifiable answer, for preference rewards (R1's stage 4).

The `answer` column holds one concise reference answer, so reference-based rewards can use it; the task's
checker has nothing to verify and returns `correct=None`, which leaves these prompts out of accuracy.
"""

from __future__ import annotations

from rlvr import synthetic
from rlvr.tasks import Check, Example


class General:
    reward = "preference"

    def __init__(self, config):
        self.config = config

    def example(self, index: int) -> Example:
        import random

        return synthetic.general_prompt(random.Random(f"general-{self.config.seed}-train-{index}"))

    def held_out(self, n: int) -> list[Example]:
        return synthetic.general_examples(n, seed=self.config.seed, held_out=True)

    def check(self, completion: str, example: Example) -> Check:
        return Check(correct=None, extracted=None)
