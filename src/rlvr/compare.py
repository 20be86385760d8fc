"""The pipeline's comparison: every stage's model on the same held-out sets, as one table.

Rows: the base model, then each stage that produced a policy (sft, grpo). Columns: greedy accuracy and
pass@k on the verifiable held-out set, format compliance, language-mixing rate, mean completion length, and
the reward model's mean score on held-out general prompts (when the pipeline trained one). Each model's
result is cached in `eval/<row>.json`, so a re-run only evaluates what changed.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path

from rlvr import config as config_mod, evaluate as evaluation, models, prompts as prompt_formats
from rlvr.config import EvalConfig
from rlvr import rollout as engines
from rlvr.rollout import Sampling
from rlvr.rewards.format import is_r1_format
from rlvr.tasks.general import general_examples
from rlvr import tasks
from rlvr.pipeline import read_json


def evaluate_model(spec: str, p, reward_model, console=None) -> dict:
    """`reward_model`: a function returning the loaded `PreferenceReward` (loaded once for every row), or None."""
    e = p.eval
    device = models.pick_device(p.device)
    model, tokenizer = models.load(spec, device=device, dtype=models.pick_dtype(p.dtype, device))
    model.eval()
    gen = engines.build(e.generation, model, tokenizer)
    eval_cfg = EvalConfig(problems=e.problems, samples=e.samples, k=e.k, batch_size=e.batch_size,
                          temperature=e.generation.temperature)
    result = evaluation.evaluate(gen, tokenizer, tasks.build(e.task), eval_cfg=eval_cfg, prompt_cfg=e.prompt,
                                 max_new_tokens=e.generation.max_new_tokens, seed=p.seed, console=console)
    if reward_model is not None and e.general_prompts:
        examples = general_examples(e.general_prompts, seed=p.seed, held_out=True)
        texts = [prompt_formats.render(ex.question, template="chat", tokenizer=tokenizer) for ex in examples]
        out = []
        for i in range(0, len(texts), e.batch_size):
            out += gen.generate(texts[i : i + e.batch_size], n=1, sampling=Sampling.of(e.generation, temperature=0.0),
                                seed=p.seed).texts
        result["preference_reward"] = sum(reward_model()([ex.question for ex in examples], out)) / len(out)
        # What the reward model cannot see well: does the answer name the right thing? (reward hacking shows here)
        result["general_correct_rate"] = sum(names_expected(c, ex.columns["expected"]) for ex, c in zip(examples, out)) / len(out)
        result["general_examples"] = [{"prompt": ex.question, "completion": c} for ex, c in list(zip(examples, out))[:5]]
    del model
    return result


def _made(stage) -> str | None:
    """The unique id in a stage's `done` marker (a stage that ran again has a new one)."""
    done = read_json(stage.folder / "done")
    return done.get("id") if isinstance(done, dict) else None


def names_expected(completion: str, expected: str) -> bool:
    """The general question's right value (a capital, an opposite, a colour...) appears as a whole phrase."""
    return re.search(rf"(?<!\w){re.escape(expected.lower())}(?!\w)", completion.lower()) is not None


def compare(p, stages, root: Path, console, shared: Path | None = None) -> dict:
    """Evaluate every policy row into `root`. `shared` (a run over seeds: the pipeline folder): rows that do not
    depend on the seed (the base and shared stages, scored by a shared reward model) are cached there, once."""
    rows = [("base", p.model, None)] + [(s.folder.name, str(s.output), s) for s in stages if s.makes == "policy"]
    rms = [s for s in stages if s.makes == "reward_model" and p.eval.reward_model in (None, s.name)]
    rm_shared = not rms or rms[-1].folder.parent == shared

    @functools.cache
    def reward_model():
        from rlvr.rm import PreferenceReward

        return PreferenceReward(str(rms[-1].output), device=p.device)
    results = {}
    for label, spec, stage in rows:
        same_for_all = shared is not None and rm_shared and (stage is None or stage.folder.parent == shared)
        cached = (shared if same_for_all else root) / "eval" / f"{label}.json"
        cached.parent.mkdir(exist_ok=True)
        # What the cached result was made from: a stage that re-ran, another reward model or eval settings redo it
        made_from = {"model": _made(stage) if stage else spec, "reward_model": _made(rms[-1]) if rms else None,
                     "eval": config_mod.dump(p.eval), "seed": p.seed, "dtype": p.dtype, "device": p.device}
        old = read_json(cached)
        if old is not None and old.get("made_from") == made_from:
            results[label] = old
            continue
        console.print(f"evaluating {label} ({spec})")
        results[label] = {**evaluate_model(spec, p, reward_model if rms else None, console), "made_from": made_from}
        cached.write_text(json.dumps(results[label], indent=2) + "\n")
    # Wall time stays in eval/<row>.json: the comparison holds results only, so identical runs give identical files.
    results = {label: {k: v for k, v in r.items() if k not in ("seconds", "made_from")} for label, r in results.items()}
    table = markdown(results, p.eval.k if p.eval.samples else [])
    data = {s.folder.name: recheck(s) for s in stages if s.makes == "dataset"}
    if data:
        table += "\n" + data_markdown(data)
    (root / "comparison.md").write_text(table)
    (root / "comparison.json").write_text(json.dumps({**results, **{f"data/{k}": v for k, v in data.items()}}, indent=2) + "\n")
    console.print(table, soft_wrap=True)
    return results


