"""The options TRL users reach for: min_p and repetition_penalty in sampling, several optimizer steps per
batch, dynamic sampling, skip_zero_signal_groups as a pure speed-up, and "did you mean" for TRL's names."""

import dataclasses

import pytest
import torch

from rlvr import algos, config, models, policy, trainer
from rlvr.config import ConfigError
from rlvr.rollout import Generation, Sampling, TransformersEngine, repetition_penalised, sample_next, seen_tokens

PROMPTS = ["ab", "a bit longer", "the longest prompt of the four", "mid-size one"]


@pytest.fixture(scope="module")
def eng() -> TransformersEngine:
    model, tok = models.load("tiny-random:3", device=torch.device("cpu"), dtype=torch.float32)
    return TransformersEngine(model, tok)


# ------------------------------------------------------------------------------------------- sampling


def test_min_p_drops_tokens_below_min_p_times_the_top_probability():
    # probs 0.5, 0.3, 0.15, 0.05; min_p 0.2 keeps p >= 0.1: the last token goes, the rest renormalise over 0.95
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).repeat(950, 1)
    u = (torch.arange(950, dtype=torch.float64) + 0.5) / 950  # evenly spread: the counts are the CDF's widths
    counts = torch.bincount(sample_next(logits, Sampling(max_new_tokens=1, min_p=0.2), u), minlength=4)
    assert counts.tolist() == [500, 300, 150, 0]
    off = torch.bincount(sample_next(logits, Sampling(max_new_tokens=1), u), minlength=4)
    assert off[3] > 0


def test_repetition_penalty_hand_computed():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0]])
    seen = seen_tokens(torch.tensor([[0, 1, 3]]), torch.tensor([[1, 1, 0]]), 4)  # token 3 is padding: not seen
    assert seen.tolist() == [[True, True, False, False]]
    assert repetition_penalised(logits, seen, 2.0).tolist() == [[1.0, -2.0, 0.5, 3.0]]
    # greedy: 3.0 beats 2.0, unless 3.0 was seen and is halved to 1.5
    s = Sampling(max_new_tokens=1, temperature=0.0, repetition_penalty=2.0)
    assert sample_next(logits, s, torch.zeros(1), torch.tensor([[False, False, False, True]])).item() == 0
    with pytest.raises(ValueError, match="seen"):
        sample_next(logits, s, torch.zeros(1))


def test_a_large_repetition_penalty_keeps_greedy_decoding_from_repeating_itself(eng):
    plain = eng.generate(["ab"], n=1, sampling=Sampling(max_new_tokens=24, temperature=0.0), seed=0)
    pen = eng.generate(["ab"], n=1, sampling=Sampling(max_new_tokens=24, temperature=0.0, repetition_penalty=50.0), seed=0)

    def real(g):
        return [t for t, m in zip(g.completion_ids[0].tolist(), g.completion_mask[0].tolist()) if m]

    assert len(set(real(plain))) < len(real(plain))  # the tiny random model loops without the penalty
    tokens = real(pen)
    assert len(tokens) > 5 and len(set(tokens)) == len(tokens)
    assert not set(tokens) & set(pen.prompt_ids[0][pen.prompt_mask[0].bool()].tolist())


def test_min_p_and_repetition_penalty_are_shard_independent_and_keep_raw_behaviour_logprobs(eng):
    s = Sampling(max_new_tokens=8, temperature=0.9, min_p=0.05, repetition_penalty=1.3)
    whole = eng.generate(PROMPTS, n=2, sampling=s, seed=7)
    parts = [eng.generate(PROMPTS[:1], n=2, sampling=s, seed=7, first_prompt=0),
             eng.generate(PROMPTS[1:], n=2, sampling=s, seed=7, first_prompt=1)]
    cat = Generation.cat(parts, pad_id=eng.pad_id)
    assert torch.equal(cat.completion_ids, whole.completion_ids) and cat.texts == whole.texts
    with torch.no_grad():
        learner, _ = policy.completion_logprobs(eng.model, whole.prompt_ids, whole.prompt_mask, whole.completion_ids,
                                                whole.completion_mask)
    m = whole.completion_mask.bool()
    assert torch.allclose(whole.logprobs[m], learner[m], atol=1e-5)


