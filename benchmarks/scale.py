"""Seconds per GRPO step: the local backend against the Ray backend with the same settings, on this machine.

Both runs train the same model on the same prompts with the same seeds, so they do the same work (the Ray
run's rollouts are the local run's, token for token); the difference in seconds per step is what Ray adds:
shipping prompts, rollouts and the batch between processes, putting the learner's weights in the object
store after every update and loading them into the rollout workers. The target is at most 15 %.

Settings (both): the `default` preset's model and batch (the embedded SmolLM2-135M-Instruct in fp32, 4
prompts x 8 samples, up to 48 new tokens), synchronous steps, no evaluation. Ray: 1 rollout worker, 1
reward worker and 1 learner on a local Ray; the rollout worker and the learner each use as many torch
threads as the local run (they take turns, as the phases of a synchronous step do). The first `--warmup`
steps of each run are not counted.

Run: `.venv/bin/python benchmarks/scale.py` (about 6 minutes on a 2-core CPU); `--model tiny-random` shows
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
import tempfile
import time
from pathlib import Path

import torch

from rlvr import config, trainer


def measure(backend: str, args, out: Path) -> dict:
    from rich.console import Console

    threads = args.threads or torch.get_num_threads()
    overrides = [f"output_dir={out}", f"name={backend}", f"steps={args.steps + args.warmup}", f"model={args.model}",
                 "eval.at_start=false", "eval.at_end=false", "checkpoint.save_every=0", "log.report_to=[]",
                 "log.progress=false", f"threads={threads}", f"cluster.backend={backend}",
                 f"cluster.cpus_per_rollout_worker={threads}", f"cluster.cpus_per_learner={threads}"]
    cfg = config.load(preset="default", overrides=overrides)
    t0 = time.perf_counter()
    run = trainer.train(cfg, console=Console(file=io.StringIO()))
    wall = time.perf_counter() - t0
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][args.warmup:]
    phases = {k: statistics.mean(m[f"seconds/{k}"] for m in metrics) for k in ("generation", "reward", "update", "step")}
    return {"backend": backend, "seconds_per_step": phases["step"], "phases": phases, "wall_seconds": wall,
            "tokens_per_step": statistics.mean(m["completion_length/mean"] for m in metrics) * 32,
            "completions": [json.loads(line)["completion"] for line in (run / "rollouts.jsonl").read_text().splitlines()]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="embedded:smollm2-135m-instruct")
    p.add_argument("--steps", type=int, default=4, help="counted steps per backend")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "scale.json"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        local = measure("local", args, Path(tmp))
        remote = measure("ray", args, Path(tmp))
    same = local.pop("completions") == remote.pop("completions")
    overhead = remote["seconds_per_step"] / local["seconds_per_step"] - 1
    print(f"{'backend':8} {'s/step':>8} {'generation':>11} {'reward':>8} {'update':>8}")
    for r in (local, remote):
        ph = r["phases"]
        print(f"{r['backend']:8} {ph['step']:8.2f} {ph['generation']:11.2f} {ph['reward']:8.3f} {ph['update']:8.2f}")
    print(f"Ray overhead: {overhead * 100:+.1f} % per step (target <= 15 %); same rollouts: {same}")
    result = {"model": args.model, "steps": args.steps, "warmup": args.warmup, "machine": platform.processor() or platform.machine(),
              "cpus": os.cpu_count(), "local": local, "ray": remote, "overhead": overhead, "same_rollouts": same}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
