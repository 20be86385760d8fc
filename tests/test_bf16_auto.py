"""`bf16_autocast: auto` (the default): bf16 on CUDA; on CPU only where a micro-benchmark of the model's matrix
shapes finds it faster, resolved once when the policy is built, so every reader after that sees a bool."""

import io
import time

import pytest
import torch
from rich.console import Console

from rlvr import config, policy
from rlvr.config import ConfigError


class Shapes:  # the two fields of a model config the micro-benchmark reads (SmolLM2-135M's)
    hidden_size, intermediate_size = 576, 1536


def fake_linear(monkeypatch, ms_per_32_rows: dict):
    """Replace F.linear by a sleep of the given ms per 32 rows for each input dtype; returns the call counts."""
    calls = {torch.float32: 0, torch.bfloat16: 0}

    def linear(x, w, bias=None):
        calls[x.dtype] += 1
        time.sleep(ms_per_32_rows[x.dtype] / 1e3 * x.shape[0] / 32)
        return x.new_empty(x.shape[0], w.shape[0])  # (no fill: only the call time matters)

    monkeypatch.setattr(torch.nn.functional, "linear", linear)
    monkeypatch.setattr(policy, "_BF16_CHOICES", {})
    return calls


def test_default_is_auto_and_true_false_keep_their_meaning():
    assert config.load(preset="default").bf16_autocast == "auto"
    assert config.load(preset="default", overrides=["bf16_autocast=true"]).bf16_autocast is True
    assert config.load(preset="default", overrides=["bf16_autocast=false"]).bf16_autocast is False
    with pytest.raises(ConfigError, match="bf16_autocast"):
        config.load(preset="default", overrides=["bf16_autocast=sometimes"])
    # a resolved (or explicit) false means no autocast, an explicit true means bf16 autocast
    cfg = config.load(preset="default", overrides=["bf16_autocast=true"])
    with policy.compute_context(cfg, torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu")
    cfg = config.load(preset="default", overrides=["bf16_autocast=false"])
    with policy.compute_context(cfg, torch.device("cpu")):
        assert not torch.is_autocast_enabled("cpu")


def test_cuda_means_bf16_without_measuring(monkeypatch):
    calls = fake_linear(monkeypatch, {torch.float32: 1, torch.bfloat16: 1})
    assert policy.bf16_is_faster(torch.device("cuda"), Shapes, 32) is True
    assert sum(calls.values()) == 0


def test_cpu_picks_bf16_only_where_it_measures_faster(monkeypatch):
    report = []
    fake_linear(monkeypatch, {torch.float32: 4, torch.bfloat16: 1})  # a CPU with bf16 units (AMX): bf16 wins
    assert policy.bf16_is_faster(torch.device("cpu"), Shapes, 32, report=report.append) is True
    assert "-> true" in report[-1] and "32x576 @ 576x1536" in report[-1] and "256x576" in report[-1]

    # AVX2 only: bf16 ~50x slower. It loses at the first shape after two bf16 calls, well inside the budget.
    calls = fake_linear(monkeypatch, {torch.float32: 1, torch.bfloat16: 50})
    t0 = time.perf_counter()
    assert policy.bf16_is_faster(torch.device("cpu"), Shapes, 32, report=report.append) is False
    assert time.perf_counter() - t0 < 0.5 and calls[torch.bfloat16] == 2, calls
    assert "-> false" in report[-1] and "256x576" not in report[-1]

    # equal speed: not worth the rounding, stays fp32 (bf16 must be at least 10% faster)
    fake_linear(monkeypatch, {torch.float32: 2, torch.bfloat16: 2})
    assert policy.bf16_is_faster(torch.device("cpu"), Shapes, 32, report=report.append) is False

    # a bf16 too slow to measure the second shape inside the budget: no evidence, so fp32
    fake_linear(monkeypatch, {torch.float32: 60, torch.bfloat16: 50})
    assert policy.bf16_is_faster(torch.device("cpu"), Shapes, 32, report=report.append, budget_s=0.3) is False


def test_the_choice_is_measured_once_per_process_and_shape(monkeypatch):
    calls = fake_linear(monkeypatch, {torch.float32: 1, torch.bfloat16: 50})
    report = []
    for _ in range(3):
        assert policy.bf16_is_faster(torch.device("cpu"), Shapes, 32, report=report.append) is False
    assert len(report) == 1 and calls[torch.bfloat16] == 2


@pytest.mark.parametrize("faster", [True, False])
def test_building_the_policy_resolves_auto_and_the_local_engine_follows(monkeypatch, faster):
    from rlvr.cluster import local

    seen = []
    monkeypatch.setattr(policy, "bf16_is_faster", lambda device, model_config, rows: seen.append(rows) or faster)
    cfg = config.load(preset="smoke")
    assert cfg.bf16_autocast == "auto"
    workers = local.start(cfg, task=None, reward_fns=[], from_python=False, checkpoint=None, console=Console(file=io.StringIO()))
    assert cfg.bf16_autocast is faster and seen == [cfg.grpo.prompts_per_step * cfg.grpo.samples_per_prompt]
    # the rollout engine samples from a bf16 copy exactly when bf16 was picked; the policy stays fp32
    assert next(workers.engine.model.parameters()).dtype == (torch.bfloat16 if faster else torch.float32)
    assert next(workers.learner.model.parameters()).dtype == torch.float32


def test_auto_on_this_cpu_decides_quickly_and_reports_once(capsys):
    cfg = config.load(preset="smoke")
    model, _ = policy.build(cfg, torch.device("cpu"), torch.float32)
    assert isinstance(cfg.bf16_autocast, bool)
    err = capsys.readouterr().err
    assert err.count("bf16_autocast=auto ->") == 1, err
    policy.build(config.load(preset="smoke"), torch.device("cpu"), torch.float32)  # same shapes: no second look
    assert "bf16_autocast=auto" not in capsys.readouterr().err


def test_the_decision_is_for_the_device_that_computes_not_the_one_the_model_is_built_on(monkeypatch):
    # FSDP learners build the model on the CPU and shard it onto the GPU afterwards: auto must mean bf16 there
    seen = []
    monkeypatch.setattr(policy, "bf16_is_faster", lambda device, model_config, rows: seen.append(device.type) or device.type == "cuda")
    cfg = config.load(preset="smoke", overrides=["device=cuda"])
    policy.build(cfg, torch.device("cpu"), torch.float32)
    assert seen == ["cuda"] and cfg.bf16_autocast is True
