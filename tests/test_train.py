"""End-to-end training on tiny random models: files, learning, resume, LoRA, interrupts, bad rewards."""

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import rlvr
from rlvr import config, policy, trainer
from conftest import rlvr_env

METRIC_KEYS = {
    "reward/mean", "reward/std", "accuracy", "completion_length/mean", "completion_length/min",
    "completion_length/max", "truncated_fraction", "reflection/r1_words/per_1k", "zero_signal_group_fraction", "kl",
    "entropy", "clip_low_fraction", "clip_high_fraction", "grad_norm", "lr", "seconds/generation",
    "seconds/reward", "seconds/update", "trained_fraction",
}


def tiny(tmp_path, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", *overrides])


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.slow
def test_smoke_preset_writes_every_file(run_rlvr, tmp_path):
    proc = run_rlvr("train", "--preset", "smoke", f"output_dir={tmp_path}/runs")
    run = tmp_path / "runs" / "smoke"
    assert f"run folder: {run}" in proc.stdout
    resolved = config.load(file=run / "config.yaml")  # the resolved config round-trips
    assert resolved.model == "tiny-random"
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4]
    assert METRIC_KEYS <= set(metrics[0]) and "reward/correct/mean" in metrics[0]
    rollouts = read_jsonl(run / "rollouts.jsonl")
    assert len(rollouts) == 4 * 2 * 4
    assert {"prompt", "completion", "rewards", "reward", "advantage", "step"} <= set(rollouts[0])
    evals = read_jsonl(run / "eval.jsonl")
    assert [e["step"] for e in evals] == [0, 4] and "eval/pass@4" in evals[0] and "eval/maj@4" in evals[0]
    assert any((run / "tensorboard").iterdir())
    ckpts = sorted((run / "checkpoints").iterdir())
    assert [c.name for c in ckpts] == ["step-000002", "step-000004"]
    state = torch.load(ckpts[-1] / "trainer_state.pt", weights_only=False)
    assert {"optimizer", "scheduler", "rng", "step", "data_position"} <= set(state) and state["data_position"] == 8
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(ckpts[-1])
    AutoTokenizer.from_pretrained(ckpts[-1])
    assert model.num_parameters() > 0


@pytest.mark.slow
def test_rl_raises_reward_on_a_tiny_model(tmp_path):
    from rlvr_test_helpers import digit_share

    cfg = tiny(tmp_path, "name=learn", "steps=30", "eval.at_start=false", "eval.at_end=false", "grpo.kl_coef=0",
               "grpo.prompts_per_step=4", "grpo.samples_per_prompt=8", "optim.lr=3e-3", "optim.micro_batch_size=32",
               "generation.max_new_tokens=8", "checkpoint.save_every=0", "log.report_to=[]")
    run = rlvr.train(cfg, reward_funcs=[digit_share])
    rewards = [m["reward/mean"] for m in read_jsonl(run / "metrics.jsonl")]
    first, last = sum(rewards[:5]) / 5, sum(rewards[-5:]) / 5
    assert last > first + 0.2, rewards


def _comparable(records):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in records]


