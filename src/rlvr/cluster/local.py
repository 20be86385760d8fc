"""The local backend: the learner, the rollout engine and the reward functions all in this process."""

from __future__ import annotations

import functools

import torch

from rlvr import rewards as rewards_mod, rollout
from rlvr.cluster import Workers
from rlvr.learner import Learner


def start(cfg, *, task, reward_fns, from_python, checkpoint, console) -> Workers:
    learner = Learner(cfg, checkpoint=checkpoint)
    # With bf16_autocast the engine samples from a bf16 copy that `sync` refreshes; otherwise from the policy.
    engine = rollout.build(cfg.generation, learner.model, learner.tokenizer,
                           weights_dtype=torch.bfloat16 if cfg.bf16_autocast else None)
    return Workers(engine, functools.partial(rewards_mod.score_samples, reward_fns, task), learner, learner.tokenizer)
