"""Rejection sampling, mixed-reward routing, and the pipeline: validation up front, artifacts, kill and resume."""

import json
import re
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from conftest import rlvr_env
from rlvr import config as config_mod, pipeline, rewards, rollout, tasks
from rlvr.config import RewardSpec
from rlvr.rollout import Generation
from rlvr.sample import rejection_reason, repeated_ngram_share, run_sample
from rlvr.stage_config import SampleConfig, SampleFilters

GOOD = "<think>\n3 * 4 = 12.\nLet me verify: 12 / 4 = 3.\n</think>\n<answer>12</answer>"


def test_rejection_reasons():
    f = SampleFilters(min_tokens=0)
    ok = dict(correct=True, length=20, truncated=False, f=f)
    assert rejection_reason(GOOD, **ok) is None
    assert rejection_reason(GOOD, **{**ok, "correct": False}) == "verifier rejected"
    assert rejection_reason(GOOD, **{**ok, "correct": None}) == "no verifier"
    assert rejection_reason("<answer>12</answer>", **ok) == "format"
    assert rejection_reason(GOOD.replace("Let me", "让我"), **ok) == "language mixing"
    assert rejection_reason(GOOD, **{**ok, "truncated": True}) == "truncated"
    assert rejection_reason(GOOD, **{**ok, "f": SampleFilters(max_tokens=10)}) == "length"
    loop = "<think>" + " the answer is 12" * 10 + "</think><answer>12</answer>"
    assert repeated_ngram_share(loop) > 0.3 and rejection_reason(loop, **ok) == "repetition"


class _ScriptedGenerator:
    """Returns fixed completions in order, so the test knows exactly which the verifier accepts."""

    texts: list[str] = []

    def __init__(self, model, tokenizer, **_):
        pass

    def sync(self, model):
        pass

    def generate(self, prompts, *, n, sampling, seed):
        B = len(prompts) * n
        texts = [_ScriptedGenerator.texts.pop(0) for _ in range(B)]
        ids = torch.ones(B, 3, dtype=torch.long)
        return Generation(ids, ids, ids, ids, torch.zeros(B, dtype=torch.bool), texts)


def test_rejection_sampling_keeps_only_verified_wellformed_distinct_completions(tmp_path, monkeypatch):
    monkeypatch.setitem(rollout.ENGINES, "transformers", _ScriptedGenerator)
    task = tasks.build(config_mod.ArithmeticTaskConfig())
    examples = [task.example(i) for i in range(3)]
    right = [GOOD.replace("12", ex.answer) for ex in examples]
    _ScriptedGenerator.texts = [
        right[0], right[0], "<think>x</think><answer>-1</answer>", right[0].replace("\n", " ") + " ",  # dup after ws
        "no tags " + examples[1].answer, right[1], right[1] + " extra", "<think>hm</think><answer>-5</answer>",
        right[2].replace("<answer>", "<answer>-"), "wrong", "<think>a</think>", right[2],
    ]
    cfg = SampleConfig(model="tiny-random", output_dir=str(tmp_path), name="s", prompts=3, samples_per_prompt=4,
                       keep_per_prompt=1, filters=SampleFilters(min_tokens=0), general=None)
    dataset = [json.loads(l) for l in run_sample(cfg).read_text().splitlines()]
    kept = [d["messages"][1]["content"] for d in dataset]
    assert sorted(kept) == sorted([right[0], right[1], right[2]])  # K=1 per prompt; only verified, well-formed
    for d in dataset:
        ex = next(e for e in examples if e.question == d["messages"][0]["content"])
        assert task.check(d["messages"][1]["content"], ex).correct
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["kept"] == 3 and summary["samples"] == 12
    assert summary["dropped_by_reason"] == {"verifier rejected": 5, "duplicate": 2, "format": 2}
    records = [json.loads(l) for l in (tmp_path / "s" / "samples.jsonl").read_text().splitlines()]
    assert all(r["reason"] is not None for r in records if not r["kept"])


