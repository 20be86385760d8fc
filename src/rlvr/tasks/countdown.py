"""Countdown: reach a target with the given numbers, each used exactly once, with + - * / and parentheses.

The completion's expression is parsed with `ast` and evaluated over exact rationals by a small interpreter
that knows only numbers, the four operations and parentheses: no names, calls, attributes or powers, so
nothing in the text can run code, and `9**9**9` is rejected at parse time instead of hanging the trainer.
"""

from __future__ import annotations

import ast
import operator
import random
import re
from collections import Counter
from fractions import Fraction

from rlvr.answers import last_tag, last_boxed
from rlvr.tasks import Check, Example, procedural_held_out, procedural_train

MAX_EXPRESSION_CHARS = 200
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_EXPR = re.compile(r"[\d(][\d\s+\-*/()×÷]*[\d)]")


def safe_eval(expr: str) -> Fraction | None:
    """Value of an expression of integers, + - * / and parentheses, or None if it is anything else."""
    if len(expr) > MAX_EXPRESSION_CHARS:
        return None
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except (SyntaxError, ValueError):
        return None

    def ev(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return Fraction(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise ZeroDivisionError
            return _OPS[type(node.op)](left, right)
        raise ValueError(f"not allowed: {type(node).__name__}")

    try:
        return ev(tree.body)
    except (ValueError, ZeroDivisionError, RecursionError):
        return None


def numbers_in(expr: str) -> list[int]:
    tree = ast.parse(expr.strip(), mode="eval")
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and type(n.value) is int]


def extract_expression(completion: str) -> str | None:
    """The expression in <answer>…</answer>, else \\boxed{…}, else the last run of arithmetic in the text
    that has an operator. A trailing `= target` is dropped; × and ÷ are read as * and /."""
    found = last_tag(completion, "answer") or last_boxed(completion)
    if found is None:
        runs = [m.group(0) for m in _EXPR.finditer(completion) if re.search(r"[+\-*/×÷]", m.group(0))]
        found = runs[-1] if runs else None
    if found is None:
        return None
    expr = found.replace("×", "*").replace("÷", "/").split("=")[0].strip()
    return expr or None


def check_countdown(completion: str, numbers: list[int], target: int) -> Check:
    expr = extract_expression(completion)
    if expr is None:
        return Check(False, None)
    value = safe_eval(expr)
    if value is None:
        return Check(False, expr)
    used_ok = Counter(numbers_in(expr)) == Counter(numbers)
    return Check(used_ok and value == target, expr)


class Countdown:
    reward = "countdown"

    def __init__(self, config):
        self.config = config

    def draw(self, rng: random.Random) -> Example:
        """Pick numbers, combine them in a random order with random operations; the result is the target,
        so every problem has at least one solution. Retries until the target is a positive integer in range."""
        c = self.config
        for _ in range(1000):
            numbers = [rng.randint(1, c.max_number) for _ in range(c.count)]
            order = numbers[:]
            rng.shuffle(order)
            expr = str(order[0])
            for n in order[1:]:
                expr = f"({expr} {rng.choice('+-*/')} {n})"
            value = safe_eval(expr)
            if value is not None and value.denominator == 1 and 1 <= value <= c.max_target:
                target = int(value)
                question = c.question.format(numbers=", ".join(map(str, numbers)), target=target)
                return Example(question=question, answer=str(target), columns={"numbers": numbers, "target": target})
        raise RuntimeError(f"could not draw a countdown problem for {c}")

    def example(self, index: int) -> Example:
        return procedural_train(self.draw, seed=self.config.seed, index=index, percent=self.config.held_out_percent)

    def held_out(self, n: int) -> list[Example]:
        return procedural_held_out(self.draw, n=n, seed=self.config.seed, percent=self.config.held_out_percent)

    def check(self, completion: str, example: Example) -> Check:
        return check_countdown(completion, example.columns["numbers"], example.columns["target"])
