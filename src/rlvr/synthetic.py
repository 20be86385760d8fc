"""Built-in data for the R1 pipeline, so it runs with no external files.

- `reasoning_traces(task, n)`: cold-start SFT examples for a built-in task. Each is a chat pair whose answer is
  worked steps and a verification line inside `<think>…</think>`, then `<answer>…</answer>`. The steps are
  computed, not sampled, so every trace is correct.
- `general_chat(n)` and `preference_pairs(n)`: SFT data and Bradley-Terry pairs built from the general task's
  questions (`rlvr.tasks.general`: each with one concise, on-topic answer and four worse ones); half of the
  pairs contrast facts, half contrast form.

Every generator is a pure function of (seed, index): the same call writes the same file.
"""

from __future__ import annotations

import itertools
from fractions import Fraction

from rlvr.tasks import Example
from rlvr.tasks.countdown import safe_eval
from rlvr.tasks.general import general_examples

# ------------------------------------------------------------------------------------ reasoning traces

_PRECEDENCE = {"*": 1, "/": 1, "+": 0, "-": 0}
_APPLY = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
_INVERSE = {"+": ("-",), "-": ("+",), "*": ("/",), "/": ("*",)}


def _fmt(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"


def arithmetic_steps(expr: str) -> tuple[list[str], Fraction]:
    """School order of operations, one line per operation: '7 * 8 + 3' -> ['7 * 8 = 56', '56 + 3 = 59']."""
    tokens = expr.split()
    values = [Fraction(int(t)) for t in tokens[0::2]]
    ops = tokens[1::2]
    lines = []
    for level in (1, 0):
        i = 0
        while i < len(ops):
            if _PRECEDENCE[ops[i]] == level:
                a, b = values[i], values[i + 1]
                r = _APPLY[ops[i]](a, b)
                lines.append(f"{_fmt(a)} {ops[i]} {_fmt(b)} = {_fmt(r)}")
                values[i : i + 2] = [r]
                del ops[i]
            else:
                i += 1
    return lines, values[0]


def arithmetic_trace(example: Example) -> str:
    expr = example.columns["expression"]
    lines, result = arithmetic_steps(expr)
    tokens = expr.split()
    if len(tokens) == 3 and not (tokens[1] == "*" and "0" in (tokens[0], tokens[2])):  # check one operation by its inverse
        a, op, b = tokens
        if op == "*" and b == "0":
            a, b = b, a
        inv = _INVERSE[op][0]
        check = f"{_fmt(result)} {inv} {b} = {_fmt(_APPLY[inv](result, Fraction(int(b))))}, which gives back {a}."
    elif len(tokens) == 3:
        check = "any number times 0 is 0."
    else:
        check = f"going through {expr} again gives {_fmt(result)}."
    steps = " ".join(f"{line}." for line in lines)
    return f"<think>\nI need to compute {expr}. {steps}\nLet me verify: {check}\n</think>\n<answer>{_fmt(result)}</answer>"


def countdown_solution(numbers: list[int], target: int) -> list[tuple[str, str]] | None:
    """A sequence of (expression, step line) combining all numbers into the target, by exhaustive search."""

    def search(items: list[tuple[Fraction, str]], steps: list[str]):
        if len(items) == 1:
            return (items[0][1], steps) if items[0][0] == target else None
        for i, j in itertools.permutations(range(len(items)), 2):
            (a, ea), (b, eb) = items[i], items[j]
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            for op in "+-*/":
                if op == "/" and b == 0:
                    continue
                r = _APPLY[op](a, b)
                if r < 0 or r.denominator != 1:
                    continue
                found = search(rest + [(r, f"({ea} {op} {eb})")], steps + [f"{_fmt(a)} {op} {_fmt(b)} = {_fmt(r)}"])
                if found:
                    return found
        return None

    found = search([(Fraction(n), str(n)) for n in numbers], [])
    if found is None:
        return None
    expr, steps = found
    return [(expr[1:-1] if expr.startswith("(") else expr, s) for s in steps]


def countdown_trace(example: Example) -> str | None:
    numbers, target = example.columns["numbers"], example.columns["target"]
    solution = countdown_solution(numbers, target)
    if solution is None:
        return None
    expr = solution[0][0]
    steps = " ".join(f"{s}." for _, s in solution)
    assert safe_eval(expr) == target
    return (f"<think>\nI need {target} from {', '.join(map(str, numbers))}, each used once. {steps}\n"
            f"Let me verify: {expr} = {target}, and each number is used exactly once.\n</think>\n<answer>{expr}</answer>")


def reasoning_traces(task_config, n: int) -> list[dict]:
    """n chat examples {"messages": [user, assistant]} with worked reasoning for the task's training problems."""
    from rlvr import tasks

    task = tasks.build(task_config)
    make = {"arithmetic": arithmetic_trace, "countdown": countdown_trace}.get(task_config.kind)
    if make is None:
        raise ValueError(f"no built-in reasoning traces for task kind {task_config.kind!r}; give a JSONL file instead")
    out, seen, index = [], set(), 0
    while len(out) < n and index < 50 * n:
        ex = task.example(index)
        index += 1
        if ex.question in seen:
            continue
        trace = make(ex)
        if trace is None:
            continue
        seen.add(ex.question)
        out.append({"messages": [{"role": "user", "content": ex.question}, {"role": "assistant", "content": trace}]})
    return out


# ------------------------------------------------------------------------------------ general chat

def general_chat(n: int, *, seed: int = 0) -> list[dict]:
    """n chat examples answering general questions concisely (training split)."""
    return [{"messages": [{"role": "user", "content": ex.question}, {"role": "assistant", "content": ex.answer}]}
            for ex in general_examples(n, seed=seed)]


def preference_pairs(n: int, *, seed: int = 0, held_out: bool = False) -> list[dict]:
    """n pairs {"prompt", "chosen", "rejected"}: the concise on-topic answer over one of the worse ones."""
    out = []
    for i, ex in enumerate(general_examples(n, seed=seed, held_out=held_out)):
        # Half the pairs contrast the right fact with a wrong one in the same form, so the reward model cannot
        # score by form alone (with a quarter, GRPO against it learned concise wrong answers); the other half
        # contrast form: rambling, repetitive, off-topic.
        kind = "wrong" if i % 2 == 0 else ("off_topic", "rambling", "repetitive")[(i // 2) % 3]
        out.append({"prompt": ex.question, "chosen": ex.answer, "rejected": ex.columns["rejected"][kind]})
    return out
