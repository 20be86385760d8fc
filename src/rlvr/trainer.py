"""GRPO training: a loop over phases — rollout, reward, advantage, update, log — with checkpoints and resume.

    for step in steps:
        examples = task stream at the run's data position
        rollouts = generator.generate(prompts, n=samples_per_prompt)            # rollout
        rewards  = sum_w reward_fn(prompts, completions, **columns)             # reward
        adv      = ADVANTAGES[cfg.grpo.advantage](rewards per group)           # advantage
        loss     = AGGREGATION(POLICY_LOSS(logp, old_logp, adv) + kl_coef * KL) # update
        metrics.jsonl, rollouts.jsonl, TensorBoard, progress bar               # log

Everything random in a step is seeded from (seed, step), so a resumed run replays exactly.
"""

from __future__ import annotations

import functools
import sys
import time
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from torch import Tensor

from rlvr import algos, checkpoint, config as config_mod, evaluate as evaluation, policy, prompts, rewards as rewards_mod
from rlvr import runs, tasks
from rlvr.metrics import Loggers, logged_steps, mean_std, reflection_rate, truncate_jsonl
from rlvr.models import pick_device, pick_dtype
from rlvr.progress import Bar
from rlvr import rollout as engines
from rlvr.rollout import Generation, Sampling
from rlvr.tasks import Example


@dataclass
class Rollouts:
    """One step's batch, B = prompts * n rows, groups contiguous. Reward and advantage stay separate."""

    step: int
    examples: list[Example]  # [B] (each prompt's example repeated n times)
    gen: Generation
    per_reward: dict[str, list[float]]  # each reward function's values, NaN where it returned None
    reward: Tensor  # [B] weighted sum
    correct: Tensor  # [B] the task's checker
    advantage: Tensor | None = None  # [B]
    zero_signal: Tensor | None = None  # [G]


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63)


def run_dir_for(cfg) -> Path:
    name = cfg.name or f"{cfg.task.kind}-{datetime.now():%Y%m%d-%H%M%S}"
    return Path(cfg.output_dir) / name


# --------------------------------------------------------------------------------------------- phases


def rollout(generator, tokenizer, cfg, examples: list[Example], step: int) -> Generation:
    texts = [
        prompts.render(ex.question, template=cfg.prompt.template, tokenizer=tokenizer, system_prompt=cfg.prompt.system_prompt)
        for ex in examples
    ]
    sampling = Sampling.of(cfg.generation)
    return generator.generate(texts, n=cfg.grpo.samples_per_prompt, sampling=sampling, seed=step_seed(cfg.seed, step))


def reward(reward_fns, task, examples: list[Example], gen: Generation, step: int, n: int) -> Rollouts:
    rows = [ex for ex in examples for _ in range(n)]
    ids = [[t for t, m in zip(row, mask) if m] for row, mask in zip(gen.completion_ids.tolist(), gen.completion_mask.tolist())]
    per_reward, totals = rewards_mod.score(reward_fns, [ex.question for ex in rows], gen.texts, rows, ids)
    # NaN where the task has nothing to verify (general prompts in a mixture): left out of accuracy
    correct = torch.tensor([_as_float(task.check(t, ex).correct) for t, ex in zip(gen.texts, rows)])
    return Rollouts(step, rows, gen, per_reward, torch.tensor(totals, dtype=torch.float32), correct)


def _as_float(correct: bool | None) -> float:
    return float("nan") if correct is None else float(correct)


def advantage(batch: Rollouts, cfg) -> Rollouts:
    """The batch with its advantages [B] and zero-signal groups [G] (groups whose rewards are all equal)."""
    grouped = batch.reward.view(-1, cfg.grpo.samples_per_prompt)
    adv = algos.ADVANTAGES[cfg.grpo.advantage](grouped, eps=cfg.grpo.adv_eps).flatten()
    return dataclasses.replace(batch, advantage=adv, zero_signal=algos.zero_signal_groups(grouped))


