"""The RL core as pure tensor functions: advantages, policy losses, KL estimators, loss aggregation.

Shapes: B sequences (a batch or micro-batch), T completion tokens per sequence (right-padded), G groups
of n samples each (B = G * n for advantages). `mask` is 1.0 on real completion tokens, 0.0 on padding.

Each family is a table of functions with the same keyword signature; the trainer picks one by the name in
its config (a Literal field), so adding a variant is adding one function and one table entry.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------------------
# Advantages: rewards [G, n] -> advantages [G, n]; one scalar per sequence, broadcast over its tokens later.


def _centred(rewards: Tensor) -> Tensor:
    """r - group mean, exactly 0 in a group whose rewards are all equal (a float mean of equal values can
    round away from them, and eps-sized stds would blow that rounding up): so skipping such groups is exact."""
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    return centred.masked_fill(zero_signal_groups(rewards)[:, None], 0.0)


def grpo_advantages(rewards: Tensor, *, eps: float = 1e-4, scale: str = "group") -> Tensor:
    """GRPO: (r - group mean) / (std + eps). `scale` picks the std (the sample std, unbiased, as in the paper):
    `group` each group's own, `batch` one std over every reward of the batch [G, n] (TRL's `scale_rewards:
    batch`, steadier across groups of different spread), `none` no division (= dr_grpo)."""
    centred = _centred(rewards)
    if scale == "none":
        return centred
    if scale == "batch":
        std = rewards.std(unbiased=True) if rewards.numel() > 1 else torch.zeros(())
    elif scale == "group":
        std = rewards.std(dim=1, keepdim=True, unbiased=True) if rewards.shape[1] > 1 else torch.zeros_like(centred[:, :1])
    else:
        raise ValueError(f"scale must be group, batch or none, got {scale!r}")
    return centred / (std + eps)


def dr_grpo_advantages(rewards: Tensor, *, eps: float = 1e-4, scale: str = "none") -> Tensor:
    """Dr. GRPO: r - group mean. No std division, which over-weights near-uniform groups."""
    return _centred(rewards)


def rloo_advantages(rewards: Tensor, *, eps: float = 1e-4, scale: str = "none") -> Tensor:
    """RLOO: r_i - mean of the other n-1 rewards in the group = n/(n-1) * (r_i - group mean)."""
    n = rewards.shape[1]
    if n < 2:
        raise ValueError("rloo needs samples_per_prompt >= 2")
    return _centred(rewards) * (n / (n - 1))


ADVANTAGES: dict[str, Callable[..., Tensor]] = {
    "grpo": grpo_advantages,
    "dr_grpo": dr_grpo_advantages,
    "rloo": rloo_advantages,
}


def zero_signal_groups(rewards: Tensor) -> Tensor:
    """[G] bool: groups whose rewards are all equal. Their advantages are 0 under every estimator above."""
    return (rewards == rewards[:, :1]).all(dim=1)


# ---------------------------------------------------------------------------------------------------------
# Policy losses: per-token loss [B, T] to be minimised, plus per-token clip indicators for logging.
# logp, old_logp: [B, T] log-probs of the sampled tokens; advantages: [B]; mask: [B, T].


def clipped_surrogate(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, clip_low: float, clip_high: float, **_
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO/GRPO token-level clipped surrogate with separate lower/upper ranges (DAPO clip-higher).

    loss_t = -min(ratio_t * A, clip(ratio_t, 1 - clip_low, 1 + clip_high) * A)
    """
    ratio = torch.exp(logp - old_logp)
    return _clip(ratio, advantages[:, None].expand_as(ratio), clip_low, clip_high)


def gspo_surrogate(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, clip_low: float, clip_high: float, **_
) -> tuple[Tensor, dict[str, Tensor]]:
    """GSPO: one importance ratio per sequence, the geometric mean of its token ratios.

    s_i = exp(mean_t (logp - old_logp)), clipped at sequence level. Written per token as
    s_i * exp(logp_t - sg(logp_t)) so its value is s_i everywhere and its gradient flows through every token
    with weight s_i / |y_i| once aggregated by seq_mean_token_mean.
    """
    lengths = mask.sum(dim=1).clamp(min=1)
    log_seq_ratio = ((logp - old_logp) * mask).sum(dim=1) / lengths
    seq_ratio = torch.exp(log_seq_ratio.detach())[:, None]
    ratio = seq_ratio * torch.exp(logp - logp.detach())
    return _clip(ratio, advantages[:, None].expand_as(ratio), clip_low, clip_high)