def test_mixture_routes_rewards_by_source():
    cfg = config_mod.validate(config_mod.TrainConfig, {"task": {"kind": "mixture", "parts": [
        {"name": "math", "task": {"kind": "arithmetic"}}, {"name": "general", "task": {"kind": "general"}}]}})
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(40)]
    sources = [ex.columns["source"] for ex in examples]
    assert set(sources) == {"math", "general"}
    assert all(task.check("x", ex).correct is None for ex in examples if ex.columns["source"] == "general")
    seen = {}

    def pref(prompts, completions, **_):
        seen["prompts"] = list(prompts)
        return [10.0] * len(prompts)

    specs = [RewardSpec(name="correct", sources=["math"]), RewardSpec(function="math:floor", sources=["general"])]
    fns = [rewards.resolve(specs[0], task), rewards.Reward("pref", pref, 0.5, ("general",))]
    completions = [f"<answer>{ex.answer}</answer>" for ex in examples]
    per, totals = rewards.score(fns, [ex.question for ex in examples], completions, examples)
    for i, s in enumerate(sources):
        if s == "math":
            assert per["correct"][i] == 1.0 and math.isnan(per["pref"][i]) and totals[i] == 1.0
        else:
            assert math.isnan(per["correct"][i]) and per["pref"][i] == 10.0 and totals[i] == 5.0
    assert seen["prompts"] == [ex.question for ex in examples if ex.columns["source"] == "general"]
    assert rewards.resolve(specs[1], task).sources == ("general",)  # the spec's routing survives resolution


def test_a_config_error_in_the_last_stage_fails_before_the_first_runs(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="(?s)mixed-rl.*grpo.bogus: unknown key"):
        pipeline.plan(pipeline.load(preset="r1-smoke", overrides=[f"output_dir={tmp_path}", "stages.mixed-rl.config.grpo.bogus=1"]))
    with pytest.raises(config_mod.ConfigError, match="nowhere"):
        pipeline.plan(pipeline.load(preset="r1-smoke", overrides=["stages.sft.config.data.path=@nowhere"]))
    with pytest.raises(config_mod.ConfigError, match="unknown reward 'prefrence'"):
        pipeline.plan(pipeline.load(preset="r1-smoke", overrides=["stages.mixed-rl.config.rewards=[{name: prefrence}]"]))
    with pytest.raises(config_mod.ConfigError, match="eval.reward_model 'sft' is not the name of an `rm` stage"):
        pipeline.load(preset="r1-smoke", overrides=["eval.reward_model=sft"])
    with pytest.raises(config_mod.ConfigError, match="no stage named 'nope'"):
        pipeline.load(preset="r1-smoke", overrides=["stages.nope.config.steps=1"])
    assert not any(tmp_path.iterdir())


def test_plan_hands_each_stage_the_outputs_it_names(tmp_path):
    stages = {s.name: s for s in pipeline.plan(pipeline.load(preset="r1-smoke", overrides=[f"output_dir={tmp_path}"]))}
    root = tmp_path / "r1-smoke"
    assert stages["cold-start"].cfg.model == "tiny-random"
    assert stages["reasoning-rl"].cfg.model == str(root / "01-cold-start" / "model")
    assert stages["rejection-sample"].cfg.model == str(root / "02-reasoning-rl" / "checkpoints" / "step-000003")
    assert stages["sft"].cfg.data.path == str(root / "03-rejection-sample" / "dataset.jsonl")
    assert stages["sft"].cfg.model == "tiny-random"  # R1 restarts stage 3's SFT from the base
    assert stages["mixed-rl"].cfg.model == str(root / "04-sft" / "model")
    pref = next(r for r in stages["mixed-rl"].cfg.rewards if r.name == "preference")
    assert pref.args["model"] == str(root / "05-reward-model" / "model") and pref.sources == ["general"]


@pytest.mark.parametrize("preset", ["r1", "r1-zero"])
def test_shipped_pipeline_presets_load_and_plan(preset, tmp_path):
    stages = pipeline.plan(pipeline.load(preset=preset, overrides=[f"output_dir={tmp_path}"]))
    assert stages and stages[0].cfg.model == "embedded:smollm2-135m-instruct"
    kinds = [s.kind for s in stages]
    assert kinds == (["sft", "grpo", "sample", "sft", "rm", "grpo"] if preset == "r1" else ["grpo"])
    assert not any(tmp_path.iterdir())  # planning writes nothing


