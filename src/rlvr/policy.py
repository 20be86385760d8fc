"""The policy being trained: building it (full or LoRA), its reference, its optimizer, and scoring completions."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import torch
from torch import Tensor

from rlvr import models
from rlvr.algos import entropy_from_logits, token_logprobs
from rlvr.rollout import positions


def build(cfg, device: torch.device, dtype: torch.dtype, checkpoint: Path | None = None):
    """(model, tokenizer). With a checkpoint, full fine-tuning loads its weights; LoRA loads its adapters."""
    spec = str(checkpoint) if checkpoint is not None and not cfg.lora.enabled else cfg.model
    model, tokenizer = models.load(spec, device=device, dtype=dtype, gradient_checkpointing=cfg.gradient_checkpointing)
    if cfg.lora.enabled:
        from peft import LoraConfig, PeftModel, get_peft_model

        if checkpoint is not None:
            model = PeftModel.from_pretrained(model, checkpoint / "adapter", is_trainable=True)
        else:
            lora = LoraConfig(
                r=cfg.lora.rank,
                lora_alpha=cfg.lora.alpha,
                lora_dropout=cfg.lora.dropout,
                target_modules=cfg.lora.target_modules,
                task_type="CAUSAL_LM",
            )
            model = get_peft_model(model, lora)
        if cfg.gradient_checkpointing:
            model.enable_input_require_grads()
        model.train()
    return model, tokenizer


def reference(cfg, model, device, dtype):
    """A context manager factory under which `model` (or a frozen copy) computes reference log-probs.

    None when kl_coef is 0: no reference exists at all. With LoRA the reference is the base model with the
    adapters disabled, so no second copy of the weights is kept.
    """
    if cfg.grpo.kl_coef == 0:
        return None
    if cfg.lora.enabled:
        return lambda: (model, model.disable_adapter())
    ref, _ = models.load(cfg.model, device=device, dtype=dtype)
    ref.eval().requires_grad_(False)
    return lambda: (ref, contextlib.nullcontext())


def optimizer_and_schedule(cfg, model):
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)

    def factor(step: int) -> float:
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        span = max(1, cfg.steps - o.warmup_steps)
        progress = min(1.0, (step - o.warmup_steps) / span)
        if o.schedule == "linear":
            return 1.0 - progress
        if o.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, *, entropy: bool = False):
    """Log-probs of the completion tokens under `model`: [b, T], and their entropies [b, T] if asked.

    Only the last T+1 positions go through the LM head (`logits_to_keep`): the prompt's logits are never
    materialised, which matters with a 49k vocabulary.
    """
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    T = completion_ids.shape[1]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False, logits_to_keep=T + 1)
    logits: Tensor = out.logits[:, :-1].float()  # position t predicts completion token t
    logp = token_logprobs(logits, completion_ids)
    ent = entropy_from_logits(logits.detach()) if entropy else None
    return logp, ent