def _clip(ratio: Tensor, adv: Tensor, clip_low: float, clip_high: float) -> tuple[Tensor, dict[str, Tensor]]:
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    loss = -torch.minimum(unclipped, clipped)
    stats = {
        # the clipped branch is the active one, per side (these tokens get no gradient)
        "clip_low": ((ratio < 1.0 - clip_low) & (adv < 0)).float(),
        "clip_high": ((ratio > 1.0 + clip_high) & (adv > 0)).float(),
    }
    return loss, stats


def cispo_loss(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, cispo_cap: float = 5.0, **_
) -> tuple[Tensor, dict[str, Tensor]]:
    """CISPO (MiniMax-M1): clip the importance weight, not the update.

    loss_t = -sg(min(ratio_t, cap)) * A * logp_t. Its gradient is -min(ratio_t, cap) * A * grad logp_t for every
    token, so tokens far off-policy still learn (with a bounded weight) instead of being dropped as the clipped
    surrogate drops them. Only the upper bound is used (MiniMax sets no lower one); `clip_high` marks the
    tokens whose weight was capped."""
    ratio = torch.exp(logp - old_logp).detach()
    adv = advantages[:, None].expand_as(ratio)
    loss = -ratio.clamp(max=cispo_cap) * adv * logp
    return loss, {"clip_low": torch.zeros_like(ratio), "clip_high": (ratio > cispo_cap).float()}


def sapo_loss(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05, **_
) -> tuple[Tensor, dict[str, Tensor]]:
    """SAPO (Soft Adaptive Policy Optimization): the hard clip becomes a smooth gate.

    loss_t = -(4 / tau) * sigmoid(tau * (ratio_t - 1)) * A, tau = tau_pos where A > 0, else tau_neg. At ratio 1 the
    gate's slope is 1, so on-policy it equals the plain policy gradient; away from 1 a token's gradient weight
    4 s (1 - s) (s the sigmoid) decays smoothly instead of dropping to 0 at a clip boundary; a larger tau_neg
    damps negative updates faster. Nothing is clipped: the clip stats are 0."""
    ratio = torch.exp(logp - old_logp)
    adv = advantages[:, None].expand_as(ratio)
    tau = torch.where(adv > 0, sapo_temperature_pos, sapo_temperature_neg).to(ratio.dtype)
    loss = -(4.0 / tau) * torch.sigmoid(tau * (ratio - 1.0)) * adv
    zero = torch.zeros_like(ratio.detach())
    return loss, {"clip_low": zero, "clip_high": zero}


POLICY_LOSSES: dict[str, Callable[..., tuple[Tensor, dict[str, Tensor]]]] = {
    "clip": clipped_surrogate,
    "gspo": gspo_surrogate,
    "cispo": cispo_loss,
    "sapo": sapo_loss,
}


# ---------------------------------------------------------------------------------------------------------
# KL estimators of KL(pi || ref) from samples of pi, per token: logp, ref_logp [B, T] -> [B, T].
# (Schulman, "Approximating KL divergence": k1 unbiased, k2 low variance, k3 unbiased and non-negative.)


def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    return logp - ref_logp


def kl_k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    return 0.5 * (logp - ref_logp) ** 2


def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    log_r = ref_logp - logp
    return torch.exp(log_r) - 1.0 - log_r


KL_ESTIMATORS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"k1": kl_k1, "k2": kl_k2, "k3": kl_k3}


# ---------------------------------------------------------------------------------------------------------
# Aggregation: per-token loss [B, T] -> scalar. The normalisers describe the WHOLE batch being optimised
# (all micro-batches of one optimizer step), so summing the scalars of micro-batches gives exactly the
# full-batch loss: gradient accumulation is invariant to how the batch is split.
#   batch_tokens: real tokens in the whole batch; batch_seqs: sequences in it; max_tokens: the generation
#   budget (max_new_tokens), Dr. GRPO's constant.


def token_mean(loss: Tensor, mask: Tensor, *, batch_tokens: float, batch_seqs: float, max_tokens: int) -> Tensor:
    """DAPO: every token in the batch weighs the same, so long sequences are not down-weighted."""
    return (loss * mask).sum() / max(batch_tokens, 1.0)


