"""Arithmetic: `a op b [op c ...]` with integer operands of a given number of digits and an exact answer.

level = number of operations (1: `7 * 8`, 2: `7 * 8 + 3`, ...); a list of levels mixes difficulties, each
example's level in its `level` column (the emergence metrics split lengths by it). Division is exact (the dividend is built as
divisor * quotient) so every answer is an integer. Precedence is Python's, which matches school arithmetic.
"""

from __future__ import annotations

import random

from rlvr.answers import check_answer
from rlvr.tasks.countdown import safe_eval
from rlvr.tasks import Check, Example, procedural_held_out, procedural_train

SYMBOLS = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


class Arithmetic:
    reward = "math_answer"

    def __init__(self, config):
        self.config = config

    def _operand(self, rng: random.Random) -> int:
        digits = self.config.digits
        return rng.randint(0 if digits == 1 else 10 ** (digits - 1), 10**digits - 1)

    def draw(self, rng: random.Random) -> Example:
        levels = self.config.level if isinstance(self.config.level, list) else [self.config.level]
        for _ in range(1000):
            level = rng.choice(levels) if len(levels) > 1 else levels[0]  # one level: the draws stay as they were
            ops = [rng.choice(self.config.operations) for _ in range(level)]
            terms = [self._operand(rng)]
            for op in ops:
                b = self._operand(rng)
                if op == "div":  # make the left operand a multiple of a non-zero divisor
                    b = max(b, 1)
                    terms[-1] *= b
                terms.append(b)
            expr = " ".join([str(terms[0])] + [f"{SYMBOLS[op]} {b}" for op, b in zip(ops, terms[1:])])
            value = safe_eval(expr)
            if value is not None and value.denominator == 1:  # chained divisions can still be inexact
                question = self.config.question.format(expr=expr)
                return Example(question=question, answer=str(value.numerator), columns={"expression": expr, "level": level})
        raise RuntimeError(f"could not draw an exact arithmetic problem for {self.config}")

    def example(self, index: int) -> Example:
        return procedural_train(self.draw, seed=self.config.seed, index=index, percent=self.config.held_out_percent)

    def held_out(self, n: int) -> list[Example]:
        return procedural_held_out(self.draw, n=n, seed=self.config.seed, percent=self.config.held_out_percent)

    def check(self, completion: str, example: Example) -> Check:
        return check_answer(completion, example.answer, fallback_last_number=True)
