"""The generator: the sampler draws from the right distribution, and cached decoding equals full recompute."""

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
