"""The RL core against hand-computed numbers and invariances."""

import math

import pytest
import torch

from rlvr import algos


def test_grpo_advantages_hand_computed():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    # mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 0.57735
    adv = algos.grpo_advantages(r, eps=0.0)
    assert torch.allclose(adv, torch.tensor([[0.8660254, -0.8660254, -0.8660254, 0.8660254]]))


def test_dr_grpo_advantages_are_mean_centred_only():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 1.0, 1.0, 1.0]])
    assert torch.allclose(algos.dr_grpo_advantages(r), torch.tensor([[0.5, -0.5, -0.5, 0.5], [1.5, -0.5, -0.5, -0.5]]))


def test_rloo_is_leave_one_out():
    r = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    # r_0 - mean(0,0,0) = 1 ; r_1 - mean(1,0,0) = -1/3
    assert torch.allclose(algos.rloo_advantages(r), torch.tensor([[1.0, -1 / 3, -1 / 3, -1 / 3]]))
    with pytest.raises(ValueError):
        algos.rloo_advantages(torch.tensor([[1.0]]))


def test_zero_signal_groups_have_zero_advantage():
    r = torch.tensor([[1.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    assert algos.zero_signal_groups(r).tolist() == [True, False, True]
    for fn in algos.ADVANTAGES.values():
        adv = fn(r)
        assert torch.all(adv[[0, 2]] == 0)


@pytest.mark.parametrize("fn", sorted(algos.ADVANTAGES))
def test_zero_signal_advantages_are_exactly_zero_whatever_the_float_mean(fn):
    # the float32 mean of three 0.9s is not 0.9; with std ~0 and eps 1e-4 the old grpo gave +-6e-4 instead of 0,
    # so "skipping" such a group changed the gradient
    r = torch.tensor([[0.9, 0.9, 0.9], [0.0, 1.0, 0.0]])
    adv = algos.ADVANTAGES[fn](r)
    assert adv[0].tolist() == [0.0, 0.0, 0.0] and adv[1].abs().sum() > 0
    for scale in ("group", "batch"):
        assert algos.grpo_advantages(r, scale=scale)[0].tolist() == [0.0, 0.0, 0.0]


def test_grpo_scale_rewards_group_batch_none_hand_computed():
    r = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 1.0, 1.0, 1.0]])
    centred = torch.tensor([[0.5, -0.5, -0.5, 0.5], [1.5, -0.5, -0.5, -0.5]])
    # group: stds sqrt(4 * 0.25 / 3) = 0.57735 and sqrt((2.25 + 3 * 0.25) / 3) = 1
    group = algos.grpo_advantages(r, eps=0.0, scale="group")
    assert torch.allclose(group, torch.tensor([[0.8660254, -0.8660254, -0.8660254, 0.8660254], [1.5, -0.5, -0.5, -0.5]]))
    # batch: all 8 rewards have mean 1, squared deviations 1 + 1 + 4 = 6, unbiased std sqrt(6 / 7) = 0.9258201
    batch = algos.grpo_advantages(r, eps=0.0, scale="batch")
    assert torch.allclose(batch, centred / 0.9258201)
    assert torch.allclose(algos.grpo_advantages(r, eps=0.0, scale="none"), centred)
    assert torch.equal(algos.grpo_advantages(r, scale="none"), algos.dr_grpo_advantages(r))
    with pytest.raises(ValueError, match="scale"):
        algos.grpo_advantages(r, scale="global")


def test_clipped_surrogate_hand_computed():
    old = torch.zeros(1, 3)
    logp = torch.log(torch.tensor([[1.5, 0.5, 1.5]]))
    mask = torch.ones(1, 3)
    # one sequence per advantage sign: evaluate tokens separately by using three sequences
    logp3, old3, mask3 = logp.T, old.T, mask.T  # [3, 1]
    adv = torch.tensor([1.0, -1.0, -1.0])
    loss, clip = algos.clipped_surrogate(logp3, old3, adv, mask3, clip_low=0.2, clip_high=0.28)
    # ratio 1.5, A=+1: min(1.5, 1.28) = 1.28 -> loss -1.28, clipped high
    # ratio 0.5, A=-1: min(-0.5, -0.8) = -0.8 -> loss 0.8, clipped low
    # ratio 1.5, A=-1: min(-1.5, -1.28) = -1.5 -> loss 1.5, not clipped (pessimistic branch)
    assert torch.allclose(loss.flatten(), torch.tensor([-1.28, 0.8, 1.5]))
    assert clip["clip_high"].flatten().tolist() == [1.0, 0.0, 0.0]
    assert clip["clip_low"].flatten().tolist() == [0.0, 1.0, 0.0]


