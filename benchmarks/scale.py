"""Seconds per GRPO step: the local backend against the Ray backend with the same settings, on this machine.

Both backends are started in one process and their steps alternate (local step 1, Ray step 1, local step
2, ...), so drift in the machine's speed over the minutes of the run falls on both alike. They train the
same model on the same prompts with the same seeds, at a learning rate (`--lr`, default 1e-12) so small that
the weights stay equal to float precision in both: a larger one leaves the two learners' weights ~1e-6 apart
after an update (fused kernels round differently in another process), the samples then diverge, and the
two would no longer do the same work. The update's compute does not depend on the learning rate. So both
sample the same tokens and do exactly the same work, and the difference in seconds per step is what Ray adds: shipping prompts, rollouts and the batch between processes, the learner's
weights through the object store into the rollout worker after every update, and the actors' scheduling.
The target is at most 15 %.

Settings (both): the `default` preset's model and batch (the embedded SmolLM2-135M-Instruct in fp32, 4
prompts x 8 samples, up to 48 new tokens, full fine-tuning), synchronous steps. Ray: a local Ray with 1
rollout worker, 1 reward worker and 1 learner; the rollout worker and the learner each use as many torch
threads as the local backend (the phases of a synchronous step take turns). The first `--warmup` steps of
each are not counted. Each step is the trainer's phase loop: rollout, reward, advantage, update, sync.

Run: `.venv/bin/python benchmarks/scale.py` (about 10 minutes on a 2-core CPU); `--model tiny-random` shows
the fixed cost per step on a model whose steps take milliseconds. Prints a table and writes
benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console

from rlvr import cluster, config, rewards, tasks, trainer


def start(backend: str, args, threads: int):
    overrides = [f"model={args.model}", f"optim.lr={args.lr}", "log.progress=false", f"threads={threads}", f"cluster.backend={backend}",
                 f"cluster.cpus_per_rollout_worker={threads}", f"cluster.cpus_per_learner={threads}"]
    cfg = config.load(preset="default", overrides=overrides)
    task = tasks.build(cfg.task)
    reward_fns = [rewards.resolve(spec, task) for spec in cfg.rewards]
    workers = cluster.start(cfg, task=task, reward_fns=reward_fns, from_python=False, checkpoint=None,
                            console=Console(file=io.StringIO()))
    return cfg, task, workers


def step(cfg, task, w, k: int) -> tuple[dict, list[str]]:
    """One synchronous step of the trainer's loop; its phases' seconds (and completion tokens) and its
    completions."""
    P, n = cfg.grpo.prompts_per_step, cfg.grpo.samples_per_prompt
    examples = [task.example(i) for i in range(k * P, (k + 1) * P)]
    t0 = time.perf_counter()
    gen = trainer.rollout(w.engine, w.tokenizer, cfg, examples, k).result()
    t1 = time.perf_counter()
    batch = trainer.advantage(trainer.reward(w.score, examples, gen, k + 1, n), cfg)
    t2 = time.perf_counter()
    w.learner.update(batch)
    w.engine.sync(w.learner.policy())
    t3 = time.perf_counter()
    return {"generation": t1 - t0, "reward": t2 - t1, "update": t3 - t2, "step": t3 - t0,
            "tokens": float(gen.lengths.sum())}, gen.texts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded:smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=6, help="counted steps per backend")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--lr", type=float, default=1e-12, help="learning rate (tiny: both backends keep equal weights)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    args = p.parse_args()
    threads = args.threads or torch.get_num_threads()
    runs = {b: start(b, args, threads) for b in ("local", "ray")}
    # the next step's weights reach the Ray rollout worker as part of each step (sync); the first from start
    times = {b: [] for b in runs}
    same = True
    for k in range(args.warmup + args.steps):
        texts = {}
        for b, (cfg, task, w) in runs.items():
            seconds, texts[b] = step(cfg, task, w, k)
            if k >= args.warmup:
                times[b].append(seconds)
        same &= texts["local"] == texts["ray"]
        print(f"step {k + 1}: " + "  ".join(f"{b} {times[b][-1]['step']:.2f}s" if k >= args.warmup else f"{b} (warm-up)"
                                           for b in runs), flush=True)
    for _, _, w in runs.values():
        w.close()
    summary = {b: {ph: statistics.mean(t[ph] for t in ts) for ph in ("generation", "reward", "update", "step", "tokens")}
               for b, ts in times.items()}
    overhead = summary["ray"]["step"] / summary["local"]["step"] - 1
    print(f"{'backend':8} {'s/step':>8} {'generation':>11} {'reward':>8} {'update+sync':>12} {'tokens':>7}")
    for b, ph in summary.items():
        print(f"{b:8} {ph['step']:8.2f} {ph['generation']:11.2f} {ph['reward']:8.3f} {ph['update']:12.2f} {ph['tokens']:7.0f}")
    print(f"Ray overhead: {overhead * 100:+.1f} % per step (target <= 15 %); same rollouts in every step: {same}")
    result = {"model": args.model, "lr": args.lr, "steps": args.steps, "warmup": args.warmup, "threads": threads,
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "seconds": summary, "per_step": times, "overhead": overhead, "same_rollouts": same}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
