"""The learner: the policy, its reference, optimizer and schedule, and the update phase of a GRPO step.

One `Learner` per process. Alone (`group=None`) it trains on the whole batch. In a torch.distributed group of
W learners (gloo on CPU, NCCL on GPU), learner r takes the r-th contiguous shard of the batch's trained rows
and the gradients are summed across the group before clipping and the optimizer step. The loss's
normalisers describe the whole batch (see `algos`' aggregation), so the summed gradient is the gradient one
learner would compute, and every learner applies the same step: their weights stay equal.

With `cluster.fsdp` the policy is sharded with FSDP2 (`fully_shard` on each decoder layer, then the root):
each learner holds 1/W of the parameters, gradients and AdamW state, and gathers a layer's full weights only
while it computes with them. The reduce-scatter inside backward SUMS the gradients (divide factor 1), so the
update is still the one-learner update. FSDP's collectives run inside forward and backward, so every learner
makes the same sequence of model calls: see `fsdp_micro_batches`. `weights()` and `save()` become collective
(every learner calls them; learner 0 gets the full tensors and writes the checkpoint).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
from torch import Tensor

from rlvr import algos, checkpoint as ckpt, policy
from rlvr.models import pick_device, pick_dtype


def loss_rows(batch, cfg) -> Tensor:
    """Indices of the sequences the loss is over, and normalised by: every row, less truncated completions
    under `mask_truncated`. Skipping zero-signal groups never changes them: it is a speed-up only."""
    keep = torch.ones_like(batch.reward, dtype=torch.bool)
    if cfg.grpo.mask_truncated:
        keep &= ~batch.gen.truncated.cpu()
    return keep.nonzero().flatten()


def skips_zero_signal(cfg) -> bool:
    """Whether leaving zero-signal groups out of the backward pass is exact: their advantage is exactly 0, so
    their policy term and its gradient are 0, unless a KL or entropy term gives their tokens a gradient."""
    g = cfg.grpo
    return g.skip_zero_signal_groups and g.kl_coef == 0 and g.entropy_coef == 0


def trained_rows(batch, cfg) -> Tensor:
    """Indices of the sequences that enter the backward pass (all learners agree on them): `loss_rows`, less
    the zero-signal groups' rows where skipping them is exact (`skips_zero_signal`)."""
    rows = loss_rows(batch, cfg)
    if skips_zero_signal(cfg):
        skipped = batch.zero_signal.repeat_interleave(cfg.grpo.samples_per_prompt)
        rows = rows[~skipped[rows]]
    return rows


class NonFiniteUpdate(RuntimeError):
    """A NaN or inf loss or gradient norm, raised before the optimizer step would write it into the weights."""


