"""The learner: the policy, its reference, optimizer and schedule, and the update phase of a GRPO step.

One `Learner` per process. Alone (`group=None`) it trains on the whole batch. In a torch.distributed group of
W learners (gloo on CPU, NCCL on GPU), learner r takes the r-th contiguous shard of the batch's trained rows
and the gradients are summed across the group before clipping and the optimizer step. The loss's
normalisers describe the whole batch (see `algos`' aggregation), so the summed gradient is the gradient one
learner would compute, and every learner applies the same step: their weights stay equal.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from torch import Tensor

from rlvr import algos, checkpoint as ckpt, policy
from rlvr.models import pick_device, pick_dtype


def trained_rows(batch, cfg) -> Tensor:
    """Indices of the sequences that enter the loss (all learners agree on them)."""
    keep = torch.ones_like(batch.reward, dtype=torch.bool)
    if cfg.grpo.skip_zero_signal_groups:
        keep &= ~batch.zero_signal.repeat_interleave(cfg.grpo.samples_per_prompt)
    if cfg.grpo.mask_truncated:
        keep &= ~batch.gen.truncated.cpu()
    return keep.nonzero().flatten()


class Learner:
    """`checkpoint`: a folder to resume from (weights, optimizer, schedule); `group`: the data-parallel
    process group, None for a learner on its own."""

    def __init__(self, cfg, *, checkpoint: Path | None = None, group=None):
        self.cfg, self.group = cfg, group
        self.device = pick_device(cfg.device)
        dtype = pick_dtype(cfg.dtype, self.device)
        torch.manual_seed(cfg.seed)
        self.model, self.tokenizer = policy.build(cfg, self.device, dtype, checkpoint=checkpoint)
        self.ref = policy.reference(cfg, self.model, self.device, dtype)
        self.optimizer, self.scheduler = policy.optimizer_and_schedule(cfg, self.model)
        self.state = ckpt.restore(checkpoint, self.optimizer, self.scheduler) if checkpoint is not None else {}

    @property
    def rank(self) -> int:
        return 0 if self.group is None else torch.distributed.get_rank(self.group)

    @property
    def world(self) -> int:
        return 1 if self.group is None else torch.distributed.get_world_size(self.group)

    def lr(self) -> float:
        return self.scheduler.get_last_lr()[0]

    def policy(self):
        """What rollout engines sync from: the model itself, for an engine in this process."""
        return self.model

    def weights(self) -> dict[str, Tensor]:
        """The trainable parameters by name, on CPU: what an engine in another process loads (the LoRA
        adapters only, with LoRA)."""
        return {name: p.detach().to("cpu", copy=True) for name, p in self.model.named_parameters() if p.requires_grad}

    def save(self, folder: Path, *, step: int, data_position: int, extra: dict | None = None) -> Path:
        return ckpt.save(folder, step=step, model=self.model, tokenizer=self.tokenizer, optimizer=self.optimizer,
                         scheduler=self.scheduler, data_position=data_position, keep_last=self.cfg.checkpoint.keep_last,
                         extra=extra)

    def update(self, batch) -> dict:
        """updates_per_batch optimizer steps on this learner's shard of the batch; returns the batch's
        update statistics (the same on every learner)."""
        cfg, g, device = self.cfg, self.cfg.grpo, self.device
        gen = batch.gen
        rows = trained_rows(batch, cfg)
        stats = {"trained_fraction": len(rows) / len(batch.reward), "grad_norm": 0.0, "loss": 0.0}
        names = ("entropy", "kl", "clip_low_fraction", "clip_high_fraction")
        if len(rows) == 0:  # nothing to learn from: no parameter moves, but the schedule advances with the step
            self.optimizer.zero_grad(set_to_none=True)
            self.optimizer.step()
            self.scheduler.step()
            return stats | {k: float("nan") if k in ("entropy", "kl") else 0.0 for k in names}
        mask = gen.completion_mask.float()
        norms = dict(batch_tokens=float(mask[rows.to(mask.device)].sum()), batch_seqs=float(len(rows)),
                     max_tokens=cfg.generation.max_new_tokens)
        mine = rows.tensor_split(self.world)[self.rank]  # this learner's contiguous shard (whole groups mostly)
        micro = [mine[i : i + cfg.optim.micro_batch_size] for i in range(0, len(mine), cfg.optim.micro_batch_size)]

        def inputs(idx):
            idx = idx.to(device)
            return gen.prompt_ids[idx], gen.prompt_mask[idx], gen.completion_ids[idx], gen.completion_mask[idx]

        compute = functools.partial(policy.compute_context, cfg, device)  # a fresh context per use
        model = self.model
        with torch.no_grad(), compute():
            # Old log-probs only matter when the policy moves between updates on this batch, or when rollouts
            # came from lagging weights and are re-weighted towards them.
            corrected = cfg.cluster.async_steps > 0 and g.tis_cap > 0 and gen.logprobs is not None
            need_old = g.updates_per_batch > 1 or corrected
            old = [policy.completion_logprobs(model, *inputs(mb))[0] for mb in micro] if need_old else None
            ref_logp = None
            if self.ref is not None and g.kl_coef > 0:
                ref_model, ctx = self.ref()
                with ctx:
                    ref_logp = [policy.completion_logprobs(ref_model, *inputs(mb))[0] for mb in micro]

        adv = batch.advantage.to(device)
        weights, is_sums = None, torch.zeros(4, dtype=torch.float64)  # sum w, max ratio, capped tokens, tokens
        if corrected:
            weights = []
            for j, mb in enumerate(micro):
                m = mask[mb.to(mask.device)].to(device)
                w, s = algos.truncated_importance_weights(old[j], gen.logprobs[mb.to(gen.logprobs.device)].to(device), m,
                                                          cap=g.tis_cap)
                weights.append(w)
                n = float(m.sum())
                if n:
                    is_sums += torch.tensor([s["mean"] * n, 0.0, s["capped_fraction"] * n, n], dtype=torch.float64)
                    is_sums[1] = max(float(is_sums[1]), s["max"])
        hyper = dict(policy_loss=g.policy_loss, clip_low=g.clip_low, clip_high=g.clip_high, kl_estimator=g.kl_estimator,
                     kl_coef=g.kl_coef, aggregation=g.loss_aggregation, **norms)
        params = [p for p in model.parameters() if p.requires_grad]
        sums = torch.zeros(5, dtype=torch.float64)  # entropy, kl, clip_low, clip_high token sums; loss
        for epoch in range(g.updates_per_batch):
            self.optimizer.zero_grad(set_to_none=True)
            total = 0.0
            for j, mb in enumerate(micro):
                m = mask[mb.to(mask.device)]
                with compute():
                    logp, ent = policy.completion_logprobs(model, *inputs(mb), entropy=epoch == 0)
                old_logp = old[j] if old is not None else logp.detach()
                loss, clip = algos.grpo_loss(logp, old_logp, adv[mb.to(device)], m,
                                             ref_logp=ref_logp[j] if ref_logp is not None else None,
                                             is_weights=weights[j] if weights is not None else None, **hyper)
                loss.backward()
                total += float(loss.detach())
                if epoch == 0:
                    sums[0] += float((ent * m).sum())
                    if "kl" in clip:
                        sums[1] += float((clip["kl"] * m).sum())
                sums[2] += float((clip["clip_low"] * m).sum())
                sums[3] += float((clip["clip_high"] * m).sum())
            self._sum_gradients(params)
            max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else float("inf")
            stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
            sums[4] = total
            self._sum(sums[4:5])
            stats["loss"] = float(sums[4])
            self.optimizer.step()
        self.scheduler.step()
        self._sum(sums[:4])
        tokens = norms["batch_tokens"]
        stats["entropy"] = float(sums[0]) / tokens
        stats["kl"] = float(sums[1]) / tokens if ref_logp is not None else float("nan")
        stats["clip_low_fraction"] = float(sums[2]) / (tokens * g.updates_per_batch)
        stats["clip_high_fraction"] = float(sums[3]) / (tokens * g.updates_per_batch)
        if corrected:
            is_sums = self._sum_is(is_sums)
            stats["importance/mean"] = float(is_sums[0] / is_sums[3]) if is_sums[3] else float("nan")
            stats["importance/max"] = float(is_sums[1])
            stats["importance/capped_fraction"] = float(is_sums[2] / is_sums[3]) if is_sums[3] else 0.0
        return stats

    # ----------------------------------------------------------------------------------- collectives

    def _sum(self, t: Tensor) -> None:
        """In-place sum of a small float64 CPU tensor across the group (nothing when alone)."""
        if self.group is not None:
            buf = t.to(self._collective_device())
            torch.distributed.all_reduce(buf, group=self.group)
            t.copy_(buf.cpu())

    def _sum_is(self, s: Tensor) -> Tensor:
        """Importance statistics across the group: sums for weight, capped and token counts, max for the ratio."""
        if self.group is None:
            return s
        rest = s[[0, 2, 3]].clone()
        self._sum(rest)
        mx = s[1:2].to(self._collective_device())
        torch.distributed.all_reduce(mx, op=torch.distributed.ReduceOp.MAX, group=self.group)
        return torch.stack([rest[0], mx.cpu()[0], rest[1], rest[2]])

    def _sum_gradients(self, params: list[Tensor]) -> None:
        """Sum every parameter's gradient across the group in one flat buffer (a learner whose shard was
        empty contributes zeros)."""
        if self.group is None:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([gr.reshape(-1) for gr in grads])
        torch.distributed.all_reduce(flat, group=self.group)
        for p, part in zip(params, flat.split([gr.numel() for gr in grads])):
            p.grad = part.view_as(p)

    def _collective_device(self) -> torch.device:
        return self.device if torch.distributed.get_backend(self.group) == "nccl" else torch.device("cpu")
