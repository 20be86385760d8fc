"""Rewards: plain Python callables with TRL's signature, weighted and summed.

    fn(prompts: list[str], completions: list[str], **columns) -> list[float | None]

`prompts` are the questions (before the prompt template), `completions` the decoded texts, and `columns`
holds every dataset field by name as a list aligned with the batch (`answer`, and e.g. `numbers`, `target`
for countdown). `None` means "does not apply to this sample": it is left out of the weighted sum (and of
that function's logged mean). A function that raises stops the run with an error naming it and the sample.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from rlvr.rewards import shaping
from rlvr.rewards.format import r1_format
from rlvr.answers import check_answer, completion_text
from rlvr.tasks import Example, Task
from rlvr.verifiers import VERIFIERS

RewardFn = Callable[..., Sequence[float | None]]


class RewardError(RuntimeError):
    pass


@dataclass(frozen=True)
class Reward:
    name: str
    fn: RewardFn
    weight: float = 1.0
    sources: tuple[str, ...] | None = None  # route: only examples whose `source` column is listed (None: all)


def math_answer(prompts, completions, answer, **_) -> list[float]:
    """1.0 if the completion's final answer equals the gold `answer` column, else 0.0."""
    return [float(check_answer(completion_text(c), str(a)).correct) for c, a in zip(completions, answer)]


def task_reward(task: Task) -> RewardFn:
    """1.0 if the task's own checker accepts the completion (its accuracy), else 0.0."""

    def correct(prompts, completions, answer, completion_ids=None, **columns) -> list[float | None]:
        keys = list(columns)
        out = []
        for i, (q, c, a) in enumerate(zip(prompts, completions, answer)):
            ex = Example(question=q, answer=a, columns={k: columns[k][i] for k in keys})
            verdict = task.check(completion_text(c), ex).correct  # chat messages too (TRL's conversational format)
            out.append(None if verdict is None else float(verdict))  # None: nothing to verify here
        return out

    return correct


BUILTIN: dict[str, RewardFn] = {"math_answer": math_answer, "format": r1_format}


def _verifier(cls):
    return lambda task, **kw: cls(**kw)


# Rewards built from config `args` (and the task, for those that wrap its checker).
FACTORIES = {
    "language_consistency": lambda task, **kw: shaping.language_consistency(**kw),
    "overlong_penalty": lambda task, **kw: shaping.overlong_penalty(**kw),
    "cosine_length": lambda task, **kw: shaping.cosine_length(task_reward(task), **kw),
    **{f"{kind}_verifier": _verifier(cls) for kind, cls in VERIFIERS.items()},
    "preference": lambda task, **kw: _preference(**kw),
}


def _preference(**kw):
    from rlvr.rm import PreferenceReward

    return PreferenceReward(**kw)


def check_spec(spec) -> None:
    """Fail on an unknown built-in reward name now, before any model loads."""
    if spec.name and not spec.function and spec.name != "correct" and spec.name not in BUILTIN and spec.name not in FACTORIES:
        raise RewardError(f"unknown reward {spec.name!r}; built-in: correct, {', '.join([*BUILTIN, *FACTORIES])}")


def resolve(spec, task: Task) -> Reward:
    """A config entry ({name, weight} or {function: 'module:attr', weight}) -> Reward."""
    if spec.function:
        module_name, _, attr = spec.function.partition(":")
        try:
            fn = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise RewardError(f"reward function {spec.function!r} could not be imported: {e}") from e
        return Reward(spec.name or attr, fn, spec.weight, _sources(spec))
    if spec.name == "correct":
        return Reward("correct", task_reward(task), spec.weight, _sources(spec))
    if spec.name in FACTORIES:
        try:
            fn = FACTORIES[spec.name](task, **spec.args)
        except TypeError as e:
            raise RewardError(f"reward {spec.name!r}: bad args {spec.args}: {e}") from None
        return Reward(spec.name, fn, spec.weight, _sources(spec))
    check_spec(spec)
    return Reward(spec.name, BUILTIN[spec.name], spec.weight, _sources(spec))


def _sources(spec) -> tuple[str, ...] | None:
    return tuple(spec.sources) if spec.sources is not None else None