# ------------------------------------------------------------------------------------------- the update

# two prompts x 4 samples. Group 0's rewards are all 0.9 (no signal; a float mean that is not exactly 0.9),
# group 1's differ.
REWARDS = [0.9, 0.9, 0.9, 0.9, 1.0, 0.0, 0.5, 0.0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """One tiny learner (with a reference model, for the KL cases), its initial weights and one batch of rollouts."""
    from rlvr import tasks
    from rlvr.learner import Learner

    cfg = tiny(tmp_path_factory.mktemp("u"), "grpo.kl_coef=0.01")
    learner = Learner(cfg)
    init = {k: v.clone() for k, v in learner.model.state_dict().items()}
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(2)]
    gen = trainer.rollout(TransformersEngine(learner.model, learner.tokenizer), learner.tokenizer, cfg, examples, 0).result()
    return learner, init, examples, gen


def tiny(tmp_path, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", "optim.max_grad_norm=0",
                                                  "grpo.prompts_per_step=2", "grpo.samples_per_prompt=4", "generation.max_new_tokens=8",
                                                  *overrides])


class Recording(torch.optim.SGD):
    """SGD with lr 1 (each step moves a weight by exactly its gradient) that keeps the weights after each step."""

    def __init__(self, params):
        self.params = list(params)
        super().__init__(self.params, lr=1.0)
        self.after = []

    def step(self, closure=None):
        super().step(closure)
        self.after.append(torch.cat([p.detach().flatten().clone() for p in self.params]))


def update(setup, tmp_path, *overrides, rewards=REWARDS, rows=None):
    """Reset the learner to its initial weights, apply one `Learner.update` under the config with `overrides`
    on the batch with `rewards` (its rows `rows` only, if given), and return (stats, weights after each step)."""
    learner, init, examples, gen = setup
    cfg = tiny(tmp_path, *overrides)
    learner.model.load_state_dict(init)
    learner.cfg = cfg
    learner.optimizer = Recording(p for p in learner.model.parameters() if p.requires_grad)
    learner.scheduler = torch.optim.lr_scheduler.LambdaLR(learner.optimizer, lambda s: 1.0)
    batch = trainer.Rollouts(1, [ex for ex in examples for _ in range(4)], gen, {}, torch.tensor(rewards), torch.zeros(8))
    if rows is not None:
        batch = dataclasses.replace(batch, examples=[batch.examples[i] for i in rows], gen=trainer.select(gen, rows),
                                    reward=batch.reward[rows], correct=batch.correct[rows])
    stats = learner.update(trainer.advantage(batch, cfg))
    return stats, learner.optimizer.after


@pytest.mark.parametrize("extra", [["grpo.loss_aggregation=seq_mean_token_mean"], ["grpo.mini_batches=2"]])
def test_skip_zero_signal_groups_is_a_speed_up_only(setup, tmp_path, extra):
    # Before: the skipped group's tokens also left the normaliser (and its advantages were +-6e-4, not 0), so
    # the update changed; now the skipped rows are only not computed.
    on, w_on = update(setup, tmp_path, "grpo.kl_coef=0", "grpo.skip_zero_signal_groups=true", *extra)
    off, w_off = update(setup, tmp_path, "grpo.kl_coef=0", "grpo.skip_zero_signal_groups=false", *extra)
    assert on["trained_fraction"] == 0.5 and off["trained_fraction"] == 1.0  # work was saved
    assert len(w_on) == len(w_off) and on["grad_norm"] > 0
    for a, b in zip(w_on, w_off):
        assert torch.allclose(a, b, atol=1e-6), (a - b).abs().max()
    assert on["grad_norm"] == pytest.approx(off["grad_norm"], rel=1e-5)


