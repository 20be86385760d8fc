"""Held-out evaluation: greedy accuracy, format compliance, language mixing, pass@k (unbiased estimator) and
maj@k (majority vote of k samples)."""

from __future__ import annotations

import time
from collections import Counter

from rlvr import prompts as prompt_formats
from rlvr.algos import pass_at_k
from rlvr.progress import Bar
from rlvr.rewards.format import is_r1_format
from rlvr.rewards.shaping import reasoning_script_share
from rlvr.rollout import Engine, Sampling
from rlvr.tasks import Check, Task


def mixes_scripts(text: str, script: str = "latin") -> bool:
    """True if any letter of the reasoning (the <think> block, else the whole text) is outside `script`."""
    share = reasoning_script_share(text, script)
    return share is not None and share < 1.0


def majority_correct(checks: list[Check]) -> bool:
    """The most common extracted answer (ties: the one seen first) decides; no answer counts as wrong."""
    answers = [c.extracted for c in checks if c.extracted is not None]
    if not answers:
        return False
    winner = Counter(answers).most_common(1)[0][0]
    return next(c.correct for c in checks if c.extracted == winner)


def evaluate(generator: Engine, tokenizer, task: Task, *, eval_cfg, prompt_cfg, max_new_tokens: int, seed: int,
             console=None) -> dict:
    """Held-out metrics; `console`: where to show progress (None: silent)."""
    start = time.perf_counter()
    examples = task.held_out(eval_cfg.problems)
    texts = [
        prompt_formats.render(ex.question, template=prompt_cfg.template, tokenizer=tokenizer, system_prompt=prompt_cfg.system_prompt)
        for ex in examples
    ]
    budget = eval_cfg.max_new_tokens or max_new_tokens
    greedy = Sampling(max_new_tokens=budget, temperature=0.0)
    n, s = len(examples), eval_cfg.samples
    correct, lengths, truncated, completions = [], [], [], []
    checks: list[list[Check]] = []
    with Bar(console, "eval", n * (2 if s else 1), every_s=10.0) as bar:  # greedy pass, then the sampled one
        for i in range(0, n, eval_cfg.batch_size):
            gen = generator.generate(texts[i : i + eval_cfg.batch_size], n=1, sampling=greedy, seed=seed)
            correct += [task.check(t, ex).correct for t, ex in zip(gen.texts, examples[i : i + eval_cfg.batch_size])]
            lengths += gen.lengths.tolist()
            truncated += gen.truncated.tolist()
            completions += gen.texts
            bar.update(len(completions), "greedy")
        if s:
            sampling = Sampling(max_new_tokens=budget, temperature=eval_cfg.temperature)
            per_batch = max(1, eval_cfg.batch_size // s)
            for i in range(0, n, per_batch):
                gen = generator.generate(texts[i : i + per_batch], n=s, sampling=sampling, seed=seed + 1 + i)
                for j, ex in enumerate(examples[i : i + per_batch]):
                    checks.append([task.check(t, ex) for t in gen.texts[j * s : (j + 1) * s]])
                bar.update(n + len(checks), f"{s} samples each")
    verifiable = [c for c in correct if c is not None]  # general prompts have nothing to check
    result = {
        "problems": n,
        "accuracy": sum(verifiable) / len(verifiable) if verifiable else float("nan"),
        "mean_length": sum(lengths) / n,
        "truncated_fraction": sum(truncated) / n,
        "format_rate": sum(map(is_r1_format, completions)) / n,  # <think>…</think><answer>…</answer>, each once
        "language_mixing_rate": sum(map(mixes_scripts, completions)) / n,
    }
    if s:
        checks = [cs for cs in checks if cs[0].correct is not None]
        m = max(len(checks), 1)
        for k in eval_cfg.k:
            result[f"pass@{k}"] = sum(pass_at_k(s, sum(c.correct for c in cs), k) for cs in checks) / m
            result[f"maj@{k}"] = sum(majority_correct(cs[:k]) for cs in checks) / m
    result["seconds"] = time.perf_counter() - start
    return result
