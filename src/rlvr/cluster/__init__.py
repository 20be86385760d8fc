"""Where the roles of a GRPO step run: `cluster.backend` picks one entry of BACKENDS.

A backend starts the roles and hands them to the trainer's phase loop as `Workers`:

    engine     rollout.Engine: sync(policy), generate(...), submit(...) -> Pending
    score      (examples, completions, completion_ids) -> rewards.Scores      the reward phase
    learner    update(batch) -> stats, lr(), policy(), save(...), state       the update phase
    tokenizer  the policy's tokenizer: prompts are rendered where the loop runs

    local   everything in this process (cluster/local.py)
    ray     rollout workers, reward workers and data-parallel learners as Ray actors (cluster/ray_backend.py)

Adding a backend is one module with a `start(cfg, *, task, reward_fns, from_python, checkpoint, console)
-> Workers` and one entry below. The data of a step flows one way: engine -> score -> (advantages, in the loop) -> learner.
"""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Workers:
    engine: Any
    score: Callable
    learner: Any
    tokenizer: Any
    close: Callable[[], None] = field(default=lambda: None)


BACKENDS = {"local": "rlvr.cluster.local", "ray": "rlvr.cluster.ray_backend"}  # `cluster.backend` -> module


def check(cfg) -> None:
    """Fail now, naming the fix, if the backend cannot start here (before a run folder is written)."""
    if cfg.cluster.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise ImportError("cluster.backend=ray needs Ray, which is not installed: pip install 'rlvr[ray]'")


def start(cfg, *, task, reward_fns, from_python: bool, checkpoint, console) -> Workers:
    """Start the roles of `cfg.cluster.backend`. `reward_fns`: the run's rewards (`from_python`: callables
    given to `rlvr.train`, which must travel as they are); `checkpoint`: the folder to resume from, or None."""
    module = importlib.import_module(BACKENDS[cfg.cluster.backend])
    return module.start(cfg, task=task, reward_fns=reward_fns, from_python=from_python, checkpoint=checkpoint,
                        console=console)