class Learner:
    """`checkpoint`: a folder to resume from (weights, optimizer, schedule); `group`: the data-parallel
    process group, None for a learner on its own."""

    def __init__(self, cfg, *, checkpoint: Path | None = None, group=None):
        check_fsdp(cfg)
        self.fsdp = cfg.cluster.fsdp
        if self.fsdp and group is None:
            raise ValueError("cluster.fsdp=true needs a learner group: run with cluster.backend=ray")
        self.cfg, self.group = cfg, group
        self.device = pick_device(cfg.device)
        dtype = pick_dtype(cfg.dtype, self.device)
        torch.manual_seed(cfg.seed)
        # Under FSDP the whole model is built in host memory and `fully_shard` moves it to the device one unit
        # at a time, keeping only this learner's shard there: a model that does not fit one GPU can start.
        built_on = torch.device("cpu") if self.fsdp else self.device
        self.model, self.tokenizer = policy.build(cfg, built_on, dtype, checkpoint=checkpoint)
        if self.fsdp:
            shard(self.model, group, self.device)
        self.ref = policy.reference(cfg, self.model, built_on, dtype)
        if self.fsdp and self.ref is not None:  # (kl_coef > 0) sharded like the policy: its forward passes run
            shard(self.ref()[0], group, self.device, reshard_root=True)  # on the same micro-batches everywhere
        self.optimizer, self.scheduler = policy.optimizer_and_schedule(cfg, self.model)
        # Under FSDP the optimizer is saved and restored in the plain optimizer's layout (full tensors, one
        # entry per trainable parameter in order), so checkpoints move between FSDP and plain learners.
        self.full_optimizer = FullOptimizerState(self.model, self.optimizer) if self.fsdp else self.optimizer
        self.state = ckpt.restore(checkpoint, self.full_optimizer, self.scheduler) if checkpoint is not None else {}

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
        adapters only, with LoRA). Under FSDP every learner must call it; learner 0 gets the full tensors,
        the others an empty dict."""
        if self.fsdp:
            trained = {name for name, p in self.model.named_parameters() if p.requires_grad}
            return {k: v for k, v in full_model_state(self.model).items() if k in trained}
        # on CPU these share the parameters' memory: the caller serializes them at once (Ray: into its store)
        return {name: p.detach().to("cpu") for name, p in self.model.named_parameters() if p.requires_grad}

    def save(self, folder: Path, *, step: int, data_position: int, extra: dict | None = None) -> Path | None:
        """The checkpoint folder. Under FSDP every learner must call it: the full weights and optimizer state
        are gathered to learner 0, which writes the checkpoint and returns its folder; the others return None."""
        model, optimizer = self.model, self.optimizer
        if self.fsdp:
            model, state = FullModel(self.model), self.full_optimizer.state_dict()  # both collective
            if self.rank != 0:
                return None
            optimizer = _Fixed(state)
        return ckpt.save(folder, step=step, model=model, tokenizer=self.tokenizer, optimizer=optimizer,
                         scheduler=self.scheduler, data_position=data_position, keep_last=self.cfg.checkpoint.keep_last,
                         extra=extra)

    def update(self, batch) -> dict:
        """`updates_per_batch` passes over the batch, each `mini_batches` optimizer steps on this learner's share
        of the step's mini-batch; returns the batch's update statistics (the same on every learner).

        Mini-batch k is the k-th contiguous part of `loss_rows`, and its loss is normalised by all of that
        part's rows and tokens. Rows skipped as zero-signal (`trained_rows`) are left out of the work only, and
        a mini-batch left with nothing to compute still takes its optimizer step on zero gradients (AdamW's
        momentum moves the weights as it would have), so skip_zero_signal_groups never changes the update."""
        cfg, g, device = self.cfg, self.cfg.grpo, self.device
        gen = batch.gen
        rows = trained_rows(batch, cfg)
        stats = {"trained_fraction": len(rows) / len(batch.reward), "grad_norm": 0.0, "loss": 0.0}
        mask = gen.completion_mask.float()
        trained = torch.zeros(len(batch.reward), dtype=torch.bool)
        trained[rows] = True
        minis = []  # per optimizer step of a pass: (its normalisers, this learner's micro-batches, their live flags)
        for part in loss_rows(batch, cfg).tensor_split(g.mini_batches):
            norms = dict(batch_tokens=float(mask[part.to(mask.device)].sum()), batch_seqs=float(len(part)),
                         max_tokens=cfg.generation.max_new_tokens)
            work = part[trained[part]]
            if self.fsdp:  # the same model calls on every learner: padding rows and micro-batches, loss-masked
                micro, live = fsdp_micro_batches(work, gen.prompt_ids, self.world, self.rank, cfg.optim.micro_batch_size,
                                                 may_share=not policy._recomputes_activations(self.model))
            else:
                mine = work.tensor_split(self.world)[self.rank]  # this learner's contiguous shard (whole groups mostly)
                micro = [mine[i : i + cfg.optim.micro_batch_size] for i in range(0, len(mine), cfg.optim.micro_batch_size)]
                live = [None] * len(micro)
            minis.append((norms, micro, live))
        flat = [(mb, lv) for _, micro, live in minis for mb, lv in zip(micro, live)]  # every micro-batch, in order
        first = [sum(len(m[1]) for m in minis[:k]) for k in range(len(minis))]  # flat index of each mini-batch's first

        def loss_mask(f):  # [b, T] float: the completion tokens of flat micro-batch f that enter the loss
            mb, lv = flat[f]
            m = mask[mb.to(mask.device)]
            return m if lv is None else m * lv.to(m.device, m.dtype)[:, None]

        def inputs(idx):
            idx = idx.to(device)
            return gen.prompt_ids[idx], gen.prompt_mask[idx], gen.completion_ids[idx], gen.completion_mask[idx]

        compute = functools.partial(policy.compute_context, cfg, device)  # a fresh context per use
        model = self.model
        with torch.no_grad(), compute():
            # Old log-probs only matter when the policy moves between updates on this batch, or when rollouts
            # came from lagging weights and are re-weighted towards them.
            corrected = cfg.cluster.async_steps > 0 and g.tis_cap > 0 and gen.logprobs is not None
            need_old = g.updates_per_batch > 1 or g.mini_batches > 1 or corrected
            old = [policy.completion_logprobs(model, *inputs(mb))[0] for mb, _ in flat] if need_old else None
            ref_logp = None
            if self.ref is not None and g.kl_coef > 0:
                ref_model, ctx = self.ref()
                with ctx:
                    ref_logp = [policy.completion_logprobs(ref_model, *inputs(mb))[0] for mb, _ in flat]

        if self.fsdp:  # a forward without backward leaves the root unsharded (FSDP reshards it after backward)
            from torch.distributed.fsdp import FSDPModule

            for module in model.modules():
                if isinstance(module, FSDPModule):
                    module.reshard()
        adv = batch.advantage.to(device)
        weights, is_sums = None, torch.zeros(4, dtype=torch.float64)  # sum w, max ratio, capped tokens, tokens
        if corrected:
            weights = []
            for f, (mb, _) in enumerate(flat):
                m = loss_mask(f).to(device)
                w, s = algos.truncated_importance_weights(old[f], gen.logprobs[mb.to(gen.logprobs.device)].to(device), m,
                                                          cap=g.tis_cap)
                weights.append(w)
                n = float(m.sum())
                if n:
                    is_sums += torch.tensor([s["mean"] * n, 0.0, s["capped_fraction"] * n, n], dtype=torch.float64)
                    is_sums[1] = max(float(is_sums[1]), s["max"])
        hyper = dict(policy_loss=g.policy_loss, clip_low=g.clip_low, clip_high=g.clip_high, kl_estimator=g.kl_estimator,
                     kl_coef=g.kl_coef, entropy_coef=g.entropy_coef, aggregation=g.loss_aggregation,
                     cispo_cap=g.cispo_cap, sapo_temperature_pos=g.sapo_temperature_pos,
                     sapo_temperature_neg=g.sapo_temperature_neg)
        bonus = g.entropy_coef > 0  # the entropy enters the loss: computed with its gradient, on every pass
        params = [p for p in model.parameters() if p.requires_grad]
        if self.fsdp:  # the sharded parameters (model.parameters() gives the gathered ones while a unit is unsharded)
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
        sums = torch.zeros(5, dtype=torch.float64)  # entropy, kl, clip_low, clip_high token sums; loss
        for epoch in range(g.updates_per_batch):
            losses = []
            for k, (norms, micro, _) in enumerate(minis):
                self.optimizer.zero_grad(set_to_none=True)
                total = 0.0
                for f in range(first[k], first[k] + len(micro)):
                    mb, m = flat[f][0], loss_mask(f)
                    with compute():
                        logp, ent = policy.completion_logprobs(model, *inputs(mb), entropy=epoch == 0 or bonus,
                                                               entropy_grad=bonus)
                    old_logp = old[f] if old is not None else logp.detach()
                    loss, clip = algos.grpo_loss(logp, old_logp, adv[mb.to(device)], m,
                                                 ref_logp=ref_logp[f] if ref_logp is not None else None,
                                                 is_weights=weights[f] if weights is not None else None,
                                                 entropy=ent if bonus else None, **hyper, **norms)
                    loss.backward()
                    total += float(loss.detach())
                    if epoch == 0:
                        sums[0] += float((ent.detach() * m).sum())
                        if "kl" in clip:
                            sums[1] += float((clip["kl"] * m).sum())
                    sums[2] += float((clip["clip_low"] * m).sum())
                    sums[3] += float((clip["clip_high"] * m).sum())
                if not self.fsdp:  # FSDP summed them in backward (reduce-scatter)
                    self._sum_gradients(params)
                for p in params:  # nothing computed here (all skipped): the step the zero gradients would take
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else float("inf")
                norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # of sharded grads (DTensor): the global norm
                stats["grad_norm"] = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
                sums[4] = total
                self._sum(sums[4:5])
                losses.append(float(sums[4]))
                if not (math.isfinite(losses[-1]) and math.isfinite(stats["grad_norm"])):  # the same on every learner
                    raise NonFiniteUpdate(f"the loss is {losses[-1]} and the gradient norm {stats['grad_norm']}; "
                                          "the update was not applied")
                self.optimizer.step()
            stats["loss"] = sum(losses) / len(losses)  # the last pass's mean over its mini-batches
        self.scheduler.step()
        self._sum(sums[:4])
        tokens = float(mask[rows.to(mask.device)].sum())  # the statistics are over the tokens computed
        stats["entropy"] = float(sums[0]) / tokens if tokens else float("nan")
        stats["kl"] = float(sums[1]) / tokens if ref_logp is not None and tokens else float("nan")
        stats["clip_low_fraction"] = float(sums[2]) / (tokens * g.updates_per_batch) if tokens else 0.0
        stats["clip_high_fraction"] = float(sums[3]) / (tokens * g.updates_per_batch) if tokens else 0.0
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
        empty contributes zeros). A group of one has nothing to add: its gradients stay as they are."""
        if self.group is None or self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([gr.reshape(-1) for gr in grads])
        torch.distributed.all_reduce(flat, group=self.group)
        for p, part in zip(params, flat.split([gr.numel() for gr in grads])):
            p.grad = part.view_as(p)

    def _collective_device(self) -> torch.device:
        return self.device if torch.distributed.get_backend(self.group) == "nccl" else torch.device("cpu")


