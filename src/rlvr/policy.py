"""The policy being trained: building it (full or LoRA), its reference, its optimizer, and scoring completions."""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import time
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
    if getattr(cfg, "bf16_autocast", None) == "auto":
        # resolved here, where every GRPO learner and rollout worker builds its model, so every later reader
        # (the autocast context, the engine's bf16 copy) sees a plain bool measured on this machine
        # decided for the device the model computes on: under FSDP it is built on the CPU and moved after
        rows = cfg.grpo.prompts_per_step * cfg.grpo.samples_per_prompt
        cfg.bf16_autocast = bf16_is_faster(models.pick_device(cfg.device), model.config, rows)
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


_BF16_CHOICES: dict[tuple, bool] = {}  # (device type, shapes, threads) -> the measured choice, once per process
TRAIN_ROWS = 256  # the training-like product's rows: a micro-batch's tokens, kept small so bf16 costs little


def bf16_is_faster(device: torch.device, model_config, rows: int, *, budget_s: float = 0.4, report=None) -> bool:
    """`bf16_autocast: auto`: True on CUDA; on CPU, time the model's MLP product (hidden -> intermediate) in
    fp32 and in bf16 at two shapes, decode-like ([rows, hidden]: one token per rollout row) and training-like
    ([256, hidden]: a micro-batch's tokens), and pick bf16 only when both were measured and bf16's total is
    at least 10% lower. A wrong True costs up to ~100x (CPUs without bf16 units), a wrong False ~1.3x, hence
    the asymmetry.

    fp32 and bf16 calls alternate and each side keeps its fastest call, so a burst of load from other
    processes falls on both. A slow bf16 (~50 ms a call on AVX2-only CPUs) ends the measurement as soon as it
    has lost, so the whole stays under `budget_s`. Random inputs: only the shapes matter to the speed. The
    choice is reported (stderr) once per process, shape and thread count."""
    if device.type == "cuda":
        return True
    hidden = int(getattr(model_config, "hidden_size", 0) or 0)
    if device.type != "cpu" or not hidden:
        return False
    inner = int(getattr(model_config, "intermediate_size", 0) or 4 * hidden)
    key = (device.type, hidden, inner, rows, torch.get_num_threads())
    if key not in _BF16_CHOICES:
        _BF16_CHOICES[key] = _measure_bf16(hidden, inner, rows, budget_s, report)
    return _BF16_CHOICES[key]


def _measure_bf16(hidden: int, inner: int, rows: int, budget_s: float, report) -> bool:
    w = {"fp32": torch.randn(inner, hidden)}
    w["bf16"] = w["fp32"].bfloat16()
    total = {"fp32": 0.0, "bf16": 0.0}
    ratios = []
    deadline = time.perf_counter() + budget_s
    with torch.no_grad():
        for m in (rows, TRAIN_ROWS):
            x = {"fp32": torch.randn(m, hidden)}
            x["bf16"] = x["fp32"].bfloat16()
            best = {}
            for name in x:  # warm-up: kernel selection, first touch of the output; bf16's tells its speed
                t0 = time.perf_counter()
                torch.nn.functional.linear(x[name], w[name])
                best[name] = time.perf_counter() - t0
            for _ in range(4):
                for name in x:
                    for _ in range(1 if name == "bf16" else 4):  # fp32 calls are cheap: more tries
                        t0 = time.perf_counter()
                        torch.nn.functional.linear(x[name], w[name])
                        best[name] = min(best[name], time.perf_counter() - t0)
                if best["bf16"] > 1.5 * best["fp32"] or time.perf_counter() + best["bf16"] > deadline:
                    break
            ratios.append(best["bf16"] / best["fp32"])
            for name in total:
                total[name] += best[name]
            # stop when bf16 lost, or when the next shape's bf16 calls (at this one's speed) would overrun
            if ratios[-1] > 1.5 or time.perf_counter() + 3 * best["bf16"] * TRAIN_ROWS / m > deadline:
                break
    choice = len(ratios) == 2 and total["bf16"] < 0.9 * total["fp32"]
    shapes = ", ".join(f"{m}x{hidden} @ {hidden}x{inner}: {r:.2f}" for m, r in zip((rows, TRAIN_ROWS), ratios))
    (report or functools.partial(print, file=sys.stderr))(
        f"bf16_autocast=auto -> {str(choice).lower()} (bf16/fp32 time of a matrix product on this CPU, {shapes}; "
        f"{torch.get_num_threads()} threads)")
    return choice