@pytest.mark.parametrize("term", ["grpo.kl_coef=0.01", "grpo.entropy_coef=0.01"])
def test_zero_signal_groups_are_kept_where_another_term_gives_them_a_gradient(setup, tmp_path, term):
    on, w_on = update(setup, tmp_path, "grpo.kl_coef=0", term, "grpo.skip_zero_signal_groups=true")
    off, w_off = update(setup, tmp_path, "grpo.kl_coef=0", term, "grpo.skip_zero_signal_groups=false")
    assert on["trained_fraction"] == 1.0
    assert torch.allclose(w_on[-1], w_off[-1], atol=1e-6)


def test_mini_batches_take_one_optimizer_step_each_normalised_on_their_own(setup, tmp_path):
    stats, steps = update(setup, tmp_path, "grpo.kl_coef=0", "grpo.mini_batches=2", "grpo.updates_per_batch=2")
    assert len(steps) == 4  # 2 passes x 2 mini-batches
    # the second step is group 1 alone (rows 4-7, the second contiguous half), normalised by its own 4 rows: the same as
    # a whole update on a batch of just those rows (skipping made group 0's mini-batch a step on zero gradients)
    learner, init = setup[0], setup[1]
    learner.model.load_state_dict(init)
    start = torch.cat([p.detach().flatten() for p in learner.model.parameters() if p.requires_grad])
    assert torch.equal(steps[0], start)  # group 0's mini-batch: a step on zero gradients
    alone, (only,) = update(setup, tmp_path, "grpo.kl_coef=0", "grpo.prompts_per_step=1", rows=[4, 5, 6, 7],
                            rewards=REWARDS)
    assert torch.allclose(steps[1], only, atol=1e-6)
    # and the loss reported is the last pass's mean over its two mini-batches
    assert stats["trained_fraction"] == 0.5


def test_entropy_bonus_raises_the_entropy_of_groups_without_signal(setup, tmp_path):
    learner, init, examples, gen = setup
    flat = [0.0] * 8  # no group has signal: only the entropy bonus moves the weights

    def mean_entropy():
        with torch.no_grad():
            _, ent = policy.completion_logprobs(learner.model, gen.prompt_ids, gen.prompt_mask, gen.completion_ids,
                                                gen.completion_mask, entropy=True)
        m = gen.completion_mask.float()
        return float((ent * m).sum() / m.sum())

    learner.model.load_state_dict(init)
    before = mean_entropy()
    stats, _ = update(setup, tmp_path, "grpo.kl_coef=0", "grpo.entropy_coef=0.5", rewards=flat)
    assert stats["trained_fraction"] == 1.0 and stats["grad_norm"] > 0
    assert mean_entropy() > before


def test_scale_rewards_reaches_the_advantage_phase_and_is_refused_where_it_means_nothing(tmp_path):
    gen = Generation(torch.zeros(8, 1, dtype=torch.long), torch.ones(8, 1, dtype=torch.long), torch.zeros(8, 2, dtype=torch.long),
                     torch.ones(8, 2, dtype=torch.long), torch.zeros(8, dtype=torch.bool), [""] * 8)
    batch = trainer.Rollouts(1, [], gen, {}, torch.tensor([1.0, 0.0, 0.0, 1.0, 3.0, 1.0, 1.0, 1.0]), torch.zeros(8))
    adv = trainer.advantage(batch, tiny(tmp_path, "grpo.scale_rewards=batch", "grpo.adv_eps=1e-12")).advantage
    # the batch's 8 rewards: mean 1, unbiased std sqrt(6 / 7)
    centred = torch.tensor([0.5, -0.5, -0.5, 0.5, 1.5, -0.5, -0.5, -0.5])
    assert torch.allclose(adv, centred / (6 / 7) ** 0.5)
    with pytest.raises(ConfigError, match="scale_rewards=batch applies to grpo.advantage=grpo"):
        tiny(tmp_path, "grpo.scale_rewards=batch", "grpo.advantage=rloo")
    with pytest.raises(ConfigError, match="async_steps=0"):
        tiny(tmp_path, "grpo.dynamic_sampling=true", "cluster.async_steps=1")


