"""Checkpoints: Hugging Face model folders with the trainer state beside them.

    runs/<name>/checkpoints/step-000010/
        config.json, model.safetensors, tokenizer files   loadable by AutoModelForCausalLM.from_pretrained
                                                         (with LoRA: the adapters merged into the base)
        adapter/                                         LoRA only: the adapters as trained (exact resume)
        trainer_state.pt                                 optimizer, scheduler, RNG states, step, data position,
                                                         rollouts in flight (asynchronous training)
        checksums.sha256                                 sha256 of every other file (`sha256sum -c` reads it)

A checkpoint is written to `step-N.tmp`, its checksums last, and renamed when complete, so a run killed
mid-save leaves only the previous checkpoint. `latest()` verifies the checksums: a checkpoint damaged since
(overwritten bytes, a truncated file) is moved aside to `step-N.corrupt` with a message, and the newest
intact one is used. Checkpoints from versions before checksums are taken as they are. A save that fails
(a full disk, non-finite weights) removes its partial `.tmp` folder.
"""

from __future__ import annotations

import copy
import errno
import hashlib
import os
import random
import re
import shutil
import sys
from pathlib import Path

import torch

STATE = "trainer_state.pt"
MANIFEST = "checksums.sha256"
STEP_NAME = re.compile(r"step-\d+")  # a complete checkpoint's folder name (not .tmp, not .corrupt)


class CorruptCheckpoint(RuntimeError):
    """No intact checkpoint to resume from, though there are checkpoints."""


class DiskFull(OSError, RuntimeError):
    """A save that ran out of space: errno ENOSPC, and a RuntimeError so that `rlvr` reports it as an error."""


class NonFiniteWeights(RuntimeError):
    """A save was asked for weights that hold NaN or inf: the last good checkpoint is kept instead."""


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
    bad = first_nonfinite(model)
    if bad is not None:
        raise NonFiniteWeights(f"not saving step {step}: parameter {bad} holds NaN or inf; the last good checkpoint "
                               f"in {folder} is kept")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:06d}"
    tmp = folder / f"step-{step:06d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
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
        write_manifest(tmp)  # last: a folder with checksums is a complete one
    except BaseException as e:
        full = isinstance(e, Exception) and _disk_full(e, folder)  # judged before the partial save is removed and frees its space
        shutil.rmtree(tmp, ignore_errors=True)
        if full:
            raise DiskFull(errno.ENOSPC, f"no space left on device saving checkpoint step {step} in {folder} (the "
                                        f"partial {tmp.name} was removed; earlier checkpoints are kept): free some "
                                        f"space, then resume") from e
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in complete(folder)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _disk_full(error: BaseException, folder: Path) -> bool:
    """Whether a failed save ran out of space. torch.save reports it only as `[enforce fail at
    inline_container.cc] unexpected pos`, so besides ENOSPC in the error chain, a disk left with under
    1 MiB free (the partial save still on it) counts as full."""
    e: BaseException | None = error
    seen = set()
    while e is not None and id(e) not in seen:
        if (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "no space left" in str(e).lower():
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    try:
        return shutil.disk_usage(folder).free < 2**20
    except OSError:
        return False


def first_nonfinite(model) -> str | None:
    """The name of the first parameter holding NaN or inf (this process's shard of a sharded one), or None."""
    for name, p in model.named_parameters():
        t = p.detach()
        t = t.to_local() if hasattr(t, "to_local") else t  # a DTensor (FSDP): check the local shard
        if not bool(torch.isfinite(t).all()):
            return name
    return None


# --------------------------------------------------------------------------------------------- checksums


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(ckpt: Path) -> None:
    files = sorted(p for p in ckpt.rglob("*") if p.is_file() and p.name != MANIFEST)
    lines = [f"{_sha256(p)}  {p.relative_to(ckpt).as_posix()}\n" for p in files]
    (ckpt / MANIFEST).write_text("".join(lines))


def damage(ckpt: Path) -> str | None:
    """What is wrong with a checkpoint folder (None: intact, or written before checksums were kept)."""
    manifest = ckpt / MANIFEST
    if not manifest.exists():
        return None if (ckpt / STATE).exists() else f"{STATE} is missing"
    try:
        entries = [line.split("  ", 1) for line in manifest.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        return f"{MANIFEST} unreadable: {e}"
    if not entries or any(len(e) != 2 for e in entries):
        return f"{MANIFEST} is malformed"
    for digest, rel in entries:
        path = ckpt / rel
        if not path.is_file():
            return f"{rel} is missing"
        if _sha256(path) != digest:
            return f"{rel} does not match its checksum"
    return None


def complete(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.glob("step-*") if STEP_NAME.fullmatch(p.name) and (p / STATE).exists())


def latest(folder: Path, *, verify: bool = True, report=None) -> Path | None:
    """The newest checkpoint in `folder`, verified. Damaged ones newer than the newest intact one are named
    through `report` (default: stderr) and moved aside to `<name>.corrupt`, so that neither resume nor
    keep_last counts them. With none intact, CorruptCheckpoint (and nothing is moved)."""
    found = sorted(p for p in folder.glob("step-*") if STEP_NAME.fullmatch(p.name) and p.is_dir()) if folder.exists() else []
    if not verify:
        found = [p for p in found if (p / STATE).exists()]
        return found[-1] if found else None
    report = report or (lambda text: print(text, file=sys.stderr))
    damaged = []
    for ckpt in reversed(found):
        problem = damage(ckpt)
        if problem is None:
            for bad, why in damaged:
                aside, k = bad.with_name(bad.name + ".corrupt"), 1
                while aside.exists():
                    aside, k = bad.with_name(f"{bad.name}.corrupt{k}"), k + 1
                os.replace(bad, aside)
                report(f"checkpoint {bad} is damaged ({why}): skipped, moved to {aside.name}; resuming from {ckpt.name}")
            return ckpt
        damaged.append((ckpt, problem))
    if damaged:
        raise CorruptCheckpoint(f"no intact checkpoint in {folder}: " + "; ".join(f"{c.name}: {w}" for c, w in damaged)
                                + ". Start the run again under a new name")
    return None


def load_state(checkpoint: Path) -> dict:
    return torch.load(checkpoint / STATE, map_location="cpu", weights_only=False)


def restore(checkpoint: Path, optimizer, scheduler) -> dict:
    """Put the optimizer, schedule and RNGs back as they were at `checkpoint`; return its state."""
    state = load_state(checkpoint)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state
