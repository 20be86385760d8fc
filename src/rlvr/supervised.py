"""The supervised loop `rlvr sft` and `rlvr rm` share: shuffled epochs, micro-batches, checkpoints, resume.

    for step in steps:                       # epochs * ceil(examples / batch_size)
        batch = examples in this epoch's seeded order
        loss  = sum over micro-batches of objective.loss(micro) / objective.units(batch)
        optimizer step, schedule step, metrics.jsonl
    eval.jsonl (the same per-unit loss and stats on held-out items) before the first and after the last
    step; the final model in `run/model/`

An objective says what a unit is (an assistant token, a preference pair) and how to sum the loss over
units; dividing by the batch's units makes one batch of 8 equal 8 accumulated micro-batches of 1. The
order of step k depends only on (seed, epoch), so a resumed run replays the same batches.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from rlvr import checkpoint, policy, runs
from rlvr.metrics import Loggers, truncate_jsonl
from rlvr.progress import Bar

FINAL = "model"


@dataclass
class Objective:
    units: Callable[[list], float]  # how many units (tokens, pairs) a batch holds
    loss: Callable[[Any, list], tuple[torch.Tensor, dict]]  # (model, micro-batch) -> (summed loss, summed stats)


def measure(model, items: list, objective: Objective, micro_batch: int, *, backward: bool) -> dict:
    """Loss and stats per unit over `items`, in micro-batches; with backward, gradients of that mean too.
    Training and held-out evaluation report the same quantities this way."""
    units = objective.units(items)
    sums: dict[str, float] = {}
    for i in range(0, len(items), micro_batch):
        loss, stats = objective.loss(model, items[i : i + micro_batch])
        if backward:
            (loss / units).backward()
        for key, v in {"loss": float(loss.detach()), **stats}.items():
            sums[key] = sums.get(key, 0.0) + v
    return {key: v / units for key, v in sums.items()}


def run(cfg, body, *, resume, command: str, console) -> Path:
    """`rlvr sft|rm`: open the run folder and call `body(cfg, folder, last checkpoint or None, console)` in it.
    A run that already finished returns its model; a start that fails before its first step leaves no folder."""
    from rich.console import Console

    opened = runs.open_run(cfg, path=Path(resume) if resume else Path(cfg.output_dir) / (cfg.name or command),
                           resume=bool(resume), command=command, finished=FINAL)
    if opened.finished is not None:
        return opened.finished
    with opened.guard():
        return body(cfg, opened.path, opened.last, console or Console(stderr=True))


def fit(cfg, run: Path, model, tokenizer, train: list, held: list, objective: Objective, *, last: Path | None,
        console) -> Path:
    """Train on `train` (already tokenized items), evaluate on `held`, return the final model folder."""
    per_epoch = math.ceil(len(train) / cfg.batch_size)
    total = cfg.epochs * per_epoch
    optimizer, scheduler = policy.optimizer_and_schedule(cfg, model, steps=total)
    start = 0
    if last is not None:
        start = checkpoint.restore(last, optimizer, scheduler)["step"]
        console.print(f"resuming {run} from {last.name} (step {start})")
    for name in ("metrics.jsonl", "eval.jsonl"):
        truncate_jsonl(run / name, max_step=start if last is not None else -1)
    log = Loggers(run, cfg.model_dump(mode="json"), report_to=[], wandb_project="rlvr")
    params = [p for p in model.parameters() if p.requires_grad]

    def save(step: int) -> Path:
        return checkpoint.save(run / "checkpoints", step=step, model=model, tokenizer=tokenizer, optimizer=optimizer,
                               scheduler=scheduler, data_position=step, keep_last=cfg.checkpoint.keep_last)

    def evaluate(step: int) -> None:
        model.eval()
        with torch.no_grad():
            result = measure(model, held, objective, cfg.optim.micro_batch_size, backward=False) if held else {}
        model.train()
        log.log_eval(step, result)
        console.print(f"eval at step {step}: " + ", ".join(f"{k}={v:.4f}" for k, v in result.items()))

    stop = runs.StopRequest()
    try:
        with stop:
            if start == 0:
                evaluate(0)
            with Bar(console, "step", total, completed=start, enabled=cfg.progress) as bar:
                for step in range(start, total):
                    t0 = time.perf_counter()
                    epoch, k = divmod(step, per_epoch)
                    order = list(range(len(train)))
                    random.Random(cfg.seed * 1_000_003 + epoch).shuffle(order)
                    batch = [train[i] for i in order[k * cfg.batch_size : (k + 1) * cfg.batch_size]]
                    optimizer.zero_grad(set_to_none=True)
                    metrics = measure(model, batch, objective, cfg.optim.micro_batch_size, backward=True)
                    max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else float("inf")
                    grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
                    lr = scheduler.get_last_lr()[0]
                    optimizer.step()
                    scheduler.step()
                    metrics |= {"units": objective.units(batch), "grad_norm": grad_norm, "lr": lr, "epoch": epoch, "seconds/step": time.perf_counter() - t0}
                    log.log(step + 1, metrics)
                    bar.update(step + 1, f"loss {metrics['loss']:.4f}  {metrics['seconds/step']:.1f}s/step")
                    if cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < total:
                        evaluate(step + 1)
                    if stop.requested and step + 1 < total:
                        console.print(f"interrupted: saved {save(step + 1)}; continue with --resume {run}")
                        raise KeyboardInterrupt
                    if cfg.checkpoint.save_every and (step + 1) % cfg.checkpoint.save_every == 0 and step + 1 < total:
                        save(step + 1)
            if total > start:
                evaluate(total)
    finally:
        log.close()
    return save_final(run, model, tokenizer)


def save_final(run: Path, model, tokenizer) -> Path:
    """The model as a Hugging Face folder (LoRA merged), written to a temporary folder and renamed."""
    final, tmp = run / FINAL, run / f"{FINAL}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    out = model
    if checkpoint.is_peft(model):
        import copy

        out = copy.deepcopy(model).merge_and_unload()
    out.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    shutil.rmtree(run / "checkpoints", ignore_errors=True)  # the run is complete: its resume points are not needed
    return final