def seq_mean_token_mean(
    loss: Tensor, mask: Tensor, *, batch_tokens: float, batch_seqs: float, max_tokens: int
) -> Tensor:
    """Original GRPO: mean over each sequence's tokens, then mean over sequences."""
    per_seq = (loss * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    return per_seq.sum() / max(batch_seqs, 1.0)


def seq_mean_token_sum_norm(
    loss: Tensor, mask: Tensor, *, batch_tokens: float, batch_seqs: float, max_tokens: int
) -> Tensor:
    """Dr. GRPO: token sums divided by a constant (max_tokens), removing GRPO's length bias."""
    return (loss * mask).sum() / (max(batch_seqs, 1.0) * max_tokens)


AGGREGATIONS: dict[str, Callable[..., Tensor]] = {
    "token_mean": token_mean,
    "seq_mean_token_mean": seq_mean_token_mean,
    "seq_mean_token_sum_norm": seq_mean_token_sum_norm,
}


# ---------------------------------------------------------------------------------------------------------
# Off-policy correction: rollouts sampled by weights that lag the learner's (one-step asynchronous training,
# or an inference copy in another dtype). behaviour_logp [B, T] are the sampled tokens' log-probs that the
# rollout engine recorded; old_logp [B, T] the learner's own before this batch's first update.


def truncated_importance_weights(
    old_logp: Tensor, behaviour_logp: Tensor, mask: Tensor, *, cap: float
) -> tuple[Tensor, dict[str, float]]:
    """Truncated importance sampling: w_t = min(pi_old(y_t) / pi_behaviour(y_t), cap), no gradient.

    Multiplying the per-token surrogate by w_t turns an expectation under the behaviour policy into one
    under pi_old; the cap C bounds the variance that rare tokens with huge ratios would add (biased towards
    the behaviour policy where it binds). Stats over real tokens: mean, max and the share capped."""
    ratio = torch.exp((old_logp - behaviour_logp).detach())
    weights = ratio.clamp(max=cap)
    real = mask > 0
    n = int(real.sum())
    stats = {
        "mean": float(weights[real].mean()) if n else float("nan"),
        "max": float(ratio[real].max()) if n else float("nan"),
        "capped_fraction": float((ratio[real] > cap).float().mean()) if n else 0.0,
    }
    return weights * mask, stats


# ---------------------------------------------------------------------------------------------------------
# The loss: one micro-batch's contribution to the step's objective, every choice a table lookup.


def grpo_loss(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, *, ref_logp: Tensor | None = None,
    is_weights: Tensor | None = None, policy_loss: str = "clip", clip_low: float = 0.2, clip_high: float = 0.2, kl_estimator: str = "k3",
    kl_coef: float = 0.0, entropy: Tensor | None = None, entropy_coef: float = 0.0, aggregation: str = "token_mean",
    batch_tokens: float, batch_seqs: float, max_tokens: int, **loss_hyper,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Scalar loss for logp, old_logp, mask [B, T] and advantages [B]: the policy surrogate plus kl_coef times
    the per-token KL to the reference (when ref_logp is given) minus entropy_coef times the per-token entropy
    [B, T] (when given, with its gradient: an entropy bonus), aggregated with the whole batch's normalisers,
    so summing micro-batches' losses gives the batch's. `is_weights` [B, T] (truncated importance weights for
    rollouts from lagging weights) scale the policy term, not the KL. `loss_hyper`: the named policy loss's own
    options (cispo_cap, sapo_temperature_pos/neg). Stats [B, T]: clip_low, clip_high, and kl when used."""
    per_token, stats = POLICY_LOSSES[policy_loss](logp, old_logp, advantages, mask, clip_low=clip_low,
                                                  clip_high=clip_high, **loss_hyper)
    if is_weights is not None:
        per_token = per_token * is_weights
    if ref_logp is not None:
        kl = KL_ESTIMATORS[kl_estimator](logp, ref_logp)
        per_token = per_token + kl_coef * kl
        stats = {**stats, "kl": kl.detach()}
    if entropy is not None and entropy_coef:
        per_token = per_token - entropy_coef * entropy
    loss = AGGREGATIONS[aggregation](per_token, mask, batch_tokens=batch_tokens, batch_seqs=batch_seqs, max_tokens=max_tokens)
    return loss, stats


# ---------------------------------------------------------------------------------------------------------
# Helpers shared by the trainer and evaluation.


def token_logprobs(logits: Tensor, tokens: Tensor) -> Tensor:
    """log softmax(logits)[tokens] without materialising the full log-softmax: [B, T, V], [B, T] -> [B, T]."""
    picked = torch.gather(logits, -1, tokens.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def entropy_from_logits(logits: Tensor) -> Tensor:
    """Per-token entropy of the categorical distribution: [B, T, V] -> [B, T]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k)."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod
