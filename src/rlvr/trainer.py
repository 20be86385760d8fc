"""GRPO training: a loop over phases — rollout, reward, advantage, update, log — with checkpoints and resume.

    for step in steps:
        examples = task stream at the run's data position
        rollouts = generator.generate(prompts, n=samples_per_prompt)            # rollout
        rewards  = sum_w reward_fn(prompts, completions, **columns)             # reward
        adv      = ADVANTAGES[cfg.grpo.advantage](rewards per group)           # advantage
        loss     = AGGREGATION(POLICY_LOSS(logp, old_logp, adv) + kl_coef * KL) # update
        metrics.jsonl, rollouts.jsonl, TensorBoard, progress bar               # log

Everything random in a step is seeded from (seed, step, prompt, sample), so a resumed run replays exactly and
the rollouts do not depend on how many workers produce them. Where the phases run (this process, or Ray
actors) is `cluster.backend`'s choice (rlvr.cluster); the loop is the same. With `cluster.async_steps: 1` the
rollouts for step t+1 are submitted before step t's update, so they lag one update (`staleness`), and the
learner re-weights them with truncated importance sampling.
"""

from __future__ import annotations

import functools
import math
import sys
import time
import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
from torch import Tensor

from rlvr import algos, cluster, emergence, evaluate as evaluation, prompts, rewards as rewards_mod
from rlvr import behaviour_judge, checkpoint, runs, tasks
from rlvr.learner import NonFiniteUpdate, trained_rows  # noqa: F401  (part of the trainer's public surface)
from rlvr.metrics import JSONL_FILES, Loggers, logged_steps, mean_std, truncate_jsonl
from rlvr.progress import Bar
from rlvr.rollout import Generation, Ready, Sampling
from rlvr.tasks import Example, jsonl as jsonl_task


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
    errors: list[str | None] | None = None  # [B] why a sample scored 0 without its rewards (a reward worker failed)
    staleness: int = 0  # optimizer steps between the weights that sampled `gen` and the ones it trains
    reward_log: rewards_mod.RewardLog | None = None  # what reward functions logged (log_metric, log_extra)


def step_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + step) % (2**63)


def run_dir_for(cfg) -> Path:
    name = cfg.name or f"{cfg.task.kind}-{datetime.now():%Y%m%d-%H%M%S}"
    return Path(cfg.output_dir) / name


# --------------------------------------------------------------------------------------------- phases


def rollout(engine, tokenizer, cfg, examples: list[Example], step: int, first_prompt: int = 0):
    """Submit the step's sampling; returns a pending result (`.result()` -> Generation). `first_prompt`: the
    step's index of examples[0] (dynamic sampling's later rounds continue the step's prompt numbering, so they
    draw from their own sampling streams)."""
    texts = [
        prompts.render(ex.question, template=cfg.prompt.template, tokenizer=tokenizer, system_prompt=cfg.prompt.system_prompt)
        for ex in examples
    ]
    sampling = Sampling.of(cfg.generation)
    return engine.submit(texts, n=cfg.grpo.samples_per_prompt, sampling=sampling, seed=step_seed(cfg.seed, step),
                         first_prompt=first_prompt)


def reward(score, examples: list[Example], gen: Generation, step: int, n: int,
           state: rewards_mod.TrainerState | None = None) -> Rollouts:
    rows = [ex for ex in examples for _ in range(n)]
    ids = [[t for t, m in zip(row, mask) if m] for row, mask in zip(gen.completion_ids.tolist(), gen.completion_mask.tolist())]
    s = score(rows, gen.texts, ids, state)  # rewards.Scores; `state`: TRL's trainer_state for the reward functions
    # correct is NaN where the task has nothing to verify (general prompts in a mixture): left out of accuracy
    return Rollouts(step, rows, gen, s.per_reward, torch.tensor(s.totals, dtype=torch.float32),
                    torch.tensor(s.correct, dtype=torch.float32), errors=s.errors, reward_log=s.log)


