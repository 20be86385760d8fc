"""rlvr: reinforcement learning from verifiable rewards (GRPO and the DeepSeek-R1 recipe)."""

import importlib

__version__ = "0.1.0"

# Submodules reachable as attributes (`rlvr.rewards.math_answer`) without paying their imports at `import rlvr`.
_LAZY = ("algos", "config", "rewards", "tasks", "verifiers")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"rlvr.{name}")
    raise AttributeError(f"module 'rlvr' has no attribute {name!r}")


def train(config=None, *, preset: str = "default", reward_funcs=None, resume=None, **overrides):
    """Train with GRPO; returns the run folder.

    `config`: None (the preset), a YAML path (merged over the preset, as `rlvr train --config` does) or a
    TrainConfig. Keyword overrides apply on top, with `__` for dots (`grpo__kl_coef=0.01`); their values keep
    their Python types (`name="2024"` stays a string). `reward_funcs`: callables with TRL's reward signature,
    used instead of the config's `rewards`."""
    from rlvr import config as config_mod
    from rlvr.trainer import train as _train

    cfg = config_mod.from_python(config, preset=preset, overrides=overrides)
    return _train(cfg, reward_funcs=reward_funcs, resume=resume)