@pytest.mark.slow
def test_sigkill_and_resume_matches_an_uninterrupted_run(tmp_path, run_rlvr):
    common = ["--preset", "smoke", f"output_dir={tmp_path}", "steps=6", "checkpoint.save_every=1",
              "rewards=[{function: 'rlvr_test_helpers:slow_digit_share'}]", "log.report_to=[]", "eval.at_start=false"]
    run_rlvr("train", *common, "name=straight", timeout=300)

    proc = subprocess.Popen([sys.executable, "-m", "rlvr", "train", *common, "name=killed"], cwd=tmp_path,
                            env=rlvr_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "killed" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert len(metrics.read_text().splitlines()) < 6, "the run finished before it could be killed"
    run_rlvr("train", "--resume", str(tmp_path / "killed"), timeout=300)

    for name in ("metrics.jsonl", "rollouts.jsonl", "eval.jsonl", "eval_samples.jsonl", "probes.jsonl"):
        a = _comparable(read_jsonl(tmp_path / "straight" / name))
        b = _comparable(read_jsonl(tmp_path / "killed" / name))
        assert a == b, name


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path):
    cmd = [sys.executable, "-m", "rlvr", "train", "--preset", "smoke", f"output_dir={tmp_path}", "name=int",
           "steps=50", "checkpoint.save_every=0", "rewards=[{function: 'rlvr_test_helpers:slow_digit_share'}]",
           "eval.at_start=false"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=rlvr_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = tmp_path / "int" / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not metrics.exists() or not metrics.read_text().strip()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "rlvr train --resume" in err
    ckpts = list((tmp_path / "int" / "checkpoints").glob("step-*"))
    assert len(ckpts) == 1
    step = int(ckpts[0].name.split("-")[1])
    assert step == len(read_jsonl(metrics))  # the checkpoint is at the last logged step


@pytest.mark.slow
def test_lora_with_kl_uses_the_base_as_reference(tmp_path):
    cfg = tiny(tmp_path, "name=lora", "steps=2", "lora.enabled=true", "lora.rank=4", "grpo.kl_coef=0.1",
               "grpo.updates_per_batch=2", "optim.lr=1e-2", "eval.at_start=false", "checkpoint.save_every=1")
    from rlvr_test_helpers import digit_share

    run = rlvr.train(cfg, reward_funcs=[digit_share])
    m = read_jsonl(run / "metrics.jsonl")
    assert m[0]["kl"] == pytest.approx(0.0, abs=1e-6)  # LoRA starts at the base: zero KL to it
    assert m[1]["kl"] > 0  # after an update the adapters moved away from the base
    ckpt = run / "checkpoints" / "step-000002"
    assert (ckpt / "adapter" / "adapter_config.json").exists() and (ckpt / "model.safetensors").exists()
    # resume loads the adapters and continues
    cfg2 = config.load(file=run / "config.yaml", overrides=["steps=3"])
    rlvr.train(cfg2, resume=run, reward_funcs=[digit_share])
    assert [r["step"] for r in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3]


def test_no_reference_model_without_kl(tmp_path):
    cfg = tiny(tmp_path, "grpo.kl_coef=0")
    model = torch.nn.Linear(1, 1)
    assert policy.reference(cfg, model, torch.device("cpu"), torch.float32) is None


def weights_after_one_update(cfg):
    """Build the tiny policy, roll out one batch and apply one update; return all weights, flattened.

    SGD with lr 1 moves each weight by exactly its gradient (Adam's first step is ~sign(g), which amplifies
    float noise in near-zero gradients), so equal weights mean equal gradients."""
    from rlvr import tasks
    from rlvr.learner import Learner
    from rlvr.rollout import TransformersEngine
    from rlvr_test_helpers import digit_share

    learner = Learner(cfg)
    learner.optimizer = torch.optim.SGD(learner.model.parameters(), lr=1.0)
    learner.scheduler = torch.optim.lr_scheduler.LambdaLR(learner.optimizer, lambda s: 1.0)
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(2)]
    tok = learner.tokenizer
    gen = trainer.rollout(TransformersEngine(learner.model, tok), tok, cfg, examples, 0).result()
    score = functools.partial(rlvr.rewards.score_samples, [rlvr.rewards.Reward("d", digit_share)], task)
    batch = trainer.reward(score, examples, gen, 1, 4)
    batch = trainer.advantage(batch, cfg)
    learner.update(batch)
    return torch.cat([p.detach().flatten() for p in learner.model.parameters()])


def test_update_is_invariant_to_micro_batching(tmp_path):
    """One optimizer step on 8 sequences gives the same weights with micro-batches of 8 and of 1."""
    common = ["grpo.prompts_per_step=2", "grpo.samples_per_prompt=4", "grpo.kl_coef=0.05", "optim.max_grad_norm=0",
              "grpo.skip_zero_signal_groups=false"]
    whole, split = (weights_after_one_update(tiny(tmp_path, f"optim.micro_batch_size={m}", *common)) for m in (8, 1))
    assert torch.allclose(whole, split, atol=1e-6)


def test_gradient_checkpointing_gives_the_same_update(tmp_path):
    """Also checks the shared-prompt pass (used without checkpointing) against the plain one (used with it)."""
    common = ["grpo.skip_zero_signal_groups=false", "grpo.kl_coef=0"]
    plain, recomputed = (weights_after_one_update(tiny(tmp_path, f"gradient_checkpointing={gc}", *common))
                         for gc in ("false", "true"))
    assert torch.allclose(plain, recomputed, atol=1e-6)


@pytest.mark.slow
def test_raising_reward_in_training_names_the_sample(tmp_path, run_rlvr):
    (tmp_path / "bad_reward.py").write_text(
        "def boom(prompts, completions, **kw):\n    raise ValueError('no good')\n")
    env_rewards = "rewards=[{function: 'bad_reward:boom'}]"
    proc = run_rlvr("train", "--preset", "smoke", f"output_dir={tmp_path}/runs", env_rewards, "eval.at_start=false", check=False)
    assert proc.returncode == 1
    assert "'boom' raised ValueError: no good" in proc.stderr and "on sample 0" in proc.stderr


@pytest.mark.slow
def test_eval_command_reports_accuracy_pass_and_maj(run_rlvr, tmp_path):
    proc = run_rlvr("eval", "--model", "tiny-random", "--task", "countdown", "eval.problems=4", "eval.samples=4",
                    "eval.k=[1,2,4]", "--json", str(tmp_path / "r.json"))
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert {"accuracy", "pass@1", "pass@2", "pass@4", "maj@4"} <= set(result)
    assert json.loads((tmp_path / "r.json").read_text()) == result



def test_resuming_a_finished_run_does_not_repeat_work(tmp_path):
    cfg = tiny(tmp_path, "name=done", "steps=2", "log.report_to=[]")
    run = rlvr.train(cfg)
    before = [(run / f).read_text() for f in ("metrics.jsonl", "eval.jsonl")]
    rlvr.train(config.load(file=run / "config.yaml"), resume=run)
    assert [(run / f).read_text() for f in ("metrics.jsonl", "eval.jsonl")] == before


