"""Rollout speed of the TransformersEngine beside this machine's floors: decode tokens/s and ms per decoding step.

Model and prompts: the embedded SmolLM2-135M-Instruct in fp32, the `default` preset's arithmetic questions
through the chat template, sampled at T=1 as the trainer samples them.

Measured on this machine, in this process:
  bandwidth    GB/s of summing a 256 MiB fp32 tensor (the best of a few tries): what streaming weights can reach.
  peak FLOP/s  fp32 matrix products, the best over a large product and the decode-step shapes.
  floors       per decoding step of a batch of B rows:
                 bandwidth floor = bytes of every weight matrix (each is read once per step; the tied 49152x576
                                   embedding is read whole as the LM head) / bandwidth;
                 compute floor   = 2 * (matrix parameters) * B FLOPs / peak FLOP/s.
               A step cannot be faster than the larger of the two. The KV cache read per step is reported
               beside them (it grows with the sequence and is not in the weight floor).

Runs (prefill timed apart from decode by hooks on the model's forward; decode = everything after the prefill
forward: the per-token forwards, sampling, bookkeeping and the final detokenisation):
  full        every row decodes all `max_new_tokens` (EOS ignored): ms per decoding step at a fixed batch B,
              against the floors. At the preset's batch (4 prompts x 8 samples) and larger ones.
  Wall seconds and process CPU seconds are both recorded: on a machine shared with other work, CPU time at
  --threads 1 is the steadier figure (the floors are measured under the same load, so they move with it).
  natural     rows stop at their EOS as in training, with finished rows dropped from the batch (the engine's
              default) and kept in (`drop_finished=None`, as before), alternating in one process so that
              load from other processes falls on both.

Run: `.venv/bin/python benchmarks/rollout_speed.py` (about 3-5 minutes on a 2-core CPU; `--quick` for less).
Writes benchmarks/results/rollout_speed.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

from rlvr import config, models, prompts, tasks
from rlvr.rollout import Sampling, TransformersEngine

OUT = Path(__file__).parent / "results" / "rollout_speed.json"


def best_of(f, tries: int) -> float:
    best = float("inf")
    for _ in range(tries):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def bandwidth_gbs() -> float:
    x = torch.ones(64 * 2**20)  # 256 MiB of fp32
    x.sum()
    return x.numel() * 4 / best_of(x.sum, 7) / 1e9


def matmul_gflops(shapes: list[tuple[int, int, int]]) -> dict[str, float]:
    """{"MxK@KxN": GFLOP/s} for fp32 x[M, K] @ w[N, K]^T (the way nn.Linear multiplies), best of a few tries."""
    out = {}
    with torch.no_grad():
        for M, K, N in shapes:
            x, w = torch.randn(M, K), torch.randn(N, K)
            torch.nn.functional.linear(x, w)
            tries = max(3, min(30, int(2e9 / (2 * M * K * N))))
            out[f"{M}x{K}@{K}x{N}"] = 2 * M * K * N / best_of(lambda: torch.nn.functional.linear(x, w), tries) / 1e9
    return out


class Timer:
    """Forward hooks on the model: the seconds of the first forward of each generate call (the prefill)."""

    def __init__(self, model):
        self.prefill = None
        model.register_forward_pre_hook(self._pre)
        model.register_forward_hook(self._post)

    def _pre(self, module, args):
        self._t0, self._c0 = time.perf_counter(), time.process_time()

    def _post(self, module, args, out):
        if self.prefill is None:
            self.prefill, self.prefill_cpu = time.perf_counter() - self._t0, time.process_time() - self._c0


def run(engine: TransformersEngine, timer: Timer, texts: list[str], n: int, T: int, seed: int, *, full: bool,
        drop) -> dict:
    eos = engine.eos_ids
    engine.eos_ids = [-1] if full else eos  # -1 is never sampled: every row runs to max_new_tokens
    engine.drop_finished = drop
    try:
        timer.prefill = None
        t0, c0 = time.perf_counter(), time.process_time()
        gen = engine.generate(texts, n=n, sampling=Sampling(max_new_tokens=T), seed=seed)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        engine.eos_ids = eos
    decode = total - timer.prefill
    steps = gen.completion_ids.shape[1] - 1  # forwards after the prefill (the last sampled token needs none)
    tokens = int(gen.lengths.sum())
    return {"seconds": total, "cpu_seconds": cpu, "prefill_s": timer.prefill, "decode_s": decode, "steps": steps, "tokens": tokens,
            "rows": len(texts) * n, "prompt_tokens": gen.prompt_ids.shape[1],
            "mean_length": tokens / (len(texts) * n), "decode_tokens_per_s": tokens / decode,
            "ms_per_step": 1e3 * decode / max(1, steps), "cpu_ms_per_step": 1e3 * (cpu - timer.prefill_cpu) / max(1, steps)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--batches", default="4x8,8x8,16x8", help="prompts x samples for the full-length runs")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats of each run (after one warm-up)")
    parser.add_argument("--quick", action="store_true", help="preset batch only, one repeat")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = [tuple(int(v) for v in b.split("x")) for b in ("4x8" if args.quick else args.batches).split(",")]
    repeats = 1 if args.quick else args.repeats

    cfg = config.load(preset="default")
    model, tok = models.load(cfg.model, device=torch.device("cpu"), dtype=torch.float32)
    model.eval()
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(max(p for p, _ in batches))]
    texts = [prompts.render(e.question, template=cfg.prompt.template, tokenizer=tok, system_prompt=cfg.prompt.system_prompt)
             for e in examples]
    engine = TransformersEngine(model, tok)
    timer = Timer(model)

    c = model.config
    # every weight matrix a decoding step multiplies by: the layers' projections and the (tied) LM head
    matrix_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    weight_bytes = sum(m.weight.numel() * m.weight.element_size() for m in model.modules() if isinstance(m, torch.nn.Linear))
    kv_per_token = 2 * c.num_hidden_layers * c.num_key_value_heads * (c.hidden_size // c.num_attention_heads) * 4
    bw = bandwidth_gbs()
    rows_list = [p * n for p, n in batches]
    flops = matmul_gflops([(1024, 1024, 1024)] + [(r, c.hidden_size, c.intermediate_size) for r in rows_list]
                          + [(rows_list[0], c.hidden_size, c.vocab_size)])
    peak = max(flops.values())
    machine = {"cpu": cpu_name(), "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
               "load_average_at_start": os.getloadavg(), "torch": torch.__version__, "bandwidth_GBps": round(bw, 1),
               "matmul_GFLOPps": {k: round(v, 1) for k, v in flops.items()}, "peak_GFLOPps": round(peak, 1)}
    model_info = {"model": cfg.model, "dtype": "float32", "matrix_params": matrix_params, "weight_bytes": weight_bytes,
                  "kv_bytes_per_row_token": kv_per_token}
    bw_floor_ms = 1e3 * weight_bytes / (bw * 1e9)
    print(f"{machine['cpu']}, {machine['threads']} threads, load {machine['load_average_at_start'][0]:.1f}: "
          f"bandwidth {bw:.1f} GB/s, peak fp32 matmul {peak:.0f} GFLOP/s; weights {weight_bytes / 1e6:.0f} MB "
          f"-> bandwidth floor {bw_floor_ms:.1f} ms per decoding step")

    with torch.no_grad():
        run(engine, timer, texts[:2], 2, 4, 0, full=True, drop=None)  # warm-up
        full = []
        for T in (48,) if args.quick else (48, 160):
            for p, n in batches if T == 48 else batches[:1]:
                rs = [run(engine, timer, texts[:p], n, T, seed, full=True, drop=None) for seed in range(repeats)]
                best = min(rs, key=lambda r: r["ms_per_step"])
                rows = p * n
                compute_floor_ms = 1e3 * 2 * matrix_params * rows / (peak * 1e9)
                kv_ms = 1e3 * kv_per_token * rows * (best["prompt_tokens"] + T / 2) / (bw * 1e9)
                entry = {"batch": f"{p}x{n}", "max_new_tokens": T, **{k: round(v, 4) if isinstance(v, float) else v for k, v in best.items()},
                         "ms_per_step_all": [round(r["ms_per_step"], 1) for r in rs],
                         "bandwidth_floor_ms": round(bw_floor_ms, 2), "compute_floor_ms": round(compute_floor_ms, 2),
                         "kv_read_ms_mean": round(kv_ms, 2),
                         "x_bandwidth_floor": round(best["ms_per_step"] / bw_floor_ms, 2),
                         "x_compute_floor": round(best["ms_per_step"] / compute_floor_ms, 2),
                         "x_max_floor": round(best["ms_per_step"] / max(bw_floor_ms, compute_floor_ms), 2),
                         # the same against CPU time (steadier on a shared machine; with 1 thread ~ an idle core's wall)
                         "cpu_x_bandwidth_floor": round(best["cpu_ms_per_step"] / bw_floor_ms, 2),
                         "cpu_x_compute_floor": round(best["cpu_ms_per_step"] / compute_floor_ms, 2),
                         "cpu_decode_tokens_per_s": round(best["tokens"] / (best["cpu_ms_per_step"] * max(1, best["steps"]) / 1e3), 1)}
                full.append(entry)
                print(f"full    {p}x{n} T={T:3d}: {best['ms_per_step']:7.1f} ms/step ({entry['ms_per_step_all']}; CPU "
                      f"{best['cpu_ms_per_step']:.1f} ms), "
                      f"{best['decode_tokens_per_s']:6.0f} tok/s, prefill {1e3 * best['prefill_s']:.0f} ms; floors: "
                      f"bandwidth {bw_floor_ms:.1f} ms ({entry['x_bandwidth_floor']}x), compute {compute_floor_ms:.1f} ms "
                      f"({entry['x_compute_floor']}x)")
        natural = []
        for T in (48,) if args.quick else (48, 160):
            pairs = {"drop": [], "keep": []}
            for seed in range(max(2, repeats)):
                for name, drop in (("drop", TransformersEngine.drop_finished), ("keep", None)):  # alternate A/B
                    pairs[name].append(run(engine, timer, texts[:4], 8, T, 100 + seed, full=False, drop=drop))
            entry = {"batch": "4x8", "max_new_tokens": T}
            for name, rs in pairs.items():
                entry[name] = {"decode_s": [round(r["decode_s"], 3) for r in rs], "cpu_s": [round(r["cpu_seconds"], 3) for r in rs],
                               "tokens": [r["tokens"] for r in rs],
                               "steps": [r["steps"] for r in rs],
                               "decode_tokens_per_s": round(sum(r["tokens"] for r in rs) / sum(r["decode_s"] for r in rs), 1)}
            entry["same_tokens"] = [a["tokens"] for a in pairs["drop"]] == [b["tokens"] for b in pairs["keep"]]
            entry["speedup_drop_vs_keep"] = round(statistics.mean(b["decode_s"] / a["decode_s"] for a, b in zip(pairs["drop"], pairs["keep"])), 2)
            entry["cpu_speedup_drop_vs_keep"] = round(statistics.mean(b["cpu_seconds"] / a["cpu_seconds"] for a, b in zip(pairs["drop"], pairs["keep"])), 2)
            natural.append(entry)
            print(f"natural 4x8 T={T:3d}: finished rows dropped {entry['drop']['decode_tokens_per_s']:.0f} tok/s, kept "
                  f"{entry['keep']['decode_tokens_per_s']:.0f} tok/s (x{entry['speedup_drop_vs_keep']}; mean length "
                  f"{statistics.mean(r['tokens'] for r in pairs['drop']) / 32:.1f}, CPU time x{entry['cpu_speedup_drop_vs_keep']}, "
                  f"same tokens: {entry['same_tokens']})")
    machine["load_average_at_end"] = os.getloadavg()
    result = {"machine": machine, "model": model_info, "full": full, "natural": natural,
              "command": "benchmarks/rollout_speed.py " + " ".join(f"--{k}={v}" for k, v in vars(args).items() if v and k != "out")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    name = next((l.split(":", 1)[1].strip() for l in text.splitlines() if l.startswith("model name")), platform.machine())
    flags = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f" {f}" in text]
    return f"{name} ({', '.join(flags)})"


if __name__ == "__main__":
    raise SystemExit(main())