def _pipeline(tmp_path, *extra):
    return [sys.executable, "-m", "rlvr", "pipeline", "run", "--preset", "r1-smoke", f"output_dir={tmp_path}", *extra]


@pytest.mark.slow
def test_r1_smoke_runs_every_stage_and_resumes_after_a_kill(tmp_path):
    slow = "stages.reasoning-rl.config.rewards=[{function: 'rlvr_test_helpers:slow_digit_share'}]"
    steps = "stages.reasoning-rl.config.steps=6"
    proc = subprocess.Popen(_pipeline(tmp_path, slow, steps), cwd=tmp_path, env=rlvr_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "r1-smoke"
    first_ckpt = root / "02-reasoning-rl" / "checkpoints" / "step-000002"
    deadline = time.time() + 120
    while time.time() < deadline and not first_ckpt.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (root / "01-cold-start" / "done").exists() and not (root / "02-reasoning-rl" / "done").exists()
    stage1 = (root / "01-cold-start" / "done").stat().st_mtime_ns

    out = subprocess.run(_pipeline(tmp_path, slow, steps), cwd=tmp_path, env=rlvr_env(), capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cold-start: done, skipped" in out.stderr and "reasoning-rl (grpo) resuming" in out.stderr
    # each stage's wall time: as it finishes, and all of them at the end (stages done before: skipped)
    assert re.search(r"\[03\] rejection-sample: done in \d+", out.stderr), out.stderr[-2000:]
    assert re.search(r"wall time: cold-start skipped, reasoning-rl \d+.*, mixed-rl \d+.*, comparison \d+", out.stderr)
    assert (root / "01-cold-start" / "done").stat().st_mtime_ns == stage1  # stage 1 was not redone
    metrics = [json.loads(l) for l in (root / "02-reasoning-rl" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]  # resumed, no step lost or repeated

    for name in ("01-cold-start", "02-reasoning-rl", "03-rejection-sample", "04-sft", "05-reward-model", "06-mixed-rl"):
        done = json.loads((root / name / "done").read_text())
        assert (root / name / "config.yaml").exists() and Path(done["output"]).exists(), name
    assert (root / "03-rejection-sample" / "summary.json").exists()
    rm_eval = [json.loads(l) for l in (root / "05-reward-model" / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in rm_eval] == [0, 3] and 0 <= rm_eval[-1]["eval/accuracy"] <= 1
    table = json.loads((root / "comparison.json").read_text())
    data = table.pop("data/03-rejection-sample")
    assert list(table) == ["base", "01-cold-start", "02-reasoning-rl", "04-sft", "06-mixed-rl"]
    assert all({"accuracy", "format_rate", "language_mixing_rate", "mean_length", "preference_reward", "general_correct_rate"} <= set(r)
               for r in table.values())
    assert data["samples"] == 8 * 4 and data["kept"] == 0 and data["general_examples"] == 16  # a random model solves nothing
    assert "| 06-mixed-rl |" in (root / "comparison.md").read_text()

    # --from re-runs that stage and the later ones only
    again = subprocess.run(_pipeline(tmp_path, slow, steps, "--from", "mixed-rl"), cwd=tmp_path, env=rlvr_env(),
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reward-model: done, skipped" in again.stderr and "[06] mixed-rl (grpo)\n" in again.stderr

    # a changed config makes that stage and those that read from it start over, not resume stale checkpoints
    changed = subprocess.run(_pipeline(tmp_path, slow, steps, "stages.rejection-sample.config.prompts=6"), cwd=tmp_path,
                             env=rlvr_env(), capture_output=True, text=True, timeout=300)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert "reasoning-rl: done, skipped" in changed.stderr
    for name in ("rejection-sample", "sft", "mixed-rl"):
        assert f"{name}: its folder was made from other inputs; starting it over" in changed.stderr
    assert "reward-model: done, skipped" in changed.stderr  # it reads nothing the change touched
    assert json.loads((root / "03-rejection-sample" / "summary.json").read_text())["samples"] == 6 * 4


def test_general_answers_are_checked_for_the_right_value():
    from rlvr.compare import names_expected

    assert names_expected("A sheep bleats.", "bleats") and names_expected("It is NEW DELHI.", "New Delhi")
    assert not names_expected("A sheep meows.", "bleats") and not names_expected("cold", "old")