# ------------------------------------------------------------------------------------------- dynamic sampling


def fake_round(step, rewards, first_index, n=2):
    """Rewarded rollouts for len(rewards) / n prompts numbered from first_index (their question says which)."""
    from rlvr.tasks import Example

    B = len(rewards)
    gen = Generation(torch.zeros(B, 1, dtype=torch.long), torch.ones(B, 1, dtype=torch.long),
                     torch.arange(B)[:, None].repeat(1, 2), torch.ones(B, 2, dtype=torch.long), torch.zeros(B, dtype=torch.bool),
                     [f"c{first_index * n + i}" for i in range(B)], torch.zeros(B, 2))
    examples = [Example(question=f"q{first_index + i // n}", answer="0") for i in range(B)]
    return trainer.Rollouts(step, examples, gen, {"r": list(rewards)}, torch.tensor(rewards), torch.zeros(B))


def test_dynamic_sample_keeps_groups_with_signal_until_the_batch_is_full(tmp_path):
    cfg = tiny(tmp_path, "grpo.prompts_per_step=3", "grpo.samples_per_prompt=2", "grpo.dynamic_sampling=true",
               "grpo.dynamic_sampling_max_rounds=4")
    # round 0: prompts 0-2, only prompt 1 has signal; round 1: prompts 3-5, 3 and 5 have; round 2 is never sampled
    rounds = {1: fake_round(1, [0, 1, 0, 0, 0.5, 0.2], 3)}
    asked = []

    def more(r):
        asked.append(r)
        return rounds[r]

    batch, consumed, stats = trainer.dynamic_sample(fake_round(1, [1, 1, 0, 1, 0, 0], 0), more, cfg, pad_id=0)
    assert asked == [1] and consumed == 6
    assert [ex.question for ex in batch.examples] == ["q1", "q1", "q3", "q3", "q5", "q5"]
    assert batch.gen.texts == ["c2", "c3", "c6", "c7", "c10", "c11"] and batch.per_reward["r"] == [0, 1, 0, 1, 0.5, 0.2]
    assert not algos.zero_signal_groups(batch.reward.view(-1, 2)).any()
    assert stats == {"dynamic_sampling/rounds": 2, "dynamic_sampling/signal_fraction": 3 / 6, "dynamic_sampling/filled": 1.0}
    # at most max_rounds rounds: short of groups, the step trains on those it found; with none, on round 0 as it is
    cfg2 = tiny(tmp_path, "grpo.prompts_per_step=3", "grpo.samples_per_prompt=2", "grpo.dynamic_sampling=true",
                "grpo.dynamic_sampling_max_rounds=2")
    flat = fake_round(1, [1, 1, 0, 0, 1, 1], 0)
    batch, consumed, stats = trainer.dynamic_sample(flat, lambda r: fake_round(1, [0, 0, 0, 1, 1, 1], 3), cfg2, pad_id=0)
    assert consumed == 6 and len(batch.reward) == 2 and stats["dynamic_sampling/filled"] == pytest.approx(1 / 3)
    batch, consumed, _ = trainer.dynamic_sample(flat, lambda r: flat, cfg2, pad_id=0)
    assert batch is flat and consumed == 6


def parity_reward(prompts, completions, answer, **kwargs):
    """Signal only for prompts with an even answer (completion length parity); none for odd answers."""
    return [float(len(c) % 2) if int(a) % 2 == 0 else 0.0 for c, a in zip(completions, answer)]