# ----------------------------------------------------------------------------------- FSDP (cluster.fsdp)


def check_fsdp(cfg) -> None:
    """Refuse the combinations cluster.fsdp does not support, naming the options."""
    if not cfg.cluster.fsdp:
        return
    if cfg.cluster.backend != "ray":
        raise ValueError(f"cluster.fsdp=true needs cluster.backend=ray (got cluster.backend={cfg.cluster.backend}): "
                         "FSDP shards the model over the Ray learners' process group")
    if cfg.lora.enabled:
        raise ValueError("cluster.fsdp=true does not support lora.enabled=true: FSDP shards full fine-tuning; "
                         "LoRA's adapters are small enough to replicate (set cluster.fsdp=false)")


def shard(model, group, device: torch.device, *, reshard_root: bool = False) -> None:
    """FSDP2 over `group`: each decoder layer (the model's `_no_split_modules` classes) is one unit, the root
    (embeddings, final norm, LM head) another. Gradients are summed, not averaged: the loss is already
    normalised by the whole batch's counts (divide factor 1, a plain SUM reduce-scatter, which gloo has).
    `reshard_root`: free the root's gathered weights after each forward too (FSDP keeps them until backward,
    which a model used only without gradients, the reference, never runs)."""
    from torch.distributed.device_mesh import DeviceMesh
    from torch.distributed.fsdp import fully_shard

    mesh = DeviceMesh.from_group(group, device.type)
    layer_classes = set(getattr(model, "_no_split_modules", None) or ())
    units = [m for m in model.modules() if type(m).__name__ in layer_classes]
    for module in [*units, model]:
        fully_shard(module, mesh=mesh, reshard_after_forward=True if reshard_root or module is not model else None)
        module.set_gradient_divide_factor(1.0)
        module.set_force_sum_reduction_for_comms(True)


