"""Seconds per GRPO step: rlvr against TRL's GRPOTrainer, same model and settings, in one process.

Settings (both): the embedded SmolLM2-135M-Instruct in fp32 on CPU, 2 prompts x 8 samples, at most 64 new
tokens, temperature 1.0, no KL (no reference model), one update per batch, one forward/backward over all 16
sequences, AdamW at lr 1e-6, the same single-digit multiplication prompts through the chat template and the
same reward function (rlvr's `math_answer`, which has TRL's signature).

Configurations (all with the settings above):
  rlvr-fp32    fp32 weights and compute (bf16_autocast=false; what `auto` picks on CPUs without bf16 units).
  rlvr-bf16    bf16_autocast=true: bf16 matrix products over fp32 weights, rollouts from a bf16 copy.
  trl-fp32     GRPOConfig(bf16=False, gradient_checkpointing=False): fp32, no recompute, like rlvr-fp32.
  trl-bf16     GRPOConfig(bf16=True, gradient_checkpointing=False): bf16 autocast, like rlvr-bf16.
  trl-default  GRPOConfig as shipped: bf16=True and gradient_checkpointing=True are its defaults.
On CPUs with AMX-BF16 bf16 matrix products are several times faster than fp32; on CPUs without bf16 units
(AVX2 only) they are ~100x slower, which is why rlvr's `bf16_autocast: auto` measures before it picks bf16
and why a TRL run with its defaults can take ~90 s per step on such a CPU. Compare like with like: fp32 with
fp32, bf16 with bf16 (`--rlvr fp32 --trl fp32` on a CPU without bf16 units).

Run: `make bench` (installs trl, datasets, accelerate) or `.venv/bin/python benchmarks/grpo_step_vs_trl.py`.
The first step of each is a warm-up and is not counted. Prints the means, the ratios and mean completion
lengths (sampling differs, so lengths are reported to show the work per step was comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from rlvr import config, models, tasks
from rlvr.rewards import math_answer

PROMPTS_PER_STEP, SAMPLES, MAX_NEW_TOKENS, LR = 2, 8, 64, 1e-6


def prompts(n: int):
    task = tasks.build(config.TrainConfig().task)
    return [task.example(i) for i in range(n)]


def bench_rlvr(steps: int, out: Path, *, kind: str) -> dict:
    from rlvr.trainer import train

    cfg = config.load(preset="default", overrides=[
        f"output_dir={out}", f"name=rlvr-{kind}", f"steps={steps}", f"bf16_autocast={kind == 'bf16'}", f"grpo.prompts_per_step={PROMPTS_PER_STEP}",
        f"grpo.samples_per_prompt={SAMPLES}", f"generation.max_new_tokens={MAX_NEW_TOKENS}", "grpo.kl_coef=0",
        "grpo.updates_per_batch=1", f"optim.lr={LR}", f"optim.micro_batch_size={PROMPTS_PER_STEP * SAMPLES}",
        "eval.at_start=false", "eval.at_end=false", "log.progress=false", "rewards=[{name: math_answer}]",
    ])
    run = train(cfg)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return {"seconds": [r["seconds/step"] for r in rows], "length": [r["completion_length/mean"] for r in rows],
            "generation": [r["seconds/generation"] for r in rows], "update": [r["seconds/update"] for r in rows]}


TRL_CONFIGS = {
    "fp32": {"bf16": False, "gradient_checkpointing": False},
    "bf16": {"bf16": True, "gradient_checkpointing": False},
    "default": {},
}


def bench_trl(steps: int, out: Path, *, kind: str) -> dict:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    path = models.resolve("embedded:smollm2-135m-instruct")
    examples = prompts(PROMPTS_PER_STEP * steps)
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": e.question}], "answer": e.answer} for e in examples])
    times: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "completions/mean_length" in logs:
                lengths.append(logs["completions/mean_length"])

    args = GRPOConfig(
        output_dir=str(out / "trl"), max_steps=steps, per_device_train_batch_size=PROMPTS_PER_STEP * SAMPLES,
        gradient_accumulation_steps=1, num_generations=SAMPLES, max_completion_length=MAX_NEW_TOKENS,
        temperature=1.0, beta=0.0, num_iterations=1, learning_rate=LR, lr_scheduler_type="constant",
        use_cpu=True, report_to=[], logging_steps=1, save_strategy="no", shuffle_dataset=False, disable_tqdm=True,
        **TRL_CONFIGS[kind],
    )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    trainer = GRPOTrainer(model=model, reward_funcs=[math_answer], args=args, train_dataset=data,
                          processing_class=tok, callbacks=[Timer()])
    trainer.train()
    return {"seconds": times, "length": lengths}


def cpu_info() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "cpu"
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "cpu")
    return f"{model} ({'with' if 'amx_bf16' in text else 'without'} AMX-BF16)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=4, help="steps per trainer, the first is a warm-up")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--rlvr", default="fp32,bf16", help="rlvr configurations: fp32, bf16 (empty: none)")
    parser.add_argument("--trl", default="fp32,bf16,default", help="TRL configurations: fp32, bf16, default (empty: none)")
    parser.add_argument("--out", type=Path, default=None, help="also write the summary here as JSON "
                        "(e.g. benchmarks/results/grpo_step_vs_trl.json)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import trl
    except ImportError:
        print("trl is not installed: pip install -e '.[bench]'", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for kind in filter(None, args.rlvr.split(",")):
            results[f"rlvr-{kind}"] = bench_rlvr(args.steps, Path(tmp), kind=kind)
        for kind in filter(None, args.trl.split(",")):
            results[f"trl-{kind}"] = bench_trl(args.steps, Path(tmp), kind=kind)
    summary = {}
    for name, r in results.items():
        timed = r["seconds"][1:] or r["seconds"]
        summary[name] = {"seconds_per_step": statistics.mean(timed), "steps_timed": len(timed),
                         "all_steps": [round(s, 2) for s in r["seconds"]],
                         "mean_completion_length": round(statistics.mean(r["length"]), 1) if r["length"] else None}
        for phase in ("generation", "update"):
            if phase in r:
                summary[name][f"{phase}_seconds"] = round(statistics.mean(r[phase][1:] or r[phase]), 2)
    cpu = cpu_info()
    print(f"device: {cpu}, torch threads: {torch.get_num_threads()}, torch {torch.__version__}, trl {trl.__version__}")
    for name, s in summary.items():
        print(f"{name:12s} {s['seconds_per_step']:7.2f} s/step  (steps {s['all_steps']}, mean completion length "
              f"{s['mean_completion_length']})")
    pairs = [("rlvr-fp32", "trl-fp32"), ("rlvr-bf16", "trl-bf16"), ("rlvr-bf16", "trl-default"), ("rlvr-fp32", "trl-default")]
    speedups = {}
    for ours, theirs in pairs:
        if ours in summary and theirs in summary:
            speedups[f"{ours} vs {theirs}"] = summary[theirs]["seconds_per_step"] / summary[ours]["seconds_per_step"]
            print(f"{ours} is {speedups[f'{ours} vs {theirs}']:.2f}x faster per step than {theirs}")
    result = {"device": cpu, "threads": torch.get_num_threads(), "load_average_at_end": os.getloadavg(),
              "torch": torch.__version__, "trl": trl.__version__, "steps": args.steps, **summary, "speedup": speedups}
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
