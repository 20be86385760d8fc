"""Rewards: plain Python callables with TRL's signature, weighted and summed.

    fn(prompts, completions, completion_ids, trainer_state, log_metric, log_extra, **columns) -> list[float | None]

`prompts` are the questions (before the prompt template) as the dataset holds them: text, or chat messages
(TRL's conversational format), for which each completion is `[{"role": "assistant", "content": text}]`
instead of the decoded text. `columns` holds every dataset field by name as a list aligned with the batch
(`answer`, and e.g. `numbers`, `target` for countdown); `trainer_state` (TrainerState) says how far the run
is, and `log_metric(name, value)` / `log_extra(column, values)` log a step metric and a rollouts column.
A function may be `async def` (the batch's are awaited together) and return Python, numpy or torch scalars.
`None` means "does not apply to this sample": it is left out of the weighted sum (and of that function's
logged mean). A function that raises stops the run with an error naming it and the sample.

Rewards are told apart by position: two with the same name (two closures from one factory, one built-in
twice with different `args`) get distinct names (`name`, `name_2`, ...) in the metrics and the total.
A run records each Python callable as `module:attr` so `rlvr train --resume` can import it again; one that
cannot be imported by name (a lambda, a closure, a function of `__main__`) is recorded as not importable,
and resuming without passing it again fails saying what to pass.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import importlib
import inspect
import json
import math
import numbers
import sys
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


# Recorded in config.yaml for a callable that cannot be imported by name: not a module name, so never imported.
NOT_IMPORTABLE = "<not importable>"
# What a reward function receives besides dataset columns: `args` may not take these names.
PASSED = frozenset({"prompts", "completions", "completion_ids", "answer", "trainer_state", "log_extra", "log_metric"})


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
        keys = [k for k in columns if k not in HOOKS]  # TRL's trainer_state, log_* are no columns
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
    """Fail on an unknown built-in reward name, or `args` given to a reward that takes none, before any model loads."""
    if spec.function:
        return
    if spec.name != "correct" and spec.name not in BUILTIN and spec.name not in FACTORIES:
        raise RewardError(f"unknown reward {spec.name!r}; built-in: correct, {', '.join([*BUILTIN, *FACTORIES])}")
    if spec.args and spec.name not in FACTORIES:
        raise RewardError(f"reward {spec.name!r} takes no args (got {spec.args}); args apply to "
                          f"{', '.join(FACTORIES)} and to `function:` rewards")


def resolve(spec, task: Task) -> Reward:
    """A config entry ({name, weight, args} or {function: 'module:attr', weight, args}) -> Reward. A function's
    `args` are passed to it as keyword arguments on every call."""
    if spec.function:
        module_name, _, attr = spec.function.partition(":")
        if module_name == NOT_IMPORTABLE:
            raise RewardError(
                f"reward {spec.name or attr!r} was a Python callable given to rlvr.train that cannot be imported by "
                f"name ({attr}: a lambda, a closure or a function of __main__), so this run cannot rebuild it; "
                f"continue it from Python with the same functions: rlvr.train(resume=RUN, reward_funcs=[...]), "
                f"or move the function into a module and set rewards=[{{function: 'module:name'}}]")
        try:
            fn = functools.reduce(getattr, attr.split("."), importlib.import_module(module_name))
        except (ImportError, AttributeError) as e:
            raise RewardError(f"reward function {spec.function!r} could not be imported: {e} (a module is found in "
                              f"the working directory, on PYTHONPATH or installed)") from e
        return Reward(spec.name or attr.rpartition(".")[2], _with_args(fn, spec.args, spec.function), spec.weight, _sources(spec))
    check_spec(spec)
    if spec.name == "correct":
        return Reward("correct", task_reward(task), spec.weight, _sources(spec))
    if spec.name in FACTORIES:
        try:
            fn = FACTORIES[spec.name](task, **spec.args)
        except TypeError as e:
            raise RewardError(f"reward {spec.name!r}: bad args {spec.args}: {e}") from None
        return Reward(spec.name, fn, spec.weight, _sources(spec))
    return Reward(spec.name, BUILTIN[spec.name], spec.weight, _sources(spec))


class _WithArgs(functools.partial):
    """A reward function with its config `args` bound as keywords (still a partial, so `inspect` sees the
    function's signature and whether it is async). A call that passes a column of the same name fails
    instead of letting the column silently win over the config."""

    def __call__(self, /, *args, **kwargs):
        clash = sorted(self.keywords.keys() & kwargs.keys())
        if clash:
            raise RewardError(f"args {clash} of {self.func!r} clash with the dataset columns of the same name")
        return super().__call__(*args, **kwargs)


def _with_args(fn, args: dict, where: str):
    if not args:
        return fn
    passed = sorted(PASSED & args.keys())
    if passed:
        raise RewardError(f"reward {where!r}: args {passed} are names the trainer passes to every reward function")
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a callable without a readable signature: its call will tell
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in args if k not in params or params[k].kind in (params[k].POSITIONAL_ONLY, params[k].VAR_POSITIONAL)]
        if unknown:
            raise RewardError(f"reward {where!r}: args {unknown} are not keyword parameters of the function "
                              f"(it takes {', '.join(params)})")
    return _WithArgs(fn, **args)


def import_path(fn) -> str | None:
    """`module:attr` that imports back to this very object, or None: a lambda, a closure not bound to a module
    name, a bound method, a function defined in `__main__` (a script that cannot be imported without running it)."""
    module_name = getattr(fn, "__module__", None)
    module = sys.modules.get(module_name) if module_name and module_name != "__main__" else None
    if module is None:
        return None
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str) and "<" not in qualname:
        obj = functools.reduce(lambda o, a: getattr(o, a, None), qualname.split("."), module)
        if obj is fn:
            return f"{module_name}:{qualname}"
    for attr, value in vars(module).items():  # e.g. `short = make_length_reward(40)` at module level
        if value is fn:
            return f"{module_name}:{attr}"
    return None


def from_callables(funcs, weights=None) -> list[Reward]:
    """Rewards for Python callables given to rlvr.train (TRL's `reward_funcs`), weights 1 unless given."""
    weights = [1.0] * len(funcs) if weights is None else list(weights)
    if len(weights) != len(funcs):
        raise RewardError(f"{len(weights)} reward weights for {len(funcs)} reward functions")
    return distinct([Reward(getattr(f, "__name__", f"reward_{i}"), f, float(w)) for i, (f, w) in enumerate(zip(funcs, weights))])


def record(reward: Reward) -> dict:
    """The config entry that rebuilds a callable's Reward on resume: `{name, function: module:attr, weight}`;
    a callable that cannot be imported by name is recorded as such (resolving it fails, naming what to pass)."""
    path = import_path(reward.fn)
    if path is None:
        where = f"{getattr(reward.fn, '__module__', '?')}.{getattr(reward.fn, '__qualname__', type(reward.fn).__name__)}"
        path = f"{NOT_IMPORTABLE}:{where}"
    entry = {"name": reward.name, "function": path, "weight": reward.weight}
    return entry if reward.sources is None else {**entry, "sources": list(reward.sources)}


def check_recorded(specs, run) -> None:
    """Before `run` resumes on its recorded rewards: fail, saying what to pass, if some were Python callables
    that cannot be imported by name."""
    lost = [f"{s.name} ({s.function.partition(':')[2]})" for s in specs
            if s.function and s.function.partition(":")[0] == NOT_IMPORTABLE]
    if lost:
        raise RewardError(
            f"{run} was trained on reward functions given to rlvr.train that cannot be imported by name: "
            f"{', '.join(lost)} (a lambda, a closure or a function of __main__). Continue it from Python with the "
            f"same functions: rlvr.train(resume={str(run)!r}, reward_funcs=[...]); or move them into a module "
            f"and pass rewards=[{{function: 'module:name'}}, ...] as an override")


def distinct(rewards: Sequence[Reward]) -> list[Reward]:
    """The rewards with distinct names, in order: a repeated name gets `_2`, `_3`, ... (the first keeps it).
    A list whose names are already distinct comes back unchanged."""
    taken: set[str] = set()
    out = []
    for r in rewards:
        name, k = r.name, 1
        while name in taken:
            k += 1
            name = f"{r.name}_{k}"
        taken.add(name)
        out.append(r if name == r.name else dataclasses.replace(r, name=name))
    return out


def _sources(spec) -> tuple[str, ...] | None:
    return tuple(spec.sources) if spec.sources is not None else None


def columns_of(examples: Sequence[Example]) -> dict[str, list]:
    keys = sorted({k for ex in examples for k in ex.columns} - {"answer"})
    cols = {"answer": [ex.answer for ex in examples]}
    cols.update({k: [ex.columns.get(k) for ex in examples] for k in keys})
    return cols


# What a reward function gets besides the batch and the dataset columns, as TRL passes them (never columns).
HOOKS = ("trainer_state", "log_extra", "log_metric")


@dataclass
class TrainerState:
    """The run's progress, as reward functions read it from TRL's `trainer_state` (for schedules, curricula)."""

    global_step: int = 0  # optimizer steps completed before this batch (0 while scoring the first)
    max_steps: int = 0  # the run's `steps`
    epoch: float = 0.0  # passes over the training rows so far (0.0 for a procedural task, which has no end)
    is_world_process_zero: bool = True
    is_local_process_zero: bool = True


@dataclass
class RewardLog:
    """What reward functions logged through TRL's hooks while scoring a batch. `log_metric(name, value)`: a
    scalar, averaged over the calls of a step when logged; `log_extra(column, values)`: one value per sample
    of the call's batch, a column of the logged rollouts (None where a call did not give one)."""

    metrics: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    extra: dict[str, list] = dataclasses.field(default_factory=dict)


def _number(v) -> float | None:
    """A real scalar as float: bool, int, float, and numpy or torch scalars (0-d arrays and tensors, which
    `.item()` reads). None for anything else (text, complex, a longer array)."""
    if isinstance(v, (bool, int, float, numbers.Real)):
        return float(v)
    if getattr(v, "ndim", None) == 0 and callable(getattr(v, "item", None)):
        item = v.item()
        if isinstance(item, (bool, int, float)):
            return float(item)
    return None


def _await_all(awaitables: list) -> list:
    """Results (or the exceptions raised) of awaitables, run concurrently on one event loop. Inside a running
    loop (a notebook), on a fresh loop in a helper thread, which the caller waits for."""

    async def gather():
        return await asyncio.gather(*awaitables, return_exceptions=True)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(gather())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, gather()).result()


def _call(fn, **kwargs):
    """fn(**kwargs), awaited if it is a coroutine function (one at a time: used to find a failing sample)."""
    got = fn(**kwargs)
    if inspect.isawaitable(got):
        got = _await_all([got])[0]
        if isinstance(got, BaseException):
            raise got
    return got


def score(
    rewards: Sequence[Reward], questions: list, completions: list[str], examples: Sequence[Example],
    completion_ids: list[list[int]] | None = None, *, state: TrainerState | None = None, log: RewardLog | None = None,
) -> tuple[dict[str, list[float]], list[float]]:
    """Run every reward on the batch: ({name: values, NaN where None}, weighted totals).

    Reward functions are called as TRL calls them: `prompts` as the dataset holds them (text, or lists of chat
    messages), `completions` as text, or for a conversational prompt as `[{"role": "assistant", "content":
    text}]`; every column by name; `completion_ids` (token ids without padding) when given; `trainer_state`
    (`state`); and `log_metric`/`log_extra`, which write into `log`. `async def` functions are awaited, all
    of the batch's together. A value may be a Python, numpy or torch scalar, or None; NaN and inf are errors."""
    columns = columns_of(examples)
    if all(ex.answer is None for ex in examples):  # a prompt-only dataset: no gold answer to pass
        del columns["answer"]
    if completion_ids is not None:
        columns["completion_ids"] = completion_ids
    state = state if state is not None else TrainerState()
    log = log if log is not None else RewardLog()
    shown = [[{"role": "assistant", "content": c}] if isinstance(q, list) and isinstance(c, str) else c
             for q, c in zip(questions, completions)]  # TRL's conversational completions
    rewards = distinct(rewards)  # values are kept by position: a repeated name must not overwrite another's
    calls = []
    for r in rewards:
        # Routing: the function sees only its sources' rows; the rest get None (the reward does not apply).
        rows = list(range(len(completions))) if r.sources is None else [
            i for i, ex in enumerate(examples) if ex.columns.get("source") in r.sources]
        sub = (questions, shown, columns) if len(rows) == len(completions) else (
            [questions[i] for i in rows], [shown[i] for i in rows], {k: [v[i] for i in rows] for k, v in columns.items()})
        hooks = {"trainer_state": state, "log_metric": functools.partial(_log_metric, log, r.name),
                 "log_extra": functools.partial(_log_extra, log, r.name, rows, len(completions))}
        try:
            got = r.fn(prompts=sub[0], completions=sub[1], **sub[2], **hooks) if rows else []
        except Exception as e:
            for *_, started in calls:  # async functions called before this one: never to be awaited now
                if inspect.iscoroutine(started):
                    started.close()
            raise RewardError(f"reward {r.name!r} raised {type(e).__name__}: {e}" + _locate(r, *sub, state)) from e
        calls.append((r, rows, sub, got))
    pending = [k for k, (_, _, _, got) in enumerate(calls) if inspect.isawaitable(got)]
    for k, got in zip(pending, _await_all([calls[k][3] for k in pending])):
        calls[k] = (*calls[k][:3], got)
    per_fn: dict[str, list[float]] = {}
    for r, rows, sub, got in calls:
        if isinstance(got, Exception):  # raised by an async function
            raise RewardError(f"reward {r.name!r} raised {type(got).__name__}: {got}" + _locate(r, *sub, state)) from got
        try:
            got = list(got)
        except TypeError:
            raise RewardError(f"reward {r.name!r} returned {type(got).__name__}, expected a list of floats") from None
        if len(got) != len(rows):
            raise RewardError(f"reward {r.name!r} returned {len(got)} values for {len(rows)} completions")
        clean = [math.nan] * len(completions)
        for i, v in zip(rows, got):
            if v is None:
                continue
            x = _number(v)
            if x is None:
                raise RewardError(f"reward {r.name!r} returned {type(v).__name__} for sample {i}, expected float or None")
            if math.isnan(x) or math.isinf(x):
                raise RewardError(f"reward {r.name!r} returned {v} for sample {i}: {completion_text(completions[i])[:200]!r}")
            clean[i] = x
        per_fn[r.name] = clean
    totals = []
    for i in range(len(completions)):
        parts = [r.weight * per_fn[r.name][i] for r in rewards if not math.isnan(per_fn[r.name][i])]
        totals.append(sum(parts))
    return per_fn, totals


def _log_metric(log: RewardLog, reward: str, name: str, value) -> None:
    x = _number(value)
    if x is None:
        raise RewardError(f"log_metric({name!r}, ...) from reward {reward!r}: expected a number, got {type(value).__name__}")
    log.metrics.setdefault(str(name), []).append(x)


def _log_extra(log: RewardLog, reward: str, rows: list[int], size: int, column: str, values) -> None:
    values = list(values)
    if len(values) != len(rows):
        raise RewardError(f"log_extra({column!r}, ...) from reward {reward!r}: {len(values)} values for the "
                          f"{len(rows)} samples it was called with")
    out = log.extra.setdefault(str(column), [None] * size)
    for i, v in zip(rows, values):
        out[i] = _plain(v)


def _plain(v):
    """A logged value as JSON data (it goes to rollouts.jsonl): numpy/torch scalars as floats, anything that
    JSON cannot hold as its repr (cut to 1000 characters)."""
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    if _number(v) is not None:
        return _number(v)
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return repr(v)[:1000]


@dataclass
class Scores:
    """A batch's scores, one entry per sample: each reward's values (NaN where it returned None), the
    weighted totals, the task's verdict (1/0; NaN where there is nothing to verify), and, for a sample whose
    scoring failed outside the reward functions (a reward worker that died or hung on it), why it scored 0.
    `log`: what the reward functions logged through `log_metric` and `log_extra`."""

    per_reward: dict[str, list[float]]
    totals: list[float]
    correct: list[float]
    errors: list[str | None]
    log: RewardLog = dataclasses.field(default_factory=RewardLog)

    @classmethod
    def cat(cls, parts: Sequence["Scores"]) -> "Scores":
        names = list(parts[0].per_reward) if parts else []
        log = RewardLog()
        for p in parts:
            for k, vs in p.log.metrics.items():
                log.metrics.setdefault(k, []).extend(vs)
        for k in {k for p in parts for k in p.log.extra}:  # a column some shards did not log: None there
            log.extra[k] = [v for p in parts for v in p.log.extra.get(k, [None] * len(p.totals))]
        return cls({k: [v for p in parts for v in p.per_reward[k]] for k in names},
                   [t for p in parts for t in p.totals], [c for p in parts for c in p.correct],
                   [e for p in parts for e in p.errors], log)


def score_samples(rewards: Sequence[Reward], task: Task, examples: Sequence[Example], completions: list[str],
                  completion_ids: list[list[int]] | None = None, state: TrainerState | None = None) -> Scores:
    """The reward phase on a list of samples (each example repeated per sample): `score` plus the task's verdict."""
    log = RewardLog()
    per_reward, totals = score(rewards, [ex.question for ex in examples], completions, examples, completion_ids,
                               state=state, log=log)
    correct = []
    for c, ex in zip(completions, examples):
        verdict = task.check(c, ex).correct
        correct.append(math.nan if verdict is None else float(verdict))
    return Scores(per_reward, totals, correct, [None] * len(completions), log)


def _locate(r: Reward, questions, completions, columns, state) -> str:
    """Find the failing sample by calling the function on one sample at a time (what it logs is dropped)."""
    hooks = {"trainer_state": state, "log_metric": lambda *a, **k: None, "log_extra": lambda *a, **k: None}
    for i in range(len(completions)):
        try:
            _call(r.fn, prompts=questions[i : i + 1], completions=completions[i : i + 1],
                  **{k: v[i : i + 1] for k, v in columns.items()}, **hooks)
        except Exception:
            return f"\n  on sample {i}: prompt={str(questions[i])[:200]!r}\n  completion={str(completions[i])[:200]!r}"
    return ""