def fsdp_micro_batches(rows: Tensor, prompt_ids: Tensor, world: int, rank: int, size: int, *, may_share: bool):
    """This rank's micro-batches (row indices) and their live flags ([b] bool: False for a padding row, whose
    loss is masked out), planned so that every rank makes the same model calls.

    Every rank sees the whole batch, so each plans all ranks' micro-batches and pads its own, with no
    communication: a rank with fewer micro-batches runs padding ones (a real row, loss-masked); and since
    `policy.completion_logprobs` makes two model calls for a micro-batch whose rows share a prompt and one
    otherwise, a micro-batch with distinct prompts gets a loss-masked copy of its first row wherever another
    rank's micro-batch at the same position shares prompts (`may_share`: False under gradient checkpointing,
    which always makes one call)."""
    plans = [[shard_[i : i + size] for i in range(0, len(shard_), size)] for shard_ in rows.tensor_split(world)]

    def shares(idx: Tensor) -> bool:
        return may_share and len(idx) > 1 and len(torch.unique(prompt_ids[idx.to(prompt_ids.device)], dim=0)) < len(idx)

    mine = plans[rank]
    micro, live = [], []
    for j in range(max(len(p) for p in plans)):
        idx = mine[j] if j < len(mine) else rows[:1]
        flags = torch.ones(len(idx), dtype=torch.bool) if j < len(mine) else torch.zeros(1, dtype=torch.bool)
        if any(j < len(p) and shares(p[j]) for p in plans) and not shares(idx):
            idx, flags = torch.cat([idx, idx[:1]]), torch.cat([flags, torch.zeros(1, dtype=torch.bool)])
        micro.append(idx)
        live.append(flags)
    return micro, live


