"""Rollout workers each generate a shard of a step's prompts: sampling must not depend on the split, the
engine must report behaviour log-probs, and `Generation.cat` must reassemble the shards into the whole."""

import pytest
import torch

from rlvr import models, policy
from rlvr.rollout import Generation, Sampling, TransformersEngine, row_seeds, uniforms

MASK64 = (1 << 64) - 1
# prompts of different lengths, the long ones in the second shard, so shards pad prompts to different widths
PROMPTS = ["ab", "a bit longer", "the longest prompt of the four", "mid-size one"]


def splitmix64(state: int, count: int) -> list[int]:
    """Reference SplitMix64 in plain Python integers (unsigned, explicit mod 2**64): `count` outputs."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        out.append(z ^ (z >> 31))
    return out


def engine(seed: int = 3) -> TransformersEngine:
    model, tok = models.load(f"tiny-random:{seed}", device=torch.device("cpu"), dtype=torch.float32)
    eng = TransformersEngine(model, tok)
    # ~5% of the 259 byte tokens end a row, so rows stop at different lengths and completions get padding
    eng.eos_ids = sorted(set(eng.eos_ids) | set(range(60, 72)))
    return eng


def stream(seed: int, prompt: int, sample: int, T: int) -> torch.Tensor:
    """Draws 0..T-1 of the stream of (call seed, prompt, sample): [T] float64."""
    return uniforms(row_seeds(seed, torch.tensor([prompt]), torch.tensor([sample])), torch.arange(T))


def stream_of(seed: int, T: int) -> torch.Tensor:
    return uniforms(torch.tensor([seed]), torch.arange(T))


def test_counter_stream_is_splitmix64_and_looks_uniform():
    # draw t of a stream seeded s is SplitMix64's (t+1)-th output from state s, top 53 bits: this pins the
    # logical shifts (torch's >> on int64 is arithmetic) and the wrapping multiplies against plain integers
    s = row_seeds(12345, torch.tensor([7, 0]), torch.tensor([2, 0]))
    for seed in s.tolist():
        ref = [(z >> 11) * 2.0**-53 for z in splitmix64(seed & MASK64, 5)]
        assert [uniforms(torch.tensor([seed]), t).item() for t in range(5)] == ref
        assert stream_of(seed, 5).tolist() == ref  # the vectorised counter gives the same draws
    assert splitmix64(0, 1) == [0xE220A8397B1DCDAF]  # the reference itself, against SplitMix64's published first output

    along_t = stream(0, 0, 0, 100_000)  # one row's draws over 1e5 token positions
    across_rows = uniforms(row_seeds(0, torch.arange(100_000), torch.zeros(100_000, dtype=torch.long)), 0)
    for u in (along_t, across_rows):
        assert u.dtype == torch.float64 and 0 <= u.min() and u.max() < 1
        # std of the mean of 1e5 U(0,1) is 0.0009; of the variance about 0.0003: both bounds are over 5 sigma
        assert abs(u.mean().item() - 0.5) < 0.005 and abs(u.var().item() - 1 / 12) < 0.002
        assert torch.histc(u.float(), bins=10, min=0, max=1).min() > 9_500  # each tenth gets its ~10,000 share
        assert not torch.any(u[1:] == u[:-1])
        assert abs(torch.corrcoef(torch.stack([u[1:], u[:-1]]))[0, 1].item()) < 0.02  # neighbours uncorrelated


def test_row_streams_differ_across_steps_prompts_and_samples():
    seeds, prompts, samples = torch.meshgrid(torch.arange(20), torch.arange(50), torch.arange(8), indexing="ij")
    all_seeds = torch.cat([row_seeds(int(c), p.flatten(), j.flatten()) for c, p, j in zip(seeds[:, 0, 0], prompts, samples)])
    assert all_seeds.unique().numel() == 20 * 50 * 8
    a, b = stream(1, 0, 0, 64), stream(2, 0, 0, 64)  # neighbouring call seeds (consecutive steps)
    assert not torch.any(a == b)
    # a large call seed (step_seed reduces mod 2**63) and a negative one are accepted and distinct
    assert not torch.equal(stream(2**63 - 1, 0, 0, 8), stream(-1, 0, 0, 8))


@pytest.mark.parametrize("sampling", [Sampling(max_new_tokens=16), Sampling(max_new_tokens=16, temperature=0.8, top_k=40, top_p=0.9)])
def test_sharded_generation_equals_one_call_and_cat_reassembles_it(sampling):
    eng = engine()
    whole = eng.generate(PROMPTS, n=3, sampling=sampling, seed=11)
    parts = [eng.generate(PROMPTS[:2], n=3, sampling=sampling, seed=11, first_prompt=0),
             eng.generate(PROMPTS[2:], n=3, sampling=sampling, seed=11, first_prompt=2)]
    # the shards' prompts (and, here, completions) have other widths than the whole: cat must re-pad both
    assert parts[0].prompt_ids.shape[1] < whole.prompt_ids.shape[1]
    lengths = whole.lengths.tolist()
    assert len(set(lengths)) > 2 and 0 < whole.truncated.sum() < 12, lengths  # varied lengths, some padding

    # per row, the completion tokens are the same whichever call produced them
    for r in range(12):
        part, i = parts[r // 6], r % 6
        L = lengths[r]
        assert part.completion_ids[i, :L].tolist() == whole.completion_ids[r, :L].tolist(), r
        assert int(part.lengths[i]) == L

    cat = Generation.cat(parts, pad_id=eng.pad_id)
    for name in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "truncated"):
        assert torch.equal(getattr(cat, name), getattr(whole, name)), name
    assert cat.texts == whole.texts
    assert torch.allclose(cat.logprobs, whole.logprobs, atol=1e-5)
    assert torch.all(cat.logprobs[cat.completion_mask == 0] == 0)


def test_sample_index_and_first_prompt_select_the_stream():
    eng = engine()
    s = Sampling(max_new_tokens=12)
    # prompt "x" as global prompt 5 draws differently from global prompt 0, and its 4 samples differ
    a = eng.generate(["x"], n=4, sampling=s, seed=0, first_prompt=0).completion_ids
    b = eng.generate(["x"], n=4, sampling=s, seed=0, first_prompt=5).completion_ids
    assert not torch.equal(a, b)
    assert len({tuple(r) for r in a.tolist()}) == 4
    with pytest.raises(ValueError, match="first_prompt"):
        eng.generate(["x"], n=1, sampling=s, seed=0, first_prompt=-1)


def test_behaviour_logprobs_are_the_learners_unscaled_logprobs():
    eng = engine(seed=5)
    # temperature and top-k/top-p shape the sampling only: the log-probs are of the raw logits, as the learner's
    gen = eng.generate(PROMPTS, n=2, sampling=Sampling(max_new_tokens=14, temperature=0.7, top_k=20, top_p=0.95), seed=4)
    assert gen.logprobs.dtype == torch.float32 and gen.logprobs.shape == gen.completion_ids.shape
    with torch.no_grad():
        learner, _ = policy.completion_logprobs(eng.model, gen.prompt_ids, gen.prompt_mask, gen.completion_ids, gen.completion_mask)
    m = gen.completion_mask.bool()
    assert (~m).any()  # some rows ended early: the padding check below is not vacuous
    assert torch.allclose(gen.logprobs[m], learner[m], atol=1e-5), (gen.logprobs[m] - learner[m]).abs().max()
    assert torch.all(gen.logprobs[~m] == 0) and torch.all(gen.logprobs[m] < 0)


def test_cat_pads_on_the_correct_sides_and_rejects_nothing_to_cat():
    def g(P, T, v):  # one row: prompt of width P filled with v, completion of width T filled with v
        return Generation(torch.full((1, P), v), torch.ones(1, P, dtype=torch.long), torch.full((1, T), v),
                          torch.ones(1, T, dtype=torch.long), torch.tensor([False]), [str(v)], torch.full((1, T), -1.0))

    cat = Generation.cat([g(1, 3, 7), g(2, 1, 8)], pad_id=0)
    assert cat.prompt_ids.tolist() == [[0, 7], [8, 8]] and cat.prompt_mask.tolist() == [[0, 1], [1, 1]]
    assert cat.completion_ids.tolist() == [[7, 7, 7], [8, 0, 0]] and cat.completion_mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert cat.logprobs.tolist() == [[-1, -1, -1], [-1, 0, 0]] and cat.texts == ["7", "8"]
    without = Generation(*list(vars(g(1, 1, 8)).values())[:6])  # built positionally, as fakes do: no log-probs
    assert without.logprobs is None and Generation.cat([g(1, 1, 7), without], pad_id=0).logprobs is None
    with pytest.raises(ValueError, match="at least one"):
        Generation.cat([], pad_id=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_streams_are_the_same_on_cuda():
    s = row_seeds(99, torch.arange(1000), torch.arange(1000) % 7)
    sc = row_seeds(99, torch.arange(1000, device="cuda"), torch.arange(1000, device="cuda") % 7)
    assert torch.equal(s, sc.cpu())
    assert torch.equal(uniforms(s, 17), uniforms(sc, 17).cpu())
