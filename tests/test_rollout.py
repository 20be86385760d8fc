"""The generator: the sampler draws from the right distribution, and cached decoding equals full recompute."""

import pytest
import torch

from rlvr import models
from rlvr.rollout import Sampling, TransformersEngine, row_seeds, sample_categorical, uniforms


def draws(seed: int, rows: int, t: int = 0) -> torch.Tensor:
    """[rows] uniforms: draw t of the streams of prompts 0..rows-1 (sample 0) under call seed `seed`."""
    return uniforms(row_seeds(seed, torch.arange(rows), torch.zeros(rows, dtype=torch.long)), t)


def test_sampler_matches_the_distribution_and_never_draws_a_zero_probability_token():
    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20000, 1)
    draws_ = sample_categorical(probs, draws(0, 20000))
    freq = torch.bincount(draws_, minlength=5).float() / len(draws_)
    # binomial std at p=0.5 and n=20000 is 0.0035: 0.015 is over 4 sigma
    assert torch.allclose(freq, probs[0], atol=0.015), freq
    assert freq[1] == 0 and freq[4] == 0


def test_sampler_edge_cases_and_determinism():
    # u can round up to the total: the draw must still be a token with non-zero probability
    probs = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    assert sample_categorical(probs, draws(1, 1)).item() == 1
    # the largest uniform the stream can give: the draw is the last token with probability, not the zero after it
    almost_one = torch.tensor([1.0 - 2.0**-53], dtype=torch.float64)
    assert sample_categorical(torch.tensor([[0.3, 0.7, 0.0]]), almost_one).item() == 1
    p = torch.softmax(torch.randn(8, 1000), -1)
    a = sample_categorical(p, draws(7, 8))
    b = sample_categorical(p, draws(7, 8))
    assert torch.equal(a, b)


def test_cached_greedy_decoding_equals_recomputing_the_whole_sequence():
    model, tok = models.load("tiny-random:3", device=torch.device("cpu"), dtype=torch.float32)
    gen = TransformersEngine(model, tok)
    # the decoder pre-sizes its cache for max_new_tokens; 12 steps cross nothing special, but exercise many writes
    out = gen.generate(["abc", "a longer prompt"], n=2, sampling=Sampling(max_new_tokens=12, temperature=0.0), seed=0)
    for row in range(4):
        ids = out.prompt_ids[row][out.prompt_mask[row].bool()][None]
        expected = []
        with torch.no_grad():
            for _ in range(int(out.completion_mask[row].sum())):
                nxt = model(input_ids=ids).logits[0, -1].argmax()
                expected.append(int(nxt))
                ids = torch.cat([ids, nxt.view(1, 1)], 1)
        got = out.completion_ids[row][: len(expected)].tolist()
        assert got == expected, (row, got, expected)


def _row_counter(model):
    """Forward pre-hook recording each forward's batch rows; the first call of a generate is the prefill."""
    rows = []
    model.register_forward_pre_hook(lambda m, args, kwargs: rows.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
    return rows


@pytest.mark.parametrize("sampling", [Sampling(max_new_tokens=20), Sampling(max_new_tokens=20, temperature=0.7, top_k=30, repetition_penalty=1.3)])
def test_finished_rows_leave_the_batch_and_nothing_sampled_changes(sampling):
    model, tok = models.load("tiny-random:4", device=torch.device("cpu"), dtype=torch.float32)
    engines = {}
    for drop in (0.125, None):
        eng = TransformersEngine(model, tok)
        eng.eos_ids = sorted(set(eng.eos_ids) | set(range(60, 80)))  # ~8% of tokens end a row: staggered ends
        eng.drop_finished = drop
        engines[drop] = eng
    rows = _row_counter(model)
    prompts = ["ab", "a longer prompt", "mid one"]
    dropped = engines[0.125].generate(prompts, n=4, sampling=sampling, seed=9)
    dropped_rows, rows[:] = rows[1:], []
    kept = engines[None].generate(prompts, n=4, sampling=sampling, seed=9)
    kept_rows = rows[1:]

    lengths = kept.lengths.tolist()
    assert len(set(lengths)) > 3 and kept.truncated.sum() < 12, lengths  # rows end at many different steps
    for name in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "truncated"):
        assert torch.equal(getattr(dropped, name), getattr(kept, name)), name
    assert dropped.texts == kept.texts
    assert torch.allclose(dropped.logprobs, kept.logprobs, atol=1e-5)
    # kept: every decode forward runs all 12 rows; dropped: the batch shrinks as rows finish
    assert set(kept_rows) == {12} and len(dropped_rows) == len(kept_rows)
    assert dropped_rows == sorted(dropped_rows, reverse=True) and dropped_rows[-1] < 12
    # a forward runs at most the live rows plus the few finished ones not yet worth a copy (under 1/8 of the batch)
    alive = [int((kept.lengths > t + 1).sum()) for t in range(len(dropped_rows))]  # rows still sampling at step t+1
    assert all(a <= r < a + max(1, r / 8) + 1 for a, r in zip(alive, dropped_rows)), (alive, dropped_rows)


def test_plain_sampling_with_a_precomputed_logsumexp_draws_the_same_tokens():
    from rlvr.rollout import sample_next

    logits = torch.randn(256, 500) * 3
    u = draws(3, 256)
    s = Sampling(max_new_tokens=1)
    assert torch.equal(sample_next(logits, s, u), sample_next(logits, s, u, lse=torch.logsumexp(logits, -1)))