def _full_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_model_state(model) -> dict[str, Tensor]:
    """Collective: the whole state dict on CPU on rank 0 (an empty dict on the others)."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options())


class FullModel:
    """What `checkpoint.save` calls `save_pretrained` on: a sharded model's full state, gathered on creation
    (collective), written on rank 0 as a Hugging Face folder."""

    def __init__(self, model):
        self.model, self.state = model, full_model_state(model)

    def named_parameters(self):
        """The full parameters (every shard), for checks before writing (rank 0)."""
        for name, _ in self.model.named_parameters():
            yield name, self.state[name]

    def save_pretrained(self, folder) -> None:
        self.model.save_pretrained(folder, state_dict=self.state)


class FullOptimizerState:
    """A sharded optimizer's state in the plain optimizer's layout: `state_dict()` gathers it to rank 0 and
    `load_state_dict()` shards a full one back (every rank passes it). Both are collective. The plain layout
    numbers the trainable parameters in order; FSDP's full state dict names them."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]  # the optimizer's order

    def state_dict(self) -> dict:
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        full = get_optimizer_state_dict(self.model, self.optimizer, options=_full_options())
        if not full:
            return {}
        number = {n: i for i, n in enumerate(self.names)}
        return {"state": {number[n]: v for n, v in full["state"].items()},
                "param_groups": [{**g, "params": [number[n] for n in g["params"]]} for g in full["param_groups"]]}

    def load_state_dict(self, plain: dict) -> None:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        named = {"state": {self.names[i]: v for i, v in plain["state"].items()},
                 "param_groups": [{**g, "params": [self.names[i] for i in g["params"]]} for g in plain["param_groups"]]}
        set_optimizer_state_dict(self.model, self.optimizer, named, options=StateDictOptions(full_state_dict=True))


class _Fixed:
    """An optimizer stand-in whose state_dict() is one already gathered."""

    def __init__(self, state: dict):
        self.state = state

    def state_dict(self) -> dict:
        return self.state
