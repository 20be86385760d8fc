"""The Ray backend on a local Ray with this machine's CPUs: same results as the local backend, data-parallel
learners, one-step asynchronous training, and workers that die or hang."""

import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import rlvr
from rlvr import config, trainer
from conftest import TESTS, rlvr_env

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

COMMON = ["steps=3", "eval.at_start=false", "checkpoint.save_every=0", "log.report_to=[]", "grpo.kl_coef=0.01"]
RAY = ["cluster.backend=ray", "cluster.rollout_workers=2", "cluster.learners=1"]


@pytest.fixture(scope="module")
def cluster():
    """One local Ray for the module's in-process runs (the runs find it and leave it running)."""
    threads = torch.get_num_threads()
    ray.init(num_cpus=8, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    torch.set_num_threads(1)  # the local runs compare with single-threaded Ray actors
    yield
    ray.shutdown()
    torch.set_num_threads(threads)


def tiny(tmp_path, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", *COMMON, *overrides])


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def assert_same_run(a: Path, b: Path):
    """Same rollouts token for token (their texts), and the same metrics up to float reduction order."""
    ra, rb = read_jsonl(a / "rollouts.jsonl"), read_jsonl(b / "rollouts.jsonl")
    assert [r["completion"] for r in ra] == [r["completion"] for r in rb]
    for name in ("metrics.jsonl", "eval.jsonl"):
        ma, mb = read_jsonl(a / name), read_jsonl(b / name)
        assert [m["step"] for m in ma] == [m["step"] for m in mb], name
        for x, y in zip(ma, mb):
            for key in x:
                if "seconds" in key or not isinstance(x[key], float):
                    continue
                assert math.isclose(x[key], y[key], rel_tol=1e-4, abs_tol=1e-6) or (math.isnan(x[key]) and math.isnan(y[key])), (name, key, x[key], y[key])


def run(cfg, funcs, console_file=None):
    from rich.console import Console

    console = Console(file=console_file or io.StringIO(), width=200)
    return trainer.train(cfg, reward_funcs=funcs, console=console)


def test_ray_with_two_rollout_workers_matches_the_local_backend(tmp_path, cluster):
    from rlvr_test_helpers import digit_share

    local = run(tiny(tmp_path, "name=local", "threads=1"), [digit_share])
    remote = run(tiny(tmp_path, "name=ray", *RAY), [digit_share])
    assert_same_run(local, remote)
    assert len(read_jsonl(remote / "rollouts.jsonl")) == 3 * 2 * 4
    assert (remote / "checkpoints" / "step-000003" / "model.safetensors").exists()  # learner 0 saved it here


def test_two_learners_give_the_same_gradient_as_one(tmp_path, cluster):
    """The summed gradient of 2 ranks, each on half the batch, equals one learner's on all of it."""
    import functools

    from rlvr import rewards, tasks
    from rlvr.learner import Learner
    from rlvr.rollout import TransformersEngine
    from rlvr_test_helpers import GradProbe, digit_share

    cfg = tiny(tmp_path, "grpo.skip_zero_signal_groups=false", "optim.micro_batch_size=3", "grpo.prompts_per_step=3")
    one = Learner(cfg)
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(3)]
    gen = trainer.rollout(TransformersEngine(one.model, one.tokenizer), one.tokenizer, cfg, examples, 0).result()
    batch = trainer.advantage(trainer.reward(functools.partial(rewards.score_samples, [rewards.Reward("d", digit_share)], task),
                                             examples, gen, 1, 4), cfg)
    stats_one = one.update(batch)
    grad_one = torch.cat([p.grad.flatten() for p in one.model.parameters() if p.requires_grad])

    probe = ray.remote(GradProbe)
    port = 29000 + os.getpid() % 1000
    ranks = [probe.options(num_cpus=1).remote(cfg.model_dump(mode="json"), r, 2, f"tcp://127.0.0.1:{port}") for r in range(2)]
    (g0, s0), (g1, s1) = ray.get([a.gradient.remote(batch) for a in ranks])
    for a in ranks:
        ray.kill(a)
    assert torch.equal(g0, g1)  # every rank holds the same summed gradient
    assert torch.allclose(g0, grad_one, atol=1e-6, rtol=1e-4)
    assert s0 == s1
    for key in ("loss", "grad_norm", "entropy", "kl", "clip_low_fraction"):
        assert s0[key] == pytest.approx(stats_one[key], rel=1e-4, abs=1e-7), key


def test_async_mode_logs_staleness_and_importance_weights_and_matches_local(tmp_path, cluster):
    from rlvr_test_helpers import digit_share

    common = ["cluster.async_steps=1", "optim.lr=1e-2"]
    remote = run(tiny(tmp_path, "name=ray", *RAY, *common), [digit_share])
    metrics = read_jsonl(remote / "metrics.jsonl")
    assert [m["staleness"] for m in metrics] == [0, 1, 1]
    for m in metrics:
        assert {"importance/mean", "importance/max", "importance/capped_fraction"} <= set(m)
    # step 1 samples from the weights it trains: the weights agree up to engine numerics
    assert metrics[0]["importance/mean"] == pytest.approx(1.0, abs=1e-3)
    # later steps sample from one update earlier: with a large learning rate the ratios move off 1
    assert metrics[2]["importance/max"] > 1.0 + 1e-3
    # the local backend runs the same schedule without the overlap, so it gives the same run
    local = run(tiny(tmp_path, "name=local", "threads=1", *common), [digit_share])
    assert_same_run(local, remote)


def test_a_killed_rollout_worker_is_replaced_and_the_run_completes_unchanged(tmp_path, cluster):
    from rlvr_test_helpers import digit_share, kill_rollout_worker_once

    log = io.StringIO()
    killed = run(tiny(tmp_path, "name=killed", *RAY), [kill_rollout_worker_once], console_file=log)
    assert "rollout worker rollout-1" in log.getvalue() and "died" in log.getvalue(), log.getvalue()
    assert [m["step"] for m in read_jsonl(killed / "metrics.jsonl")] == [1, 2, 3]
    straight = run(tiny(tmp_path, "name=straight", "threads=1"), [digit_share])
    # the retried shard was sampled from the same weights with the same seeds: the same rollouts
    assert [r["completion"] for r in read_jsonl(killed / "rollouts.jsonl")] == \
        [r["completion"] for r in read_jsonl(straight / "rollouts.jsonl")]


def test_a_hung_rollout_worker_is_named_killed_and_replaced(tmp_path, cluster):
    from rlvr_test_helpers import stop_rollout_worker_once

    log = io.StringIO()
    t0 = time.monotonic()
    hung = run(tiny(tmp_path, "name=hung", *RAY, "cluster.worker_timeout_s=8"), [stop_rollout_worker_once], console_file=log)
    text = log.getvalue()
    assert "rollout-1 (pid" in text and "did not answer within 8 s" in text, text
    assert [m["step"] for m in read_jsonl(hung / "metrics.jsonl")] == [1, 2, 3]
    assert time.monotonic() - t0 < 120


def test_a_reward_that_hangs_on_some_samples_scores_them_zero_with_a_reason(tmp_path, cluster):
    from rlvr_test_helpers import hang_on_second_prompt

    cfg = tiny(tmp_path, "name=hang", *RAY, "steps=1", "cluster.worker_timeout_s=3", "eval.at_end=false")
    out = run(cfg, [hang_on_second_prompt])
    rollouts = read_jsonl(out / "rollouts.jsonl")
    second = rollouts[-1]["prompt"]
    hung = [r for r in rollouts if r["prompt"] == second]
    rest = [r for r in rollouts if r["prompt"] != second]
    assert len(hung) == 4 and len(rest) == 4
    assert all(r["reward"] == 0.0 and "did not answer within 3 s" in r["reward_error"] for r in hung)
    assert all("reward_error" not in r for r in rest)
    assert read_jsonl(out / "metrics.jsonl")[0]["reward_error_fraction"] == pytest.approx(0.5)


def test_a_reward_that_hangs_on_everything_gives_up_after_a_few_samples(tmp_path, cluster):
    """A reward service that is down: the shard is tried twice, then 3 samples alone, and the rest score 0
    without a timeout each, so the step ends in ~5 timeouts instead of one per sample."""
    from rlvr_test_helpers import hang_always

    cfg = tiny(tmp_path, "name=down", *RAY, "steps=1", "cluster.worker_timeout_s=2", "eval.at_end=false",
               "grpo.prompts_per_step=4")
    out = run(cfg, [hang_always])
    rollouts = read_jsonl(out / "rollouts.jsonl")
    assert len(rollouts) == 16 and all(r["reward"] == 0.0 for r in rollouts)
    alone = [r for r in rollouts if "did not answer within 2 s" in r["reward_error"]]
    skipped = [r for r in rollouts if r["reward_error"].startswith("not scored")]
    assert len(alone) == 3 and len(skipped) == 13
    # (so the step costs 5 timeouts and worker restarts, not 16)


def test_a_ray_run_resumes_after_sigkill_of_the_driver(tmp_path):
    """`rlvr train` on Ray (its own local Ray), SIGKILLed after a checkpoint, then resumed: the same metrics
    and rollouts as an uninterrupted run."""
    common = ["--preset", "smoke", f"output_dir={tmp_path}", "steps=4", "checkpoint.save_every=1", "log.report_to=[]",
              "eval.at_start=false", "log.progress=false", "rewards=[{function: 'rlvr_test_helpers:slow_digit_share'}]"]
    ray_args = ["cluster.backend=ray", "cluster.rollout_workers=2"]
    env = rlvr_env()
    subprocess.run([sys.executable, "-m", "rlvr", "train", *common, "name=straight", "threads=1"], cwd=tmp_path, env=env,
                   check=True, capture_output=True, timeout=300)
    proc = subprocess.Popen([sys.executable, "-m", "rlvr", "train", *common, *ray_args, "name=killed"], cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # the driver only: its Ray processes must notice and go
    proc.wait()
    assert len(metrics.read_text().splitlines()) < 4, "the run finished before it could be killed"
    done = subprocess.run([sys.executable, "-m", "rlvr", "train", "--resume", str(tmp_path / "killed")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "resuming" in done.stderr
    assert_same_run(tmp_path / "straight", tmp_path / "killed")