@pytest.mark.slow
def test_dynamic_sampling_trains_only_on_groups_with_signal_and_advances_the_data_by_what_it_used(tmp_path):
    import json

    cfg = tiny(tmp_path, "name=ds", "steps=2", "eval.at_start=false", "eval.at_end=false", "log.report_to=[]",
               "generation.max_new_tokens=6", "grpo.dynamic_sampling=true", "grpo.dynamic_sampling_max_rounds=3",
               "checkpoint.save_every=0")
    run = trainer.train(cfg, reward_funcs=[parity_reward])
    rollouts = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    groups = {}
    for r in rollouts:
        groups.setdefault((r["step"], r["prompt"]), []).append(r["reward"])
    assert groups and all(len(set(v)) > 1 for v in groups.values())  # every trained group has signal
    assert all(int(r["answer"]) % 2 == 0 for r in rollouts)
    rounds = [m["dynamic_sampling/rounds"] for m in metrics]
    assert max(rounds) > 1 and all(m["zero_signal_group_fraction"] == 0 for m in metrics)
    (final,) = (run / "checkpoints").glob("step-*")
    state = torch.load(final / "trainer_state.pt", weights_only=False)
    assert state["data_position"] == 2 * sum(rounds)  # prompts_per_step per round sampled


@pytest.mark.slow
def test_dynamic_sampling_resumes_to_the_same_run(tmp_path):
    """2 steps straight equal 1 step, then a resume to 2: the data position saved is where round sampling left it."""
    common = ["eval.at_start=false", "eval.at_end=false", "log.report_to=[]", "generation.max_new_tokens=6",
              "grpo.dynamic_sampling=true", "grpo.dynamic_sampling_max_rounds=3", "checkpoint.save_every=1"]
    straight = trainer.train(tiny(tmp_path, "name=a", "steps=2", *common), reward_funcs=[parity_reward])
    half = trainer.train(tiny(tmp_path, "name=b", "steps=1", *common), reward_funcs=[parity_reward])
    trainer.train(tiny(tmp_path, "name=b", "steps=2", *common), reward_funcs=[parity_reward], resume=half)
    assert (half / "rollouts.jsonl").read_text() == (straight / "rollouts.jsonl").read_text()
    import json

    metrics = [json.loads(line) for line in (straight / "metrics.jsonl").read_text().splitlines()]
    # not vacuous: step 1 sampled more than one round, so step 2 starts past prompts_per_step, and was logged
    assert metrics[0]["dynamic_sampling/rounds"] > 1 and [m["step"] for m in metrics] == [1, 2]


# ------------------------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize("key, hint", [
    ("beta", "grpo.kl_coef"), ("num_generations", "grpo.samples_per_prompt"), ("epsilon_high", "grpo.clip_high"),
    ("max_completion_length", "generation.max_new_tokens"), ("learning_rate", "optim.lr"),
    ("loss_type", "grpo.loss_aggregation` or `grpo.policy_loss"), ("scale_rewards", "grpo.scale_rewards"),
    ("num_iterations", "grpo.updates_per_batch"), ("temperature", "generation.temperature"),
    ("grpo.beta", "grpo.kl_coef"), ("num_generatons", "grpo.samples_per_prompt"), ("grpo.kl_coeff", "grpo.kl_coef"),
    ("temprature", "generation.temperature"), ("task.digitz", "task.digits"), ("kl_coef", "grpo.kl_coef"),
])
def test_trl_names_and_misspellings_get_a_did_you_mean(tmp_path, key, hint):
    with pytest.raises(ConfigError) as e:
        tiny(tmp_path, f"{key}=1")
    assert f"unknown key (did you mean `{hint}`?)" in str(e.value)


def test_an_unknown_key_like_nothing_gets_no_guess(tmp_path):
    with pytest.raises(ConfigError) as e:
        tiny(tmp_path, "frobnicate=1")
    assert str(e.value).endswith("frobnicate: unknown key")
