"""rlvr: reinforcement learning from verifiable rewards (GRPO and the DeepSeek-R1 recipe)."""

__version__ = "0.1.0"


def train(config=None, *, reward_funcs=None, resume=None, **overrides):
    """Train with GRPO. `config`: a TrainConfig, a YAML path or None (the default preset); keyword overrides
    use `__` for dots (grpo__kl_coef=0.01). `reward_funcs`: callables with TRL's reward signature."""
    from rlvr import config as config_mod
    from rlvr.trainer import train as _train

    items = [f"{k.replace('__', '.')}={v}" for k, v in overrides.items()]
    if config is None or isinstance(config, str):
        config = config_mod.load(preset="default" if config is None else None, file=config, overrides=items)
    return _train(config, reward_funcs=reward_funcs, resume=resume)
