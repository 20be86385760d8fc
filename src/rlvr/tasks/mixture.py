"""A mixture of tasks in one prompt stream (R1's stage 4: verifiable and general prompts together).

Example `index` picks its part from an RNG seeded by (seed, index), weighted, and takes that part's example
`index`; the part's name goes into the `source` column, which reward routing (`rewards[].sources`) and the
checker use. The held-out set is each part's held-out set in proportion to the weights.
"""

from __future__ import annotations

from dataclasses import replace

from rlvr.tasks import Check, Example, example_rng


class Mixture:
    reward = "correct"

    def __init__(self, config):
        from rlvr import tasks

        self.config = config
        self.parts = {p.name: tasks.build(p.task) for p in config.parts}
        self.weights = [p.weight for p in config.parts]

    @staticmethod
    def _tag(ex: Example, name: str) -> Example:
        return replace(ex, columns={**ex.columns, "source": name})

    def example(self, index: int) -> Example:
        part = example_rng(self.config.seed, index).choices(self.config.parts, weights=self.weights)[0]
        return self._tag(self.parts[part.name].example(index), part.name)

    def held_out(self, n: int) -> list[Example]:
        total = sum(self.weights)
        out = []
        for p in self.config.parts:
            out += [self._tag(ex, p.name) for ex in self.parts[p.name].held_out(max(1, round(n * p.weight / total)))]
        return out

    def check(self, completion: str, example: Example) -> Check:
        return self.parts[example.columns["source"]].check(completion, example)