def advantage(batch: Rollouts, cfg) -> Rollouts:
    """The batch with its advantages [B] and zero-signal groups [G] (groups whose rewards are all equal)."""
    grouped = batch.reward.view(-1, cfg.grpo.samples_per_prompt)
    adv = algos.ADVANTAGES[cfg.grpo.advantage](grouped, eps=cfg.grpo.adv_eps, scale=cfg.grpo.scale_rewards).flatten()
    return dataclasses.replace(batch, advantage=adv, zero_signal=algos.zero_signal_groups(grouped))


def dynamic_sample(first: Rollouts, more, cfg, pad_id: int) -> tuple[Rollouts, int, dict]:
    """DAPO's dynamic sampling: keep the groups with signal (rewards not all equal) until `prompts_per_step`
    are kept, sampling further rounds of `prompts_per_step` prompts while short, `dynamic_sampling_max_rounds`
    rounds at most. `first`: round 0's rewarded rollouts; `more(r)`: round r's, for the next prompts of the
    data stream. Returns the batch to train on (the first groups with signal, in stream order; all of round 0
    if no group has any), the prompts consumed (every sampled round's, so the data position moves past them
    and a resumed run samples the same), and the `dynamic_sampling/*` metrics."""
    P, n = cfg.grpo.prompts_per_step, cfg.grpo.samples_per_prompt
    rounds, found = [first], []
    while True:
        signal = ~algos.zero_signal_groups(rounds[-1].reward.view(-1, n))
        found += [(len(rounds) - 1, int(gi)) for gi in signal.nonzero().flatten()]
        if len(found) >= P or len(rounds) == cfg.grpo.dynamic_sampling_max_rounds:
            break
        rounds.append(more(len(rounds)))
    sampled = sum(len(r.reward) // n for r in rounds)
    stats = {"dynamic_sampling/rounds": len(rounds), "dynamic_sampling/signal_fraction": len(found) / sampled,
             "dynamic_sampling/filled": min(len(found), P) / P}
    if not found:
        return first, len(rounds) * P, stats
    keep = found[:P]
    rows = [(r, g * n + j) for r, g in keep for j in range(n)]
    # rows are in round order: one selection per round, then the rounds' shards re-padded into one record
    gen = Generation.cat([select(rounds[r].gen, [i for q, i in rows if q == r]) for r in sorted({q for q, _ in rows})],
                         pad_id)
    per_reward = {k: [rounds[r].per_reward[k][i] for r, i in rows] for k in first.per_reward}
    errors = [rounds[r].errors[i] if rounds[r].errors else None for r, i in rows]
    batch = Rollouts(first.step, [rounds[r].examples[i] for r, i in rows], gen, per_reward,
                     torch.stack([rounds[r].reward[i] for r, i in rows]), torch.stack([rounds[r].correct[i] for r, i in rows]),
                     errors=errors if any(errors) else None, staleness=first.staleness)
    return batch, len(rounds) * P, stats


def select(gen: Generation, rows: list[int]) -> Generation:
    """The rows of a Generation, in the given order (padding kept as it was)."""
    idx = torch.tensor(rows, device=gen.completion_ids.device)
    return Generation(gen.prompt_ids[idx], gen.prompt_mask[idx], gen.completion_ids[idx], gen.completion_mask[idx],
                      gen.truncated[idx.to(gen.truncated.device)], [gen.texts[i] for i in rows],
                      None if gen.logprobs is None else gen.logprobs[idx.to(gen.logprobs.device)])


def step_metrics(batch: Rollouts, stats: dict, cfg, lr: float, seconds: dict) -> dict:
    lengths = batch.gen.lengths.cpu()
    out = {}
    total_mean, total_std = mean_std(batch.reward.tolist())
    out["reward/mean"], out["reward/std"] = total_mean, total_std
    for name, values in batch.per_reward.items():
        out[f"reward/{name}/mean"], out[f"reward/{name}/std"] = mean_std(values)
    out["accuracy"] = float(batch.correct.nanmean())  # over verifiable rows only (NaN if there are none)
    out.update(emergence.batch_metrics(batch.gen.texts, lengths.tolist(), batch.gen.truncated.tolist(),
                                       batch.correct.tolist(), group_size=cfg.grpo.samples_per_prompt,
                                       lexicon=cfg.log.reflection_lexicon, script=cfg.log.target_script,
                                       levels=[emergence.level_of(ex.columns) for ex in batch.examples]))
    out["max_new_tokens"] = cfg.generation.max_new_tokens  # the step's budget (a confound for a length change)
    out["zero_signal_group_fraction"] = float(batch.zero_signal.float().mean())
    out["staleness"] = batch.staleness
    if batch.errors is not None and any(batch.errors):
        out["reward_error_fraction"] = sum(e is not None for e in batch.errors) / len(batch.errors)
    out.update(stats)
    out["lr"] = lr
    out.update({f"seconds/{k}": v for k, v in seconds.items()})
    for name, values in (batch.reward_log.metrics if batch.reward_log else {}).items():  # log_metric: mean of the step
        out[name if name not in out else f"reward_log/{name}"] = sum(values) / len(values)
    return out


NO_SIGNAL_STEPS = 3  # steps running without a learning signal before the trainer warns (once per streak)


def no_signal(batch: Rollouts) -> str | None:
    """Why this batch cannot teach anything (every reward None; every group's rewards equal), or None."""
    values = [v for vs in batch.per_reward.values() for v in vs]
    if values and all(math.isnan(v) for v in values):
        return "every reward function returned None for every sample"
    if bool(batch.zero_signal.all()):
        return "in every group all samples got the same reward, so every advantage is 0"
    return None


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
            **({"extra": {k: v[i] for k, v in batch.reward_log.extra.items()}}  # log_extra columns
               if batch.reward_log is not None and batch.reward_log.extra else {}),
            **({"reward_error": batch.errors[i]} if batch.errors and batch.errors[i] else {}),
        }
        for i in range(n)
    ]