def test_on_policy_gradient_is_advantage_weighted_logprob_gradient():
    logp = torch.tensor([[-1.0, -2.0]], requires_grad=True)
    loss, _ = algos.clipped_surrogate(logp, logp.detach(), torch.tensor([2.0]), torch.ones(1, 2), clip_low=0.2, clip_high=0.2)
    loss.sum().backward()
    assert torch.allclose(logp.grad, torch.tensor([[-2.0, -2.0]]))


def test_gspo_uses_one_ratio_per_sequence():
    old = torch.zeros(1, 2)
    logp = torch.tensor([[0.2, -0.1]], requires_grad=True)
    mask = torch.ones(1, 2)
    loss, clip = algos.gspo_surrogate(logp, old, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.2)
    s = math.exp(0.05)  # geometric mean of the token ratios
    assert torch.allclose(loss, torch.full((1, 2), -s))
    algos.seq_mean_token_mean(loss, mask, batch_tokens=2, batch_seqs=1, max_tokens=2).backward()
    # d/dlogp_t of -s * A with s = exp(mean(logp - old)) is -s / |y|
    assert torch.allclose(logp.grad, torch.full((1, 2), -s / 2))
    # a sequence ratio beyond the range is clipped for every token at once
    loss, clip = algos.gspo_surrogate(torch.tensor([[1.0, 0.0]]), old, torch.tensor([1.0]), mask, clip_low=0.2, clip_high=0.2)
    assert clip["clip_high"].tolist() == [[1.0, 1.0]]


def _three_tokens(ratios, old=-1.0):
    """Three one-token sequences with the given ratios pi / pi_old: logp [3, 1] (a leaf), old [3, 1], mask."""
    old_logp = torch.full((3, 1), old)
    logp = (old_logp + torch.log(torch.tensor(ratios))[:, None]).requires_grad_()
    return logp, old_logp, torch.ones(3, 1)


def test_cispo_hand_computed():
    # ratios 0.5, 1.5, 8 with cap 5: weights 0.5, 1.5, 5 (no gradient through them); A = 2 for each sequence
    logp, old, mask = _three_tokens([0.5, 1.5, 8.0])
    adv = torch.tensor([2.0, 2.0, 2.0])
    loss, stats = algos.cispo_loss(logp, old, adv, mask, cispo_cap=5.0)
    lp = [-1 + math.log(0.5), -1 + math.log(1.5), -1 + math.log(8.0)]
    assert torch.allclose(loss.flatten(), torch.tensor([-0.5 * 2 * lp[0], -1.5 * 2 * lp[1], -5.0 * 2 * lp[2]]))
    assert stats["clip_high"].flatten().tolist() == [0.0, 0.0, 1.0]
    (g,) = torch.autograd.grad(loss.sum(), logp)
    # d/dlogp of -sg(w) A logp is -w A: the capped token still learns, with weight 5
    assert torch.allclose(g.flatten(), torch.tensor([-1.0, -3.0, -10.0]))
    # where the clipped surrogate drops it: ratio 8 > 1.28 with A > 0 is clipped, no gradient
    clip, _ = algos.clipped_surrogate(logp, old, adv, mask, clip_low=0.2, clip_high=0.28)
    (gc,) = torch.autograd.grad(clip.sum(), logp)
    assert gc.flatten()[2].item() == 0.0


def test_sapo_hand_computed():
    # ratio 1, A = +1 (tau_pos 1): loss -(4/1) sigmoid(0) = -2, gradient wrt logp -4 s (1 - s) r A = -1 (= plain PG)
    # ratio 2, A = -1 (tau_neg 1.05): loss (4/1.05) sigmoid(1.05), gradient 4 s (1 - s) * 2 with s = sigmoid(1.05)
    # ratio 0.5, A = 0: nothing
    logp, old, mask = _three_tokens([1.0, 2.0, 0.5])
    adv = torch.tensor([1.0, -1.0, 0.0])
    loss, stats = algos.sapo_loss(logp, old, adv, mask, sapo_temperature_pos=1.0, sapo_temperature_neg=1.05)
    s = 1 / (1 + math.exp(-1.05))
    assert torch.allclose(loss.flatten(), torch.tensor([-2.0, 4 / 1.05 * s, 0.0]))
    (g,) = torch.autograd.grad(loss.sum(), logp)
    assert torch.allclose(g.flatten(), torch.tensor([-1.0, 4 * s * (1 - s) * 2.0, 0.0]))
    assert stats["clip_low"].sum() == 0 and stats["clip_high"].sum() == 0
    # the temperature that applies is the advantage sign's: tau_neg for A = -1 (tau_pos would give 4 sigmoid(1))
    loss_pos, _ = algos.sapo_loss(logp, old, adv, mask, sapo_temperature_pos=1.05, sapo_temperature_neg=1.0)
    assert loss_pos.flatten()[1].item() == pytest.approx(4 / (1 + math.exp(-1.0)))