def test_resume_without_a_checkpoint_starts_over_cleanly(tmp_path):
    cfg = tiny(tmp_path, "name=early", "steps=1", "log.report_to=[]", "checkpoint.save_every=0")
    run = trainer.run_dir_for(cfg)
    run.mkdir(parents=True)
    (run / "eval.jsonl").write_text('{"step": 0, "eval/accuracy": 0.5}\n')  # from a run killed before any save
    rlvr.train(cfg, resume=run)
    assert [e["step"] for e in read_jsonl(run / "eval.jsonl")] == [0, 1]


def _fake_batch(rewards, truncated):
    from rlvr.rollout import Generation

    B = len(rewards)
    gen = Generation(torch.zeros(B, 1, dtype=torch.long), torch.ones(B, 1, dtype=torch.long),
                     torch.zeros(B, 2, dtype=torch.long), torch.ones(B, 2, dtype=torch.long),
                     torch.tensor(truncated), [""] * B)
    return trainer.Rollouts(1, [], gen, {}, torch.tensor(rewards), torch.zeros(B))


def test_trained_rows_skip_zero_signal_groups_and_truncated_completions(tmp_path):
    # groups of 2: (1, 1) has no signal; (0, 1) has; (1, 0) has, but its second completion was truncated
    batch = _fake_batch([1.0, 1.0, 0.0, 1.0, 1.0, 0.0], [False, False, False, False, False, True])
    cfg = tiny(tmp_path, "grpo.samples_per_prompt=2", "grpo.kl_coef=0")  # skipping is exact only without a KL term
    batch = trainer.advantage(batch, cfg)
    assert batch.zero_signal.tolist() == [True, False, False]
    assert trainer.trained_rows(batch, cfg).tolist() == [2, 3, 4, 5]
    cfg = tiny(tmp_path, "grpo.samples_per_prompt=2", "grpo.kl_coef=0", "grpo.mask_truncated=true")
    assert trainer.trained_rows(batch, cfg).tolist() == [2, 3, 4]
    cfg = tiny(tmp_path, "grpo.samples_per_prompt=2", "grpo.kl_coef=0.01")  # a KL term: the rows stay in
    assert trainer.trained_rows(batch, cfg).tolist() == [0, 1, 2, 3, 4, 5]
    cfg = tiny(tmp_path, "grpo.samples_per_prompt=2", "grpo.skip_zero_signal_groups=false")
    assert trainer.trained_rows(batch, cfg).tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("schedule, expected", [
    ("constant", [1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0]),
    ("linear", [1 / 3, 2 / 3, 1.0, 0.75, 0.5, 0.25]),
    ("cosine", [1 / 3, 2 / 3, 1.0, 0.8535534, 0.5, 0.1464466]),
])
def test_lr_schedule_warmup_then_decay(tmp_path, schedule, expected):
    from rlvr import policy

    cfg = tiny(tmp_path, "steps=6", "optim.warmup_steps=2", f"optim.schedule={schedule}", "optim.lr=1.0")
    opt, sched = policy.optimizer_and_schedule(cfg, torch.nn.Linear(2, 2))
    lrs = []
    for _ in range(6):
        lrs.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert lrs == pytest.approx(expected)


@pytest.mark.slow
def test_async_run_resumed_from_a_checkpoint_is_the_same_run(tmp_path):
    """With cluster.async_steps=1 the next step's rollouts are sampled before the save from older weights;
    the checkpoint keeps them, so a run resumed there equals the uninterrupted one."""
    import shutil

    from rlvr_test_helpers import digit_share

    cfg = tiny(tmp_path, "name=straight", "steps=4", "checkpoint.save_every=2", "checkpoint.keep_last=2",
               "cluster.async_steps=1", "optim.lr=1e-2", "eval.at_start=false", "log.report_to=[]")
    straight = rlvr.train(cfg, reward_funcs=[digit_share])
    metrics = read_jsonl(straight / "metrics.jsonl")
    assert [m["staleness"] for m in metrics] == [0, 1, 1, 1]
    assert all("importance/mean" in m for m in metrics)
    state = torch.load(straight / "checkpoints" / "step-000002" / "trainer_state.pt", weights_only=False)
    assert state["extra"]["in_flight"]["step"] == 2 and state["extra"]["in_flight"]["version"] == 1
    # a run killed after its step-2 checkpoint: its folder as it was then, minus what came later
    killed = tmp_path / "killed"
    shutil.copytree(straight, killed)
    shutil.rmtree(killed / "checkpoints" / "step-000004")
    rlvr.train(cfg, resume=killed, reward_funcs=[digit_share])
    for name in ("metrics.jsonl", "rollouts.jsonl", "eval.jsonl"):
        assert _comparable(read_jsonl(straight / name)) == _comparable(read_jsonl(killed / name)), name