# --------------------------------------------------------------------------------------------- the run


def train(cfg, *, reward_funcs=None, reward_weights=None, train_dataset=None, eval_dataset=None, resume: str | Path | None = None, console=None) -> Path:
    """Train; return the run folder. `reward_funcs`: Python callables (TRL signature) used instead of
    `cfg.rewards`. `resume`: a run folder to continue from its latest checkpoint."""
    from rich.console import Console

    console = console or Console(stderr=True)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    # Everything that can fail on a bad config (the task, every reward) is built before the run folder is
    # written, so a typo leaves nothing behind that a corrected retry would collide with.
    data_dir = None
    if train_dataset is not None:  # from Python: the run keeps a copy in its folder, so `--resume` reads it there
        if cfg.name is None:
            cfg = cfg.model_copy(update={"name": run_dir_for(cfg).name})  # one name for the folder and the copy
        data_dir = (Path(resume) if resume else run_dir_for(cfg)) / "data"
        cfg, task = jsonl_task.from_python(cfg, train_dataset, eval_dataset, data_dir)
    else:
        task = tasks.build(cfg.task)
    if reward_funcs is not None:
        reward_fns = rewards_mod.from_callables(reward_funcs, reward_weights)
        # config.yaml records them (`module:attr`, or that one cannot be imported) so `--resume` rebuilds them
        from rlvr.config import RewardSpec

        cfg = cfg.model_copy(update={"rewards": [RewardSpec(**rewards_mod.record(r)) for r in reward_fns]})
    else:  # distinct names: two rewards of one name must not overwrite each other's values
        reward_fns = rewards_mod.distinct([rewards_mod.resolve(spec, task) for spec in cfg.rewards])
    jsonl_task.check_fit(task, cfg.prompt.template, reward_fns)  # chat data needs the chat template; answers
    cluster.check(cfg)  # e.g. Ray missing for `cluster.backend: ray`: fail before the run folder exists
    judge = behaviour_judge.build(cfg.log.behaviour_judge, console)  # off by default
    opened = runs.open_run(cfg, path=Path(resume) if resume else run_dir_for(cfg), resume=bool(resume), command="train")
    run, last = opened.path, opened.last
    if data_dir is not None:
        jsonl_task.save_python_datasets(train_dataset, eval_dataset, data_dir, split=cfg.task.split)
    ckpt_dir = run / "checkpoints"

    try:  # a start that fails (the model cannot load, ...) leaves no folder behind; a resumed run's folder stays
        workers = cluster.start(cfg, task=task, reward_fns=reward_fns, from_python=reward_funcs is not None,
                                checkpoint=last, console=console)
    except BaseException:
        opened.discard()
        raise
    engine, learner, tokenizer = workers.engine, workers.learner, workers.tokenizer
    start, data_position = learner.state.get("step", 0), learner.state.get("data_position", 0)
    in_flight = learner.state.get("extra", {}).get("in_flight")  # asynchronous: rollouts sampled before the save
    if last is not None:
        console.print(f"resuming {run} from {last.name} (step {start})")
    for name in JSONL_FILES:
        # from scratch (even in a resumed folder with no checkpoint yet) nothing earlier survives
        truncate_jsonl(run / name, max_step=start if last is not None else -1)
    done_evals = logged_steps(run / "eval.jsonl")

    try:  # on resume TensorBoard hides the earlier process's steps after the checkpoint: they are replayed
        log = Loggers(run, cfg.model_dump(mode="json"), report_to=cfg.log.report_to, wandb_project=cfg.log.wandb_project,
                      purge_step=(start + 1 if last is not None else 0) if resume else None)
    except BaseException:
        workers.close()
        opened.discard()
        raise
    log.event("resume" if last is not None else "start", start)
    P, n = cfg.grpo.prompts_per_step, cfg.grpo.samples_per_prompt
    lag = cfg.cluster.async_steps

    def examples_at(position: int) -> list[Example]:
        return [task.example(i) for i in range(position, position + P)]

    # pending: (the step it is for, the number of updates its weights had seen, its result handle)
    pending = (in_flight["step"], in_flight["version"], Ready(in_flight["gen"])) if in_flight else None

    def save(step: int) -> Path:
        extra = None
        if pending is not None:  # the next step's rollouts, already sampled from older weights: kept exactly
            extra = {"in_flight": {"step": pending[0], "version": pending[1], "gen": pending[2].result()}}
        return learner.save(ckpt_dir, step=step, data_position=data_position, extra=extra)

    def run_eval(step: int) -> dict:
        ev = evaluation.run(engine, tokenizer, task, eval_cfg=cfg.eval, prompt_cfg=cfg.prompt,
                            max_new_tokens=cfg.generation.max_new_tokens, seed=step_seed(cfg.seed, -1),
                            console=console if cfg.log.progress else None, lexicon=cfg.log.reflection_lexicon,
                            script=cfg.log.target_script)
        result = ev.metrics
        log.log_eval(step, result, ev.samples)
        shown = [k for k in ("accuracy", "mean_length", "truncated_fraction") if k in result] + \
            [k for k in result if k.startswith(("pass@", "maj@"))]  # the rest is in eval.jsonl
        console.print(f"eval at step {step}: " + ", ".join(f"{k}={result[k]:.3f}" for k in shown))
        return result

    def probe(step: int) -> None:  # probes.jsonl: the same held-out prompts, greedy, every log.probe_every steps
        if cfg.log.probe_prompts:
            records = evaluation.probe(engine, tokenizer, task, prompts=cfg.log.probe_prompts, prompt_cfg=cfg.prompt,
                                       max_new_tokens=cfg.generation.max_new_tokens, seed=step_seed(cfg.seed, -2))
            log.write("probes", [{"step": step, **r} for r in records])

    evals: dict[int, dict] = {}
    stop = runs.StopRequest()
    # done: steps completed in this process's state; boundary: (step, pending) while the state is still that of a
    # step boundary (before the update), so a failure there can save it; quiet: steps running without signal
    done, boundary, quiet, ok = start, None, 0, False
    try:
        with stop:
            if start == 0 and cfg.eval.at_start:
                evals[0] = run_eval(0)
            if start == 0:
                probe(0)
            with Bar(console, "step", cfg.steps, completed=start, enabled=cfg.log.progress) as bar:
                for step in range(start, cfg.steps):
                    t0 = time.perf_counter()
                    boundary = (step, pending)
                    examples = examples_at(data_position)
                    if pending is None:
                        pending = (step, step, rollout(engine, tokenizer, cfg, examples, step))
                    gen, version = pending[2].result(), pending[1]
                    pending = None
                    if lag and step + 1 < cfg.steps:  # the next step samples from these weights, before the update
                        pending = (step + 1, step, rollout(engine, tokenizer, cfg, examples_at(data_position + P), step + 1))
                    t1 = time.perf_counter()
                    state = rewards_mod.TrainerState(global_step=step, max_steps=cfg.steps,
                                                     epoch=data_position / len(task) if hasattr(task, "__len__") else 0.0)
                    batch = reward(workers.score, examples, gen, step + 1, n, state)
                    batch = dataclasses.replace(batch, staleness=step - version)
                    consumed, sampled = P, {}
                    if cfg.grpo.dynamic_sampling:  # more rounds of the next prompts until the batch is full of signal
                        def more(r: int) -> Rollouts:
                            extra = examples_at(data_position + r * P)
                            gen_r = rollout(engine, tokenizer, cfg, extra, step, first_prompt=r * P).result()
                            return reward(workers.score, extra, gen_r, step + 1, n, state)

                        batch, consumed, sampled = dynamic_sample(batch, more, cfg, tokenizer.pad_token_id)
                    t2 = time.perf_counter()
                    batch = advantage(batch, cfg)
                    why, quiet = no_signal(batch), quiet + 1
                    quiet = quiet if why else 0
                    if quiet == NO_SIGNAL_STEPS:
                        console.print(f"WARNING: no learning signal for {quiet} steps running (steps {step + 2 - quiet}-"
                                      f"{step + 1}): {why}. Check the reward functions (rollouts.jsonl has each sample's "
                                      f"rewards).", style="bold red", markup=False, soft_wrap=True)
                    lr = learner.lr()
                    boundary = None  # from here until the step is logged, the state is no step's
                    stats = {**learner.update(batch), **sampled}
                    engine.sync(learner.policy())
                    t3 = time.perf_counter()
                    data_position += consumed
                    seconds = {"generation": t1 - t0, "reward": t2 - t1, "update": t3 - t2, "step": t3 - t0}
                    metrics = step_metrics(batch, stats, cfg, lr, seconds)
                    if judge is not None and (step + 1) % cfg.log.behaviour_judge.every == 0:
                        metrics.update(judge.metrics(batch.gen.texts[: cfg.log.behaviour_judge.samples]))
                    log.log(step + 1, metrics)
                    log.log_rollouts(rollout_records(batch, cfg.log.rollouts_per_step))
                    if (cfg.log.probe_every and (step + 1) % cfg.log.probe_every == 0) or step + 1 == cfg.steps:
                        probe(step + 1)
                    bar.update(step + 1, _step_info(metrics))
                    done = step + 1
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
        ok = True
    except NonFiniteUpdate as e:
        kept = checkpoint.latest(ckpt_dir, verify=False)
        console.print(f"step {done + 1}: {e}. " + (f"The last good checkpoint is {kept.name}; " if kept else "No checkpoint "
                      "was saved yet; ") + f"change what made it diverge (a lower optim.lr, a reward's scale), then "
                      f"continue with: rlvr train --resume {run} key=value", style="bold red", markup=False, soft_wrap=True)
        raise NonFiniteUpdate(f"step {done + 1}: {e}") from None
    except Exception as e:  # a reward or rollout that raised: keep the steps completed since the last checkpoint
        if boundary is not None and boundary[0] > start and not (ckpt_dir / f"step-{boundary[0]:06d}").exists():
            pending = boundary[1]  # the in-flight rollouts as they were at that step's boundary
            try:
                save(boundary[0])
            except Exception as again:
                console.print(f"saving step {boundary[0]} failed too: {again}", markup=False)
        kept = checkpoint.latest(ckpt_dir, verify=False)
        if kept is not None:
            console.print(f"{type(e).__name__} after step {done}: the run is saved at {kept}; fix the cause, then "
                          f"continue with: rlvr train --resume {run}", style="bold red", markup=False, soft_wrap=True)
        raise
    finally:
        log.close()
        workers.close()
        if not ok and done == start:  # nothing learned in this process: a fresh start's folder goes
            opened.discard()
        opened.release()
    return run


def _step_info(m: dict) -> str:
    return (f"reward {m['reward/mean']:.3f}  acc {m['accuracy']:.2f}  len {m['completion_length/mean']:.0f}  "
            f"{m['seconds/step']:.1f}s/step")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `rlvr` command")