def trained_rows(batch: Rollouts, cfg) -> Tensor:
    """Indices of the sequences that enter the loss."""
    keep = torch.ones_like(batch.reward, dtype=torch.bool)
    if cfg.grpo.skip_zero_signal_groups:
        keep &= ~batch.zero_signal.repeat_interleave(cfg.grpo.samples_per_prompt)
    if cfg.grpo.mask_truncated:
        keep &= ~batch.gen.truncated.cpu()
    return keep.nonzero().flatten()


def update(model, ref, optimizer, scheduler, batch: Rollouts, cfg) -> dict:
    """updates_per_batch optimizer steps on the batch, micro-batched; returns update statistics."""
    g, device = cfg.grpo, model.device
    gen = batch.gen
    rows = trained_rows(batch, cfg)
    stats = {"trained_fraction": len(rows) / len(batch.reward), "grad_norm": 0.0, "loss": 0.0}
    sums = {"entropy": 0.0, "kl": 0.0, "clip_low_fraction": 0.0, "clip_high_fraction": 0.0}
    if len(rows) == 0:  # nothing to learn from: no parameter moves, but the schedule advances with the step
        optimizer.zero_grad(set_to_none=True)
        optimizer.step()
        scheduler.step()
        return stats | {k: float("nan") if k in ("entropy", "kl") else 0.0 for k in sums}
    mask = gen.completion_mask.float()
    micro = [rows[i : i + cfg.optim.micro_batch_size] for i in range(0, len(rows), cfg.optim.micro_batch_size)]
    norms = dict(batch_tokens=float(mask[rows.to(mask.device)].sum()), batch_seqs=float(len(rows)), max_tokens=cfg.generation.max_new_tokens)

    def inputs(idx):
        idx = idx.to(device)
        return gen.prompt_ids[idx], gen.prompt_mask[idx], gen.completion_ids[idx], gen.completion_mask[idx]

    compute = functools.partial(policy.compute_context, cfg, device)  # a fresh context per use
    with torch.no_grad(), compute():
        # Old log-probs only matter when the policy moves between updates on this batch.
        old = [policy.completion_logprobs(model, *inputs(mb))[0] for mb in micro] if g.updates_per_batch > 1 else None
        ref_logp = None
        if ref is not None and g.kl_coef > 0:
            ref_model, ctx = ref()
            with ctx:
                ref_logp = [policy.completion_logprobs(ref_model, *inputs(mb))[0] for mb in micro]

    adv = batch.advantage.to(device)
    hyper = dict(policy_loss=g.policy_loss, clip_low=g.clip_low, clip_high=g.clip_high, kl_estimator=g.kl_estimator,
                 kl_coef=g.kl_coef, aggregation=g.loss_aggregation, **norms)
    params = [p for p in model.parameters() if p.requires_grad]
    for epoch in range(g.updates_per_batch):
        optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for j, mb in enumerate(micro):
            m = mask[mb.to(mask.device)]
            with compute():
                logp, ent = policy.completion_logprobs(model, *inputs(mb), entropy=epoch == 0)
            old_logp = old[j] if old is not None else logp.detach()
            loss, clip = algos.grpo_loss(logp, old_logp, adv[mb.to(device)], m,
                                         ref_logp=ref_logp[j] if ref_logp is not None else None, **hyper)
            if "kl" in clip and epoch == 0:
                sums["kl"] += float((clip["kl"] * m).sum())
            loss.backward()
            total += float(loss.detach())
            if epoch == 0:
                sums["entropy"] += float((ent * m).sum())
            sums["clip_low_fraction"] += float((clip["clip_low"] * m).sum())
            sums["clip_high_fraction"] += float((clip["clip_high"] * m).sum())
        max_norm = cfg.optim.max_grad_norm if cfg.optim.max_grad_norm > 0 else float("inf")
        stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        stats["loss"] = total
        optimizer.step()
    scheduler.step()
    tokens = norms["batch_tokens"]
    stats["entropy"] = sums["entropy"] / tokens
    stats["kl"] = sums["kl"] / tokens if ref_logp is not None else float("nan")
    stats["clip_low_fraction"] = sums["clip_low_fraction"] / (tokens * g.updates_per_batch)
    stats["clip_high_fraction"] = sums["clip_high_fraction"] / (tokens * g.updates_per_batch)
    return stats