def test_entropy_bonus_is_subtracted_and_aggregated_like_the_surrogate():
    logp = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([2.0, -1.0])
    ent = torch.tensor([[0.5, 1.0], [2.0, 9.0]], requires_grad=True)  # 9.0 sits on padding
    kw = dict(batch_tokens=3.0, batch_seqs=2.0, max_tokens=2)
    loss, _ = algos.grpo_loss(logp, logp, adv, mask, entropy=ent, entropy_coef=0.1, **kw)
    assert loss.item() == pytest.approx((-2 - 2 + 1 - 0.1 * (0.5 + 1.0 + 2.0)) / 3)
    (g,) = torch.autograd.grad(loss, ent)
    assert torch.allclose(g, -0.1 * mask / 3)  # descending the loss raises the entropy
    off, _ = algos.grpo_loss(logp, logp, adv, mask, entropy=ent, entropy_coef=0.0, **kw)
    assert off.item() == pytest.approx((-2 - 2 + 1) / 3)


def test_kl_estimators_hand_computed():
    logp, ref = torch.tensor([-1.0]), torch.tensor([-2.0])
    assert torch.allclose(algos.kl_k1(logp, ref), torch.tensor([1.0]))
    assert torch.allclose(algos.kl_k2(logp, ref), torch.tensor([0.5]))
    assert torch.allclose(algos.kl_k3(logp, ref), torch.tensor([math.exp(-1) - 1 + 1]))
    same = torch.tensor([-0.7])
    for fn in algos.KL_ESTIMATORS.values():
        assert fn(same, same).item() == 0.0
    # k3 is non-negative everywhere
    a, b = torch.randn(100), torch.randn(100)
    assert torch.all(algos.kl_k3(a, b) >= 0)


def test_aggregations_hand_computed():
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    kw = dict(batch_tokens=4.0, batch_seqs=2.0, max_tokens=3)
    assert algos.token_mean(loss, mask, **kw).item() == pytest.approx(10 / 4)
    assert algos.seq_mean_token_mean(loss, mask, **kw).item() == pytest.approx((2 + 4) / 2)
    assert algos.seq_mean_token_sum_norm(loss, mask, **kw).item() == pytest.approx(10 / 6)


@pytest.mark.parametrize("aggregation", sorted(algos.AGGREGATIONS))
@pytest.mark.parametrize("policy_loss", sorted(algos.POLICY_LOSSES))
def test_one_batch_of_8_equals_8_accumulated_batches_of_1(aggregation, policy_loss):
    torch.manual_seed(0)
    B, T, V = 8, 5, 7
    weight = torch.randn(V, V, requires_grad=True)
    inputs = torch.randn(B, T, V)
    tokens = torch.randint(0, V, (B, T))
    mask = (torch.arange(T)[None] < torch.tensor([5, 3, 1, 4, 2, 5, 3, 2])[:, None]).float()
    adv = torch.randn(B)
    old = torch.randn(B, T) * 0.1 - 2.0
    ref = torch.randn(B, T) * 0.1 - 2.0
    norms = dict(batch_tokens=float(mask.sum()), batch_seqs=float(B), max_tokens=T)

    def loss_of(idx):
        logits = inputs[idx] @ weight
        logp = algos.token_logprobs(logits, tokens[idx])
        loss, _ = algos.grpo_loss(logp, old[idx], adv[idx], mask[idx], ref_logp=ref[idx], policy_loss=policy_loss,
                                  clip_low=0.2, clip_high=0.28, kl_coef=0.1, entropy=algos.entropy_from_logits(logits),
                                  entropy_coef=0.01, aggregation=aggregation, cispo_cap=1.1, **norms)
        return loss

    full = torch.autograd.grad(loss_of(torch.arange(B)), weight)[0]
    acc = torch.zeros_like(weight)
    for i in range(B):
        acc += torch.autograd.grad(loss_of(torch.tensor([i])), weight)[0]
    assert torch.allclose(full, acc, atol=1e-6)


