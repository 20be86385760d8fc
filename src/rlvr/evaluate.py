"""Held-out evaluation: greedy accuracy, format compliance, language mixing, the emergence metrics of the greedy
completions (rlvr.emergence), pass@k (unbiased estimator) for k = 1, 2, 4, ... up to the samples per problem, and
maj@k (majority vote of k samples). Also the trainer's probes: greedy completions of fixed held-out prompts."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

from rlvr import emergence, prompts as prompt_formats
from rlvr.algos import pass_at_k
from rlvr.progress import Bar
from rlvr.rewards.format import is_r1_format
from rlvr.rewards.shaping import reasoning_script_share
from rlvr.rollout import Engine, Sampling
from rlvr.tasks import Check, Example, Task

SAMPLE_PROBLEMS = 8  # held-out problems whose greedy completions an evaluation returns (eval_samples.jsonl)


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


@dataclass
class Evaluation:
    metrics: dict
    samples: list[dict] = field(default_factory=list)  # the first problems' greedy completions


def evaluate(generator: Engine, tokenizer, task: Task, *, eval_cfg, prompt_cfg, max_new_tokens: int, seed: int,
             console=None, lexicon: dict[str, list[str]] | None = None, script: str = "latin") -> dict:
    """Held-out metrics; `console`: where to show progress (None: silent); `lexicon`, `script`: the reflection
    families and target script of the emergence metrics (default: rlvr.emergence's)."""
    return run(generator, tokenizer, task, eval_cfg=eval_cfg, prompt_cfg=prompt_cfg, max_new_tokens=max_new_tokens,
               seed=seed, console=console, lexicon=lexicon, script=script).metrics


def pass_ks(samples: int, extra: list[int] = ()) -> list[int]:
    """k = 1, 2, 4, ... <= samples, samples itself, and the configured k's that fit."""
    ks = {samples, *(k for k in extra if 1 <= k <= samples)}
    k = 1
    while k <= samples:
        ks.add(k)
        k *= 2
    return sorted(ks)


def render(examples: list[Example], tokenizer, prompt_cfg) -> list[str]:
    return [prompt_formats.render(ex.question, template=prompt_cfg.template, tokenizer=tokenizer,
                                  system_prompt=prompt_cfg.system_prompt) for ex in examples]


def run(generator: Engine, tokenizer, task: Task, *, eval_cfg, prompt_cfg, max_new_tokens: int, seed: int,
        console=None, lexicon: dict[str, list[str]] | None = None, script: str = "latin") -> Evaluation:
    """`evaluate`, with the first SAMPLE_PROBLEMS problems' greedy completions."""
    start = time.perf_counter()
    examples = task.held_out(eval_cfg.problems)
    texts = render(examples, tokenizer, prompt_cfg)
    budget = eval_cfg.max_new_tokens or max_new_tokens
    greedy = Sampling(max_new_tokens=budget, temperature=0.0)
    n, s = len(examples), eval_cfg.samples
    correct, lengths, truncated, completions = [], [], [], []
    checks: list[list[Check]] = []
    sampled: list[list[str]] = []  # [n][s] the sampled completions, per problem
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
                    sampled.append(gen.texts[j * s : (j + 1) * s])
                bar.update(n + len(checks), f"{s} samples each")
    verifiable = [c for c in correct if c is not None]  # general prompts have nothing to check
    result = {
        "problems": n,
        "accuracy": sum(verifiable) / len(verifiable) if verifiable else float("nan"),
        "mean_length": sum(lengths) / n,
        "format_rate": sum(map(is_r1_format, completions)) / n,  # <think>…</think><answer>…</answer>, each once
        "language_mixing_rate": sum(map(mixes_scripts, completions)) / n,
    }
    verdicts = [math.nan if c is None else float(c) for c in correct]
    # the problem's solve rate: its pass rate over the samples, else whether the greedy completion is right
    rates = [emergence.nan_mean(float(c.correct) for c in cs if c.correct is not None) for cs in checks] if s else verdicts
    result.update(emergence.length_metrics(lengths, truncated, verdicts, solve_rates=rates,
                                           levels=[emergence.level_of(ex.columns) for ex in examples]))
    result.update(emergence.reflection_metrics(completions, lengths, verdicts, lexicon or emergence.DEFAULT_LEXICON))
    result.update(emergence.behaviour_metrics(completions))
    result["language/off_script_share"] = emergence.off_script_share(completions, script)
    if s:  # a problem's samples are its group
        result.update(emergence.diversity_metrics(sampled, [[c.extracted for c in cs] for cs in checks]))
        checks = [cs for cs in checks if cs[0].correct is not None]
        m = max(len(checks), 1)
        for k in pass_ks(s, eval_cfg.k):
            result[f"pass@{k}"] = sum(pass_at_k(s, sum(c.correct for c in cs), k) for cs in checks) / m
        for k in eval_cfg.k:
            result[f"maj@{k}"] = sum(majority_correct(cs[:k]) for cs in checks) / m
        result["samples_per_problem"] = s
        result["correct_counts"] = [sum(c.correct for c in cs) for cs in checks]  # for pass@k at any k <= s
    result["max_new_tokens"] = budget  # a budget changed on resume is a confound for the held-out lengths
    result["seconds"] = time.perf_counter() - start
    records = [{"prompt": ex.question, "answer": ex.answer, "completion": t, "correct": c, "length": length}
               for ex, t, c, length in list(zip(examples, completions, correct, lengths))[:SAMPLE_PROBLEMS]]
    return Evaluation(result, records)


def probe(generator: Engine, tokenizer, task: Task, *, prompts: int, prompt_cfg, max_new_tokens: int, seed: int) -> list[dict]:
    """Greedy completions of the first `prompts` held-out prompts, in one batch (probes.jsonl records, no step):
    the same prompts at every probe, so a change in the series can be read in the completions."""
    examples = task.held_out(prompts)[:prompts] if prompts else []
    if not examples:
        return []
    gen = generator.generate(render(examples, tokenizer, prompt_cfg), n=1,
                             sampling=Sampling(max_new_tokens=max_new_tokens, temperature=0.0), seed=seed)
    return [{"prompt": ex.question, "answer": ex.answer, "completion": t, "correct": task.check(t, ex).correct,
             "length": int(length), "truncated": bool(tr)}
            for ex, t, length, tr in zip(examples, gen.texts, gen.lengths.tolist(), gen.truncated.tolist())]
