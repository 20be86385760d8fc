"""`rlvr sample`: rejection sampling (R1's stage 3 data).

For each training prompt draw N completions; keep a completion only if
  1. the task's verifier accepts it (no verifier, nothing kept: general prompts cannot be rejection-sampled),
  2. it passes the readability filters: well-formed `<think>…</think><answer>…</answer>` (each tag once),
     reasoning written in one script (no language mixing), length within bounds and not truncated, and no
     repetition loop (too many word 4-grams repeating earlier ones);
then drop duplicates (same text after whitespace normalisation) and keep at most K per prompt. General chat
examples are mixed in at `general_ratio` per kept example, and the whole set is shuffled.

Files in the run folder: `dataset.jsonl` (chat examples for `rlvr sft`), `samples.jsonl` (every completion
with the reason it was kept or dropped), `summary.json` (counts and acceptance rates per source, lengths).
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from pathlib import Path

import torch

from rlvr import models, prompts as prompt_formats, runs, tasks
from rlvr.progress import Bar
from rlvr.rewards.format import is_r1_format
from rlvr.rewards.shaping import reasoning_script_share
from rlvr import rollout as engines
from rlvr.rollout import Sampling
from rlvr.sft import chat_examples, write_jsonl


def repeated_ngram_share(text: str, n: int = 4) -> float:
    """Share of word n-grams that repeat an earlier one: ~0 for prose, ~1 for a loop (0 below 2n words)."""
    words = text.split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if len(grams) < n:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def rejection_reason(text: str, *, correct: bool | None, length: int, truncated: bool, f) -> str | None:
    """Why a completion is dropped, or None if it is kept. Checks run in the order the docstring lists."""
    if correct is None:
        return "no verifier"
    if not correct:
        return "verifier rejected"
    if f.require_format and not is_r1_format(text):
        return "format"
    share = reasoning_script_share(text, f.script)
    if share is not None and share < f.min_script_share:
        return "language mixing"
    if truncated:
        return "truncated"
    if length < f.min_tokens or (f.max_tokens is not None and length > f.max_tokens):
        return "length"
    if repeated_ngram_share(text) > f.max_repeated_ngram_share:
        return "repetition"
    return None


def _normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def run_sample(cfg, *, resume: str | Path | None = None, console=None) -> Path:
    """Write the rejection-sampled dataset; return the path of `dataset.jsonl`."""
    from rich.console import Console

    console = console or Console(stderr=True)
    # Sampling keeps no checkpoints: `resume` (the pipeline's own, emptied stage folder) just lets it write there.
    path = Path(resume) if resume else Path(cfg.output_dir) / (cfg.name or "sample")
    opened = runs.open_run(cfg, path=path, resume=bool(resume), command="sample", resumable=False)
    with opened.guard():  # a start that fails before the dataset is written leaves no folder behind
        return _sample(cfg, opened.path, console)


def _sample(cfg, run: Path, console) -> Path:
    start = time.perf_counter()
    device = models.pick_device(cfg.device)
    model, tokenizer = models.load(cfg.model, device=device, dtype=models.pick_dtype(cfg.dtype, device))
    model.eval()
    generator = engines.build(cfg.generation, model, tokenizer)
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(cfg.prompts)]
    n = cfg.samples_per_prompt
    per_batch = max(1, cfg.batch_size // n)
    sampling = Sampling.of(cfg.generation)
    records, kept = [], []
    with Bar(console, "prompts", len(examples), every_s=10.0) as bar:
        for b in range(0, len(examples), per_batch):
            chunk = examples[b : b + per_batch]
            texts = [prompt_formats.render(ex.question, template=cfg.prompt.template, tokenizer=tokenizer,
                                           system_prompt=cfg.prompt.system_prompt) for ex in chunk]
            gen = generator.generate(texts, n=n, sampling=sampling, seed=cfg.seed * 1_000_003 + b)
            for j, ex in enumerate(chunk):
                seen: set[str] = set()
                for r in range(j * n, (j + 1) * n):
                    text = gen.texts[r]
                    reason = rejection_reason(text, correct=task.check(text, ex).correct, length=int(gen.lengths[r]),
                                              truncated=bool(gen.truncated[r]), f=cfg.filters)
                    if reason is None and _normal(text) in seen:
                        reason = "duplicate"
                    if reason is None and len(seen) >= cfg.keep_per_prompt:
                        reason = "over keep_per_prompt"
                    if reason is None:
                        seen.add(_normal(text))
                        kept.append({"messages": [{"role": "user", "content": ex.question}, {"role": "assistant", "content": text}],
                                     "source": ex.columns.get("source", cfg.task.kind), "length": int(gen.lengths[r])})
                    records.append({"prompt": ex.question, "answer": ex.answer, "columns": ex.columns, "completion": text,
                                    "source": ex.columns.get("source", cfg.task.kind), "length": int(gen.lengths[r]),
                                    "kept": reason is None, "reason": reason})
            bar.update(min(b + per_batch, len(examples)), f"kept {len(kept)}")

    general = chat_examples(cfg.general, cfg.seed) if cfg.general is not None else []
    n_general = min(len(general), max(cfg.general_min, round(cfg.general_ratio * len(kept))))
    dataset = [{"messages": k["messages"]} for k in kept] + general[:n_general]
    random.Random(cfg.seed).shuffle(dataset)
    write_jsonl(run / "samples.jsonl", records)
    write_jsonl(run / "dataset.jsonl", dataset)
    summary = summarize(records, kept, n_general, seconds=time.perf_counter() - start)
    (run / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    console.print(f"kept {len(kept)} of {len(records)} completions ({summary['acceptance_rate']:.1%}), "
                  f"plus {n_general} general examples: {run / 'dataset.jsonl'}")
    return run / "dataset.jsonl"


def summarize(records: list[dict], kept: list[dict], n_general: int, *, seconds: float) -> dict:
    by_source: dict[str, dict] = {}
    for r in records:
        s = by_source.setdefault(r["source"], {"samples": 0, "kept": 0, "verified": 0, "prompts_with_any": set()})
        s["samples"] += 1
        s["kept"] += r["kept"]
        s["verified"] += r["reason"] not in ("verifier rejected", "no verifier")
        if r["kept"]:
            s["prompts_with_any"].add(r["prompt"])
    for s in by_source.values():
        s["acceptance_rate"] = s["kept"] / s["samples"]
        s["verified_rate"] = s["verified"] / s["samples"]
        s["prompts_with_any"] = len(s["prompts_with_any"])
    lengths = [k["length"] for k in kept]
    return {
        "samples": len(records),
        "kept": len(kept),
        "acceptance_rate": len(kept) / max(len(records), 1),
        "general_examples": n_general,
        "dropped_by_reason": dict(Counter(r["reason"] for r in records if not r["kept"])),
        "per_source": by_source,
        "kept_length": {"mean": sum(lengths) / len(lengths), "min": min(lengths), "max": max(lengths)} if lengths else None,
        "seconds": seconds,
    }