def step_metrics(batch: Rollouts, stats: dict, cfg, lr: float, seconds: dict) -> dict:
    lengths = batch.gen.lengths.float().cpu()
    out = {}
    total_mean, total_std = mean_std(batch.reward.tolist())
    out["reward/mean"], out["reward/std"] = total_mean, total_std
    for name, values in batch.per_reward.items():
        out[f"reward/{name}/mean"], out[f"reward/{name}/std"] = mean_std(values)
    out["accuracy"] = float(batch.correct.nanmean())  # over verifiable rows only (NaN if there are none)
    out["completion_length/mean"] = float(lengths.mean())
    out["completion_length/min"] = float(lengths.min())
    out["completion_length/max"] = float(lengths.max())
    out["truncated_fraction"] = float(batch.gen.truncated.float().mean())
    out["reflection_rate"] = reflection_rate(batch.gen.texts, cfg.log.reflection_phrases)
    out["zero_signal_group_fraction"] = float(batch.zero_signal.float().mean())
    out.update(stats)
    out["lr"] = lr
    out.update({f"seconds/{k}": v for k, v in seconds.items()})
    return out


def rollout_records(batch: Rollouts, limit: int) -> list[dict]:
    n = len(batch.gen.texts) if limit < 0 else min(limit, len(batch.gen.texts))
    return [
        {
            "step": batch.step,
            "prompt": batch.examples[i].question,
            "answer": batch.examples[i].answer,
            "completion": batch.gen.texts[i],
            "rewards": {k: v[i] for k, v in batch.per_reward.items()},
            "reward": float(batch.reward[i]),
            "advantage": float(batch.advantage[i]),
            "correct": None if batch.correct[i].isnan() else bool(batch.correct[i]),
            "length": int(batch.gen.lengths[i]),
            "truncated": bool(batch.gen.truncated[i]),
        }
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------------- the run


def train(cfg, *, reward_funcs=None, resume: str | Path | None = None, console=None) -> Path:
    """Train; return the run folder. `reward_funcs`: Python callables (TRL signature) used instead of
    `cfg.rewards`. `resume`: a run folder to continue from its latest checkpoint."""
    from rich.console import Console

    console = console or Console(stderr=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Everything that can fail on a bad config (the task, every reward) is built before the run folder is
    # written, so a typo leaves nothing behind that a corrected retry would collide with.
    task = tasks.build(cfg.task)
    if reward_funcs is not None:
        reward_fns = [rewards_mod.Reward(getattr(f, "__name__", f"reward_{i}"), f) for i, f in enumerate(reward_funcs)]
    else:
        reward_fns = [rewards_mod.resolve(spec, task) for spec in cfg.rewards]
    opened = runs.open_run(cfg, path=Path(resume) if resume else run_dir_for(cfg), resume=bool(resume), command="train")
    run, last = opened.path, opened.last
    ckpt_dir = run / "checkpoints"

    device = pick_device(cfg.device)
    dtype = pick_dtype(cfg.dtype, device)
    torch.manual_seed(cfg.seed)
    model, tokenizer = policy.build(cfg, device, dtype, checkpoint=last)
    ref = policy.reference(cfg, model, device, dtype)
    optimizer, scheduler = policy.optimizer_and_schedule(cfg, model)
    generator = engines.build(cfg.generation, model, tokenizer, weights_dtype=torch.bfloat16 if cfg.bf16_autocast else None)

    start, data_position = 0, 0
    if last is not None:
        state = checkpoint.restore(last, optimizer, scheduler)
        start, data_position = state["step"], state["data_position"]
        console.print(f"resuming {run} from {last.name} (step {start})")
    for name in ("metrics.jsonl", "rollouts.jsonl", "eval.jsonl"):
        # from scratch (even in a resumed folder with no checkpoint yet) nothing earlier survives
        truncate_jsonl(run / name, max_step=start if last is not None else -1)
    done_evals = logged_steps(run / "eval.jsonl")

    log = Loggers(run, cfg.model_dump(mode="json"), report_to=cfg.log.report_to, wandb_project=cfg.log.wandb_project)
    P, n = cfg.grpo.prompts_per_step, cfg.grpo.samples_per_prompt

    def save(step: int) -> Path:
        return checkpoint.save(ckpt_dir, step=step, model=model, tokenizer=tokenizer, optimizer=optimizer,
                               scheduler=scheduler, data_position=data_position, keep_last=cfg.checkpoint.keep_last)

    def run_eval(step: int) -> dict:
        result = evaluation.evaluate(generator, tokenizer, task, eval_cfg=cfg.eval, prompt_cfg=cfg.prompt,
                                     max_new_tokens=cfg.generation.max_new_tokens, seed=step_seed(cfg.seed, -1),
                                     console=console if cfg.log.progress else None)
        log.log_eval(step, result)
        console.print(f"eval at step {step}: " + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
        return result

    evals: dict[int, dict] = {}
    stop = runs.StopRequest()
    try:
        with stop:
            if start == 0 and cfg.eval.at_start:
                evals[0] = run_eval(0)
            with Bar(console, "step", cfg.steps, completed=start, enabled=cfg.log.progress) as bar:
                for step in range(start, cfg.steps):
                    t0 = time.perf_counter()
                    examples = [task.example(i) for i in range(data_position, data_position + P)]
                    gen = rollout(generator, tokenizer, cfg, examples, step)
                    t1 = time.perf_counter()
                    batch = reward(reward_fns, task, examples, gen, step + 1, n)
                    t2 = time.perf_counter()
                    batch = advantage(batch, cfg)
                    lr = scheduler.get_last_lr()[0]
                    stats = update(model, ref, optimizer, scheduler, batch, cfg)
                    generator.sync(model)
                    t3 = time.perf_counter()
                    data_position += P
                    seconds = {"generation": t1 - t0, "reward": t2 - t1, "update": t3 - t2, "step": t3 - t0}
                    metrics = step_metrics(batch, stats, cfg, lr, seconds)
                    log.log(step + 1, metrics)
                    log.log_rollouts(rollout_records(batch, cfg.log.rollouts_per_step))
                    bar.update(step + 1, _step_info(metrics))
                    if stop.requested and step + 1 < cfg.steps:
                        path = save(step + 1)
                        console.print(f"interrupted: saved {path}; continue with: rlvr train --resume {run}")
                        raise KeyboardInterrupt
                    if cfg.checkpoint.save_every and (step + 1) % cfg.checkpoint.save_every == 0 and step + 1 < cfg.steps:
                        save(step + 1)
            final = save(cfg.steps) if cfg.steps > start or last is None else last
            console.print(f"checkpoint: {final}")
            if cfg.eval.at_end and cfg.steps not in done_evals:
                evals[cfg.steps] = run_eval(cfg.steps)
            if 0 in evals and cfg.steps in evals and cfg.steps > 0:
                before, after = evals[0]["accuracy"], evals[cfg.steps]["accuracy"]
                console.print(f"held-out accuracy: {before:.3f} before training -> {after:.3f} after {cfg.steps} steps "
                              f"({after - before:+.3f}) on {evals[0]['problems']} problems")
    finally:
        log.close()
    return run


def _step_info(m: dict) -> str:
    return (f"reward {m['reward/mean']:.3f}  acc {m['accuracy']:.2f}  len {m['completion_length/mean']:.0f}  "
            f"{m['seconds/step']:.1f}s/step")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `rlvr` command")
