"""Checkpoints: Hugging Face model folders with the trainer state beside them.

    runs/<name>/checkpoints/step-000010/
        config.json, model.safetensors, tokenizer files   loadable by AutoModelForCausalLM.from_pretrained
                                                         (with LoRA: the adapters merged into the base)
        adapter/                                         LoRA only: the adapters as trained (exact resume)
        trainer_state.pt                                 optimizer, scheduler, RNG states, step, data position,
                                                         rollouts in flight (asynchronous training)

A checkpoint is written to `step-N.tmp` and renamed when complete, so a run killed mid-save leaves only the
previous checkpoint, and `latest()` never returns a half-written one.
"""

from __future__ import annotations

import copy
import os
import random
import shutil
from pathlib import Path

import torch

STATE = "trainer_state.pt"


def is_peft(model) -> bool:
    return hasattr(model, "peft_config")


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(folder: Path, *, step: int, model, tokenizer, optimizer, scheduler, data_position: int, keep_last: int,
         extra: dict | None = None) -> Path:
    """`extra`: more trainer state to restore with this step (the in-flight rollouts of asynchronous training)."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    tmp = folder / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    if is_peft(model):
        model.save_pretrained(tmp / "adapter")
        copy.deepcopy(model).merge_and_unload().save_pretrained(tmp)
    else:
        model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    torch.save(
        {
            "step": step,
            "data_position": data_position,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state(),
            **({"extra": extra} if extra else {}),
        },
        tmp / STATE,
    )
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in complete(folder)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob("step-*") if not p.name.endswith(".tmp") and (p / STATE).exists())


def latest(folder: Path) -> Path | None:
    found = complete(folder)
    return found[-1] if found else None


def load_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / STATE, map_location="cpu", weights_only=False)


def restore(checkpoint: Path, optimizer, scheduler) -> dict:
    """Put the optimizer, schedule and RNGs back as they were at `checkpoint`; return its state."""
    state = load_state(checkpoint)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state