def columns_of(examples: Sequence[Example]) -> dict[str, list]:
    keys = sorted({k for ex in examples for k in ex.columns} - {"answer"})
    cols = {"answer": [ex.answer for ex in examples]}
    cols.update({k: [ex.columns.get(k) for ex in examples] for k in keys})
    return cols


def score(
    rewards: Sequence[Reward], questions: list[str], completions: list[str], examples: Sequence[Example],
    completion_ids: list[list[int]] | None = None,
) -> tuple[dict[str, list[float]], list[float]]:
    """Run every reward on the batch: ({name: values, NaN where None}, weighted totals).
    `completion_ids` (token ids without padding) is passed as a column when given, as TRL does."""
    columns = columns_of(examples)
    if completion_ids is not None:
        columns["completion_ids"] = completion_ids
    per_fn: dict[str, list[float]] = {}
    for r in rewards:
        # Routing: the function sees only its sources' rows; the rest get None (the reward does not apply).
        rows = list(range(len(completions))) if r.sources is None else [
            i for i, ex in enumerate(examples) if ex.columns.get("source") in r.sources]
        sub = (questions, completions, columns) if len(rows) == len(completions) else (
            [questions[i] for i in rows], [completions[i] for i in rows], {k: [v[i] for i in rows] for k, v in columns.items()})
        try:
            got = list(r.fn(prompts=sub[0], completions=sub[1], **sub[2])) if rows else []
        except Exception as e:
            raise RewardError(f"reward {r.name!r} raised {type(e).__name__}: {e}" + _locate(r, *sub)) from e
        if len(got) != len(rows):
            raise RewardError(f"reward {r.name!r} returned {len(got)} values for {len(rows)} completions")
        values: list = [None] * len(completions)
        for i, v in zip(rows, got):
            values[i] = v
        clean = []
        for i, v in enumerate(values):
            if v is None:
                clean.append(math.nan)
            elif isinstance(v, (int, float)):  # bool is an int
                if math.isnan(float(v)) or math.isinf(float(v)):
                    raise RewardError(f"reward {r.name!r} returned {v} for sample {i}: {completions[i][:200]!r}")
                clean.append(float(v))
            else:
                raise RewardError(f"reward {r.name!r} returned {type(v).__name__} for sample {i}, expected float or None")
        per_fn[r.name] = clean
    totals = []
    for i in range(len(completions)):
        parts = [r.weight * per_fn[r.name][i] for r in rewards if not math.isnan(per_fn[r.name][i])]
        totals.append(sum(parts))
    return per_fn, totals


@dataclass
class Scores:
    """A batch's scores, one entry per sample: each reward's values (NaN where it returned None), the
    weighted totals, the task's verdict (1/0; NaN where there is nothing to verify), and, for a sample whose
    scoring failed outside the reward functions (a reward worker that died or hung on it), why it scored 0."""

    per_reward: dict[str, list[float]]
    totals: list[float]
    correct: list[float]
    errors: list[str | None]

    @classmethod
    def cat(cls, parts: Sequence["Scores"]) -> "Scores":
        names = list(parts[0].per_reward) if parts else []
        return cls({k: [v for p in parts for v in p.per_reward[k]] for k in names},
                   [t for p in parts for t in p.totals], [c for p in parts for c in p.correct],
                   [e for p in parts for e in p.errors])


def score_samples(rewards: Sequence[Reward], task: Task, examples: Sequence[Example], completions: list[str],
                  completion_ids: list[list[int]] | None = None) -> Scores:
    """The reward phase on a list of samples (each example repeated per sample): `score` plus the task's verdict."""
    per_reward, totals = score(rewards, [ex.question for ex in examples], completions, examples, completion_ids)
    correct = []
    for c, ex in zip(completions, examples):
        verdict = task.check(c, ex).correct
        correct.append(math.nan if verdict is None else float(verdict))
    return Scores(per_reward, totals, correct, [None] * len(completions))


def _locate(r: Reward, questions, completions, columns) -> str:
    """Find the failing sample by calling the function on one sample at a time."""
    for i in range(len(completions)):
        try:
            r.fn(prompts=questions[i : i + 1], completions=completions[i : i + 1], **{k: v[i : i + 1] for k, v in columns.items()})
        except Exception:
            return f"\n  on sample {i}: prompt={questions[i][:200]!r}\n  completion={completions[i][:200]!r}"
    return ""