# The comparison's columns (header, result key); pass@k columns go after accuracy.
COLUMNS = [("accuracy", "accuracy"), ("format", "format_rate"), ("language mixing", "language_mixing_rate"),
           ("mean length", "mean_length"), ("preference reward", "preference_reward"),
           ("general: right answer", "general_correct_rate")]


def columns(ks: list[int], rows) -> list[tuple[str, str]]:
    """The columns, pass@k for `ks` after accuracy, that any of `rows` (result dicts) has."""
    cols = COLUMNS[:1] + [(f"pass@{k}", f"pass@{k}") for k in ks] + COLUMNS[1:]
    return [(h, k) for h, k in cols if any(k in r for r in rows)]


def markdown(results: dict, ks: list[int]) -> str:
    cols = columns(ks, results.values())
    lines = ["| model | " + " | ".join(h for h, _ in cols) + " |", "|---|" + "---|" * len(cols)]
    for label, r in results.items():
        cells = []
        for _, k in cols:
            v = r.get(k)
            cells.append("" if v is None or (isinstance(v, float) and math.isnan(v)) else
                         f"{v:.1f}" if k == "mean_length" else f"{v:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def recheck(stage) -> dict:
    """A rejection-sampled dataset, checked again from its files: every kept completion through the task's
    verifier and the format check, independently of the filters that kept it."""
    folder = stage.output.parent
    summary = json.loads((folder / "summary.json").read_text())
    # split on "\n" only: a completion may hold U+2028 or NEL, which splitlines() would also break at
    records = [json.loads(line) for line in (folder / "samples.jsonl").read_text(encoding="utf-8").split("\n") if line.strip()]
    kept = [r for r in records if r["kept"]]
    task = tasks.build(stage.cfg.task)
    checkable = [r for r in kept if "answer" in r]
    verified = sum(bool(task.check(r["completion"], tasks.Example(r["prompt"], r["answer"], r.get("columns") or {})).correct)
                   for r in checkable)
    return {"samples": summary["samples"], "kept": summary["kept"], "acceptance_rate": summary["acceptance_rate"],
            "general_examples": summary["general_examples"], "dropped_by_reason": summary["dropped_by_reason"],
            "kept_verified_rate": verified / len(checkable) if checkable else None,
            "kept_format_rate": sum(is_r1_format(r["completion"]) for r in kept) / len(kept) if kept else None,
            "kept_language_mixing_rate": sum(evaluation.mixes_scripts(r["completion"]) for r in kept) / len(kept) if kept else None}


def data_markdown(data: dict) -> str:
    lines = ["| rejection-sampled data | samples | kept | acceptance | kept: verified | kept: format | kept: mixing | general examples |",
             "|---|---|---|---|---|---|---|---|"]
    fmt = lambda v: "" if v is None else f"{v:.3f}"
    for label, d in data.items():
        lines.append(f"| {label} | {d['samples']} | {d['kept']} | {d['acceptance_rate']:.3f} | {fmt(d['kept_verified_rate'])} | "
                     f"{fmt(d['kept_format_rate'])} | {fmt(d['kept_language_mixing_rate'])} | {d['general_examples']} |")
    return "\n".join(lines) + "\n"
