"""Scoring completions: the shared-prompt path equals scoring each row on its own, values and gradients."""

import torch

from rlvr import models, policy, rollout
from rlvr.rollout import Sampling, TransformersEngine


def test_shared_prompt_pass_matches_per_row_scoring():
    model, tok = models.load("tiny-random", device=torch.device("cpu"), dtype=torch.float32)
    gen = TransformersEngine(model, tok).generate(
        ["hello there", "a much longer prompt here"], n=3, sampling=Sampling(max_new_tokens=10), seed=1)
    args = (gen.prompt_ids, gen.prompt_mask, gen.completion_ids, gen.completion_mask)
    mask = gen.completion_mask.bool()

    shared, ent = policy.completion_logprobs(model, *args, entropy=True)
    (shared * gen.completion_mask).sum().backward()
    grads_shared = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()

    single = torch.cat([policy.completion_logprobs(model, *(a[i : i + 1] for a in args))[0] for i in range(6)])
    (single * gen.completion_mask).sum().backward()
    grads_single = [p.grad.clone() for p in model.parameters()]

    assert torch.allclose(shared[mask], single[mask], atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads_shared, grads_single))
    assert ent.shape == shared.shape and torch.all(ent[mask] > 0)


def test_logprobs_match_a_plain_forward():
    model, tok = models.load("tiny-random", device=torch.device("cpu"), dtype=torch.float32)
    gen = TransformersEngine(model, tok).generate(["abc"], n=2, sampling=Sampling(max_new_tokens=6), seed=0)
    logp, _ = policy.completion_logprobs(model, gen.prompt_ids, gen.prompt_mask, gen.completion_ids, gen.completion_mask)
    ids = torch.cat([gen.prompt_ids, gen.completion_ids], 1)
    with torch.no_grad():
        logits = model(input_ids=ids).logits  # no padding in a single prompt: positions are 0..L-1
    P = gen.prompt_ids.shape[1]
    expected = torch.log_softmax(logits[:, P - 1 : -1], -1).gather(-1, gen.completion_ids[..., None]).squeeze(-1)
    m = gen.completion_mask.bool()
    assert torch.allclose(logp[m], expected[m], atol=1e-5)


def test_bf16_autocast_keeps_fp32_weights_and_a_synced_bf16_rollout_copy(tmp_path):
    from rlvr import config

    cfg = config.load(preset="smoke", overrides=["bf16_autocast=true"])
    model, tok = policy.build(cfg, torch.device("cpu"), torch.float32)
    engine = rollout.build(cfg.generation, model, tok, weights_dtype=torch.bfloat16)
    sampler = engine.model
    assert sampler is not model and next(sampler.parameters()).dtype == torch.bfloat16
    assert next(model.parameters()).dtype == torch.float32
    gen = engine.generate(["abc"], n=4, sampling=Sampling(max_new_tokens=5), seed=0)
    with policy.compute_context(cfg, torch.device("cpu")):
        logp, _ = policy.completion_logprobs(model, gen.prompt_ids, gen.prompt_mask, gen.completion_ids, gen.completion_mask)
    logp.sum().backward()
    assert next(model.parameters()).grad.dtype == torch.float32  # master weights and grads stay fp32
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01)
    engine.sync(model)
    for a, b in zip(sampler.parameters(), model.parameters()):
        assert torch.equal(a, b.to(torch.bfloat16))
    assert rollout.build(cfg.generation, model, tok).model is model  # same dtype: no copy, nothing to sync