def compute_context(cfg, device: torch.device):
    """The autocast context for forward passes: bf16 matmuls over fp32 weights, or nothing. (`auto` is
    resolved to a bool by `build`; an unresolved `auto` here means no autocast.)"""
    if cfg.bf16_autocast is True:
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def optimizer_and_schedule(cfg, model, steps: int | None = None):
    """AdamW and a warm-up + decay schedule over `steps` (default: cfg.steps) optimizer steps."""
    total = cfg.steps if steps is None else steps
    params = [p for p in model.parameters() if p.requires_grad]
    o = cfg.optim
    kwargs = dict(lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
    try:  # the fused kernel is ~8x faster than the per-tensor loop on CPU (540 -> 63 ms for 135M params)
        optimizer = torch.optim.AdamW(params, fused=True, **kwargs)
    except (RuntimeError, ValueError):  # dtypes/devices without a fused kernel
        optimizer = torch.optim.AdamW(params, **kwargs)

    def factor(step: int) -> float:
        if o.warmup_steps and step < o.warmup_steps:
            return (step + 1) / (o.warmup_steps + 1)
        span = max(1, total - o.warmup_steps)
        progress = min(1.0, (step - o.warmup_steps) / span)
        if o.schedule == "linear":
            return 1.0 - progress
        if o.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


LOGIT_CHUNK_ELEMENTS = 2**22  # ~16 MB of fp32 logits per chunk


def completion_logprobs(model, prompt_ids, prompt_mask, completion_ids, completion_mask, *, entropy: bool = False,
                        entropy_grad: bool = False):
    """Log-probs of the completion tokens under `model`: [b, T], and their entropies [b, T] if asked (with their
    gradient if `entropy_grad`: an entropy bonus in the loss; else detached, for logging).

    Rows that share a prompt (a GRPO group) share its forward pass: the prompt runs once per distinct prompt,
    its KV cache is indexed out to the rows (differentiably, so gradients from every sample flow back into
    the one prompt pass), and only the completions run per row. With 8 samples per prompt this removes 7/8
    of the prompt compute from every forward and backward. Only the completion positions go through the LM
    head (`logits_to_keep`), so the prompt's logits over the 49k vocabulary are never materialised.
    """
    unique, row_prompt = torch.unique(prompt_ids, dim=0, return_inverse=True)
    shared = unique.shape[0] < prompt_ids.shape[0] and not _recomputes_activations(model)
    if shared:
        logits = _shared_prefix_logits(model, prompt_ids, prompt_mask, completion_ids, completion_mask, row_prompt)
    else:
        ids = torch.cat([prompt_ids, completion_ids], dim=1)
        mask = torch.cat([prompt_mask, completion_mask], dim=1)
        T = completion_ids.shape[1]
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=False, logits_to_keep=T + 1)
        logits = out.logits[:, :-1].float()  # position t predicts completion token t
    # Row chunks keep the [rows, T, V] temporaries of log-softmax and entropy small and cache-warm; on CPU
    # one pass over a 200 MB logits tensor is dominated by allocating and faulting in its temporaries.
    rows = max(1, LOGIT_CHUNK_ELEMENTS // max(1, logits.shape[1] * logits.shape[2]))
    logp = torch.cat([token_logprobs(l, t) for l, t in zip(logits.split(rows), completion_ids.split(rows))])
    ent = None
    if entropy and entropy_grad:
        ent = torch.cat([entropy_from_logits(l) for l in logits.split(rows)])
    elif entropy:
        with torch.no_grad():
            ent = torch.cat([entropy_from_logits(l) for l in logits.detach().split(rows)])
    return logp, ent


def _recomputes_activations(model) -> bool:
    """Gradient checkpointing disables the KV cache in training, which the shared-prompt pass needs."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):  # newer name first
        if hasattr(type(base), name):
            return bool(getattr(base, name))
    return False


def _shared_prefix_logits(model, prompt_ids, prompt_mask, completion_ids, completion_mask, row_prompt: Tensor) -> Tensor:
    """[b, T, V] logits predicting each completion token, with one prompt pass per distinct prompt."""
    first = torch.zeros(int(row_prompt.max()) + 1, dtype=torch.long, device=row_prompt.device)
    first.scatter_(0, row_prompt.flip(0), torch.arange(len(row_prompt) - 1, -1, -1, device=row_prompt.device))
    p_ids, p_mask = prompt_ids[first], prompt_mask[first]  # [u, P], one row per distinct prompt
    out = model(input_ids=p_ids, attention_mask=p_mask, position_ids=positions(p_mask), use_cache=True, logits_to_keep=1)
    cache = out.cache
    cache.batch_select_indices(row_prompt)  # [u, ...] -> [b, ...]: indexing, so gradients flow back
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    P = prompt_ids.shape[1]
    T = completion_ids.shape[1]
    rest = model(input_ids=completion_ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions(mask)[:, P:-1],
                 cache=cache, use_cache=True) if T > 1 else None
    head = out.logits[:, -1:][row_prompt]  # the last prompt position predicts completion token 0
    return head.float() if rest is None else torch.cat([head, rest.logits], dim=1).float()