def test_grpo_loss_hand_computed():
    # on-policy (ratio 1, no clipping): surrogate -A per token; k3 KL with ref = logp - log 2 is 1/2 - 1 + log 2
    logp = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([2.0, -1.0])
    kw = dict(batch_tokens=3.0, batch_seqs=2.0, max_tokens=2)
    loss, stats = algos.grpo_loss(logp, logp, adv, mask, **kw)
    assert loss.item() == pytest.approx((-2 - 2 + 1) / 3) and "kl" not in stats
    kl = 0.5 - 1 + math.log(2)
    loss, stats = algos.grpo_loss(logp, logp, adv, mask, ref_logp=logp - math.log(2), kl_coef=0.5, **kw)
    assert loss.item() == pytest.approx((-2 - 2 + 1 + 3 * 0.5 * kl) / 3)
    assert torch.allclose(stats["kl"], torch.full((2, 2), kl))
    seq, _ = algos.grpo_loss(logp, logp, adv, mask, aggregation="seq_mean_token_mean", **kw)
    assert seq.item() == pytest.approx((-2 + 1) / 2)


def test_truncated_importance_weights_hand_computed():
    # ratios exp(old - behaviour): e^0 = 1, e^{ln 3} = 3 (capped at 2), e^{-ln 2} = 1/2, and a padded token
    old = torch.tensor([[0.0, math.log(3.0)], [-math.log(2.0), 5.0]])
    behaviour = torch.zeros(2, 2)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    w, stats = algos.truncated_importance_weights(old, behaviour, mask, cap=2.0)
    assert torch.allclose(w, torch.tensor([[1.0, 2.0], [0.5, 0.0]]))
    assert stats["mean"] == pytest.approx((1 + 2 + 0.5) / 3)
    assert stats["max"] == pytest.approx(3.0)  # the raw ratio before capping; the padded e^5 is ignored
    assert stats["capped_fraction"] == pytest.approx(1 / 3)
    assert not w.requires_grad


def test_importance_weights_scale_the_policy_term_only():
    # on-policy surrogate -A per token; weights [[1, 2], [0.5, 0]] scale it; the KL term is left unweighted
    logp = torch.tensor([[-1.0, -2.0], [-0.5, 0.0]], requires_grad=True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = torch.tensor([2.0, -1.0])
    w = torch.tensor([[1.0, 2.0], [0.5, 0.0]])
    kw = dict(batch_tokens=3.0, batch_seqs=2.0, max_tokens=2)
    loss, _ = algos.grpo_loss(logp, logp.detach(), adv, mask, is_weights=w, **kw)
    assert loss.item() == pytest.approx((-2 * 1 - 2 * 2 + 1 * 0.5) / 3)
    kl = 0.5 - 1 + math.log(2)
    loss, _ = algos.grpo_loss(logp, logp.detach(), adv, mask, is_weights=w, ref_logp=(logp - math.log(2)).detach(),
                              kl_coef=0.5, **kw)
    assert loss.item() == pytest.approx((-2 - 4 + 0.5 + 3 * 0.5 * kl) / 3)
    # the gradient of the weighted surrogate is w * A * grad logp per token (divided by the token count)
    plain, _ = algos.grpo_loss(logp, logp.detach(), adv, mask, is_weights=w, **kw)
    (g,) = torch.autograd.grad(plain, logp)
    assert torch.allclose(g, torch.tensor([[-2 * 1.0, -2 * 2.0], [1 * 0.5, 0.0]]) / 3)


def test_token_logprobs_and_entropy():
    logits = torch.randn(2, 3, 11)
    tokens = torch.randint(0, 11, (2, 3))
    expected = torch.log_softmax(logits, -1).gather(-1, tokens[..., None]).squeeze(-1)
    assert torch.allclose(algos.token_logprobs(logits, tokens), expected, atol=1e-6)
    uniform = torch.zeros(1, 1, 8)
    assert algos.entropy_from_logits(uniform).item() == pytest.approx(math.log(8))


def test_pass_at_k_unbiased_estimator():
    assert algos.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert algos.pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert algos.pass_at_k(5, 0, 3) == 0.0
    assert algos.pass_at_k(5, 4, 2) == 1.0
    with pytest.raises(ValueError):
        algos.pass_at_k(2, 1, 3)
