"""Reward functions for the tests, importable by `rlvr train` subprocesses (`function: rlvr_test_helpers:…`)."""

import os
import signal
import time


def digit_share(prompts, completions, **kwargs):
    """Dense toy reward: the share of characters that are digits. A random byte-level model starts near 4%."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


def slow_digit_share(prompts, completions, **kwargs):
    """The same, but slow enough that a test can kill the run between steps."""
    time.sleep(0.4)
    return digit_share(prompts, completions)


# ----------------------------------------------------------------------------------- faults for the Ray backend
# These run inside a Ray reward worker, where `ray` is connected to the run's cluster and the rollout workers
# are named actors (`rollout-0`, `rollout-1`; a replacement gets a new name, so each fault fires once).


def _rollout_actor(name):
    import ray

    try:
        return ray.get_actor(name)
    except Exception:  # gone, or never there
        return None


def kill_rollout_worker_once(prompts, completions, **kwargs):
    """digit_share; the first call kills rollout worker 1 (ray.kill), so the next step must replace it."""
    import ray

    actor = _rollout_actor("rollout-1")
    if actor is not None:
        ray.kill(actor, no_restart=True)
    return digit_share(prompts, completions)


def stop_rollout_worker_once(prompts, completions, **kwargs):
    """digit_share; the first call freezes rollout worker 1 (SIGSTOP): a hung worker, alive but silent."""
    import ray

    actor = _rollout_actor("rollout-1")
    if actor is not None:
        try:
            os.kill(ray.get(actor.pid.remote(), timeout=30), signal.SIGSTOP)
        except Exception:
            pass
    return digit_share(prompts, completions)


def hang_on_second_prompt(prompts, completions, **kwargs):
    """digit_share, but it never returns for the smoke task's second question: a verifier that hangs on
    some samples (the first question's samples, tried alone first, still score)."""
    from rlvr import config, tasks

    second = tasks.build(config.load(preset="smoke").task).example(1).question
    if second in prompts:
        time.sleep(3600)
    return digit_share(prompts, completions)


def hang_always(prompts, completions, **kwargs):
    """A reward whose service is down: it never returns, whatever the sample."""
    time.sleep(3600)


class GradProbe:
    """One rank of a gloo learner group (a Ray actor in tests): the summed gradient after one update."""

    def __init__(self, cfg_data, rank, world, init_method):
        import torch
        import torch.distributed as dist

        from rlvr import config
        from rlvr.learner import Learner

        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world)
        self.learner = Learner(config.TrainConfig.model_validate(cfg_data), group=dist.group.WORLD)

    def gradient(self, batch):
        import torch

        stats = self.learner.update(batch)
        return torch.cat([p.grad.flatten() for p in self.learner.model.parameters() if p.requires_grad]), stats


# ----------------------------------------------------------------------------------- faults for run safety


def raise_on_call(prompts, completions, **kwargs):
    """digit_share, except that its call number $RLVR_TEST_RAISE_AT (counted in the file $RLVR_TEST_CALLS,
    so the count survives a resume in a new process) raises: a reward that fails at one step."""
    counter = os.environ["RLVR_TEST_CALLS"]
    calls = (int(open(counter).read()) if os.path.exists(counter) else 0) + 1
    with open(counter, "w") as f:
        f.write(str(calls))
    if calls == int(os.environ.get("RLVR_TEST_RAISE_AT", "0")):
        raise ConnectionError(f"the grader went away (call {calls})")
    return digit_share(prompts, completions)
