"""rlvr: reinforcement learning from verifiable rewards (GRPO and the DeepSeek-R1 recipe)."""

import importlib

__version__ = "0.1.0"

# Submodules reachable as attributes (`rlvr.rewards.math_answer`) without paying their imports at `import rlvr`.
_LAZY = ("algos", "config", "rewards", "tasks", "verifiers")


def __getattr__(name: str):
    if name in _LAZY:
        return importlib.import_module(f"rlvr.{name}")
    raise AttributeError(f"module 'rlvr' has no attribute {name!r}")


def train(config=None, *, preset: str | None = None, reward_funcs=None, reward_weights=None, train_dataset=None,
          eval_dataset=None, resume=None, **overrides):
    """Train with GRPO; returns the run folder.

    The config means what `rlvr train` makes of it (`rlvr.config.from_python`): `config` (None, a YAML path, or
    a TrainConfig) sets its keys over the preset (`preset=`, default `default`); a TrainConfig built in Python
    sets only the fields given to it, so `TrainConfig(steps=3)` is `rlvr train steps=3`. Keyword overrides
    apply on top, with `__` for dots (`grpo__kl_coef=0.01`); their values keep their Python types
    (`name="2024"` stays a string).

    `reward_funcs`: callables with TRL's reward signature, used instead of the config's `rewards`. The run's
    config.yaml records each as `module:attr`, so `rlvr train --resume RUN` trains on the same functions; a
    lambda, a closure or a function of a script's `__main__` cannot be imported by name, and such a run is
    continued by passing the functions again. `reward_weights`: their weights in the summed reward, in order
    (TRL's GRPOConfig.reward_weights; default 1 each).

    `train_dataset`, `eval_dataset` (TRL's names): a `datasets.Dataset` (a DatasetDict: its `task.split`) or
    a list of row dicts, read as a `jsonl` task (`task__answer_field=...` etc. apply); without `eval_dataset`
    the last `task__held_out` rows are held out. The run keeps a copy under RUN/data/ (save_to_disk), which
    config.yaml names, so `rlvr train --resume RUN` reads it.

    `resume`: a run folder to continue. Its recorded config.yaml takes the preset's place: the run keeps its
    model, steps and rewards, and `config`/overrides given with it change only what they set."""
    from rlvr import config as config_mod
    from rlvr.trainer import train as _train

    if reward_weights is not None and reward_funcs is None:
        raise config_mod.ConfigError("reward_weights weigh reward_funcs; for the config's rewards set rewards[].weight")
    if train_dataset is not None:  # a jsonl task that reads it (the trainer fills in where the run keeps it)
        overrides = {"task__kind": "jsonl", "task__path": "<train_dataset>", **overrides}
    elif eval_dataset is not None:
        raise config_mod.ConfigError("eval_dataset is given without train_dataset")
    cfg = config_mod.from_python(config, preset=preset, overrides=overrides, resume=resume)
    if resume is not None:
        from rlvr import rewards

        if reward_funcs is None:
            rewards.check_recorded(cfg.rewards, resume)
        elif reward_weights is None and len(reward_funcs) == len(cfg.rewards) and all(s.function for s in cfg.rewards):
            reward_weights = [s.weight for s in cfg.rewards]  # functions given again keep the weights they trained with
    return _train(cfg, reward_funcs=reward_funcs, reward_weights=reward_weights, train_dataset=train_dataset,
                  eval_dataset=eval_dataset, resume=resume)
