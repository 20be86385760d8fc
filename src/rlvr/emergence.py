"""Emergence metrics: what R1-Zero's signature looks like in a batch of completions. Each metric is defined
here, once; the trainer logs them per step (metrics.jsonl) and the evaluation with an `eval/` prefix.

Inputs are plain lists, one entry per completion (a "row"): its text, its length in completion tokens, whether
it was truncated at the budget, and the task checker's verdict (1.0 / 0.0, NaN where there is nothing to verify;
NaN rows are left out of every correct/incorrect split and of solve rates). Training rows come in groups of
`group_size` consecutive completions of one prompt.

| key | definition |
|---|---|
| completion_length/{mean,min,max,median,p90} | over all rows, in tokens (p90: linear interpolation, numpy's default) |
| completion_length/{correct,incorrect}_mean | mean length of the rows the checker marks right / wrong (NaN: none) |
| completion_length/stopped_mean | mean length of rows that ended by themselves (not truncated; NaN: none) |
| truncated_fraction | the clip ratio: share of rows that hit the token budget |
| truncated_fraction/correct | the clip ratio of the rows the checker marks right (NaN: none): long right answers that were cut |
| completion_length/by_solve_rate/<b> | mean length of rows whose prompt's solve rate falls in bucket b: unsolved (0), hard (0, 0.5], easy (0.5, 1), solved (1) |
| completion_length/by_level/<L> | mean length of rows whose example has difficulty L (column `level`, else `difficulty`) |
| reflection/<family>/per_1k{,_correct,_incorrect} | occurrences of the family's words and phrases per 1,000 completion tokens (pooled: 1000 * matches / tokens), over all / correct / incorrect rows |
| behaviour/<name> | share of rows that show the behaviour, by the pattern table BEHAVIOURS below |
| language/off_script_share | mean over rows with letters of the share of the reasoning's letters outside the target script |
| diversity/distinct_{1,2} | per group: distinct word n-grams / all word n-grams of its completions; mean over groups |
| diversity/distinct_answers | per group: number of distinct final answers (no answer found is not an answer); mean over groups |
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from rlvr.answers import answer_key, extract_answer
from rlvr.rewards.shaping import reasoning_script_share

DEFAULT_LEXICON: dict[str, list[str]] = {
    # DeepSeek-R1's reflective words, as the oat-zero analysis counts them
    "r1_words": ["wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check"],
    "reexamination": ["recheck", "rethink", "re-evaluate", "try again", "double-check", "reconsider", "let me verify"],
}

# Behaviour proxies (after SimpleRL-Zoo and Gandhi et al. 2025), matched case-insensitively (`^`: a line start); a row shows a
# behaviour when any of its patterns matches. Deliberately narrow: a bare "then" or "check" is too common to
# mean anything, so words must come in the phrasing that signals the behaviour.
BEHAVIOURS: dict[str, list[str]] = {
    # checking a result: re-deriving it, substituting it back, or saying so
    "verification": [r"\blet(?:'s| me| us) (?:double-)?(?:check|verify|confirm)\b", r"\bverif(?:y|ying|ied|ication)\b",
                     r"\bchecking\s*:", r"\bcheck\s*:", r"\bsubstitut\w* (?:it |this |that |them )?back\b",
                     r"\bplug\w* (?:it |this |that |them )?(?:back )?in(?:to)?\b", r"\bdouble-check\w*\b",
                     r"\bsanity check\b"],
    # abandoning a line of reasoning for another
    "backtracking": [r"\bwait\b", r"\bthat(?:'s| is| was) (?:wrong|incorrect|not right)\b", r"\blet me try again\b",
                     r"\bactually,", r"\bi made (?:a|an) (?:mistake|error)\b", r"\bscratch that\b",
                     r"\blet me (?:reconsider|rethink|start over|redo)\b", r"\bthis (?:doesn't|does not) work\b"],
    # splitting the problem into intermediate goals
    "subgoal_setting": [r"\bfirst,", r"\bstep \d+\b", r"\bnext,", r"\bfirst\b[^.\n]{0,200}\bthen\b", r"\bfinally,",
                        r"\bwe need to (?:find|compute|calculate|determine|get)\b", r"\blet(?:'s| me| us) start by\b"],
    # going through cases or candidate values one by one
    "enumeration": [r"\bcase \d+\b", r"\boption (?:\d+|[a-e])\b", r"\btry(?:ing)? (?:[a-z]\s*=\s*)?-?\d",
                    r"\bpossible (?:\w+ )?(?:values|cases|options|combinations|answers)\b", r"\bpossibilities\b",
                    r"(?:^[ \t]*(?:\d+[.)]|[-*])[ \t][^=\n]*=[^\n]*(?:\n|\Z)){2,}"],  # 2+ list items, each with a value
}
_BEHAVIOUR_RE = {name: re.compile("|".join(f"(?:{p})" for p in pats),
                                                                         re.IGNORECASE | re.MULTILINE) for name, pats in BEHAVIOURS.items()}

SOLVE_RATE_BUCKETS = ("unsolved", "hard", "easy", "solved")


def nan_mean(values) -> float:
    """The mean of the values; NaN for none."""
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def _known(correct: Sequence[float], i: int) -> bool:
    return not math.isnan(correct[i])


# --------------------------------------------------------------------------------------------- length


def solve_rate_bucket(rate: float) -> str | None:
    """unsolved: 0; hard: (0, 0.5]; easy: (0.5, 1); solved: 1; None for NaN (nothing to verify)."""
    if math.isnan(rate):
        return None
    return "unsolved" if rate == 0 else "hard" if rate <= 0.5 else "solved" if rate == 1 else "easy"


def group_solve_rates(correct: Sequence[float], group_size: int) -> list[float]:
    """Per row [B]: the share of its group's verifiable rows that are correct (NaN if the group has none)."""
    if group_size < 1 or len(correct) % group_size:
        raise ValueError(f"{len(correct)} rows do not split into groups of {group_size}")
    out = []
    for g in range(0, len(correct), group_size):
        rate = nan_mean(c for c in correct[g : g + group_size] if not math.isnan(c))
        out += [rate] * group_size
    return out


def length_metrics(lengths: Sequence[int], truncated: Sequence[bool], correct: Sequence[float], *,
                   solve_rates: Sequence[float] | None = None, levels: Sequence | None = None) -> dict:
    """`completion_length/*` and `truncated_fraction` (module docstring). Every bucket of the solve rate is
    always logged (NaN when empty), so its series has no holes in its keys; levels only as they occur."""
    B = len(lengths)
    if not B:
        return {}
    arr = np.asarray(lengths, dtype=np.float64)
    out = {
        "completion_length/mean": float(arr.mean()), "completion_length/min": float(arr.min()),
        "completion_length/max": float(arr.max()), "completion_length/median": float(np.median(arr)),
        "completion_length/p90": float(np.percentile(arr, 90)),
        "completion_length/correct_mean": nan_mean(lengths[i] for i in range(B) if _known(correct, i) and correct[i] == 1),
        "completion_length/incorrect_mean": nan_mean(lengths[i] for i in range(B) if _known(correct, i) and correct[i] == 0),
        "completion_length/stopped_mean": nan_mean(lengths[i] for i in range(B) if not truncated[i]),
        "truncated_fraction": sum(map(bool, truncated)) / B,
        "truncated_fraction/correct": nan_mean(float(bool(truncated[i])) for i in range(B)
                                               if _known(correct, i) and correct[i] == 1),
    }
    if solve_rates is not None:
        buckets = [solve_rate_bucket(r) for r in solve_rates]
        for b in SOLVE_RATE_BUCKETS:
            out[f"completion_length/by_solve_rate/{b}"] = nan_mean(lengths[i] for i in range(B) if buckets[i] == b)
    if levels is not None:
        for level in sorted({lv for lv in levels if lv is not None}, key=str):
            out[f"completion_length/by_level/{level}"] = nan_mean(lengths[i] for i in range(B) if levels[i] == level)
    return out


def level_of(columns: dict):
    """An example's difficulty: its `level` column, else `difficulty`, else None."""
    level = columns.get("level", columns.get("difficulty"))
    return level if isinstance(level, (int, str)) and not isinstance(level, bool) else None


# --------------------------------------------------------------------------------------------- reflection


def _term_pattern(term: str) -> str:
    # a term matches as a whole word or phrase: not inside a longer word, nor inside a hyphenated compound
    # ("check" does not count inside "double-check", which is its own term); blanks inside a phrase match any run
    # of blanks
    body = r"\s+".join(re.escape(w) for w in term.split())
    return rf"(?<![\w-]){body}(?![\w-])"


def compile_lexicon(lexicon: dict[str, list[str]]) -> dict[str, re.Pattern]:
    """One case-insensitive alternation per family, longest terms first, so an occurrence counts once."""
    out = {}
    for family, terms in lexicon.items():
        terms = sorted({t.strip() for t in terms if t.strip()}, key=len, reverse=True)
        if not terms:
            raise ValueError(f"log.reflection_lexicon: family {family!r} has no terms")
        out[family] = re.compile("|".join(_term_pattern(t) for t in terms), re.IGNORECASE)
    return out


def reflection_counts(text: str, patterns: dict[str, re.Pattern]) -> dict[str, int]:
    """Occurrences of each family's terms in one text."""
    return {family: sum(1 for _ in p.finditer(text)) for family, p in patterns.items()}


def reflection_metrics(texts: Sequence[str], lengths: Sequence[int], correct: Sequence[float],
                       lexicon: dict[str, list[str]]) -> dict:
    """`reflection/<family>/per_1k`, `..._correct`, `..._incorrect`: 1000 * matches / completion tokens, pooled
    over the rows of each split (NaN when a split has no tokens)."""
    patterns = compile_lexicon(lexicon)
    counts = [reflection_counts(t, patterns) for t in texts]
    splits = {"": range(len(texts)),
              "_correct": [i for i in range(len(texts)) if _known(correct, i) and correct[i] == 1],
              "_incorrect": [i for i in range(len(texts)) if _known(correct, i) and correct[i] == 0]}
    out = {}
    for family in patterns:
        for suffix, rows in splits.items():
            tokens = sum(lengths[i] for i in rows)
            out[f"reflection/{family}/per_1k{suffix}"] = (
                1000 * sum(counts[i][family] for i in rows) / tokens if tokens else math.nan)
    return out


# --------------------------------------------------------------------------------------------- behaviours, language


def behaviours(text: str) -> dict[str, bool]:
    """Which behaviours of the BEHAVIOURS table the text shows."""
    return {name: p.search(text) is not None for name, p in _BEHAVIOUR_RE.items()}


def behaviour_metrics(texts: Sequence[str]) -> dict:
    """`behaviour/<name>`: share of the rows showing it (NaN for no rows)."""
    shown = [behaviours(t) for t in texts]
    return {f"behaviour/{name}": nan_mean(s[name] for s in shown) for name in BEHAVIOURS}


def off_script_share(texts: Sequence[str], script: str = "latin") -> float:
    """`language/off_script_share`: mean, over rows whose reasoning (the <think> block, else the text) has
    letters, of the share of those letters outside `script` (NaN when no row has letters)."""
    shares = [reasoning_script_share(t, script) for t in texts]
    return nan_mean(1 - s for s in shares if s is not None)


# --------------------------------------------------------------------------------------------- diversity


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over the texts (words: whitespace-separated, lower-cased);
    NaN when the texts have no n-gram."""
    grams = [tuple(words[i : i + n]) for t in texts for words in [t.lower().split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


def distinct_answers(answers: Sequence[str | None]) -> int:
    """Number of distinct final answers (numbers by value, text normalised); None (no answer) is not one."""
    keys = set()
    for a in answers:
        if a is None:
            continue
        try:
            keys.add(answer_key(a))
        except Exception:  # a metric never fails a step because of a sample's content
            keys.add(a.strip())
    return len(keys)


def final_answer(text: str) -> str | None:
    """The completion's final answer as the answer helpers read it (boxed, <answer> tag, "the answer is", last
    number); None if none, or if reading it fails."""
    try:
        return extract_answer(text)
    except Exception:
        return None


def diversity_metrics(groups: Sequence[Sequence[str]], answers: Sequence[Sequence[str | None]]) -> dict:
    """`diversity/distinct_{1,2}` and `diversity/distinct_answers`: per group, then the mean over groups
    (groups without any n-gram are left out of distinct-n)."""
    return {
        "diversity/distinct_1": nan_mean(d for g in groups if not math.isnan(d := distinct_n(g, 1))),
        "diversity/distinct_2": nan_mean(d for g in groups if not math.isnan(d := distinct_n(g, 2))),
        "diversity/distinct_answers": nan_mean(distinct_answers(a) for a in answers),
    }


# --------------------------------------------------------------------------------------------- a training batch


def batch_metrics(texts: Sequence[str], lengths: Sequence[int], truncated: Sequence[bool], correct: Sequence[float],
                  *, group_size: int, lexicon: dict[str, list[str]], script: str = "latin",
                  levels: Sequence | None = None, answers: Sequence[str | None] | None = None) -> dict:
    """Every metric of the module docstring for one step's rollouts ([B] rows, groups of `group_size`
    consecutive rows). `answers`: each row's extracted final answer (default: `final_answer` of its text)."""
    answers = [final_answer(t) for t in texts] if answers is None else answers
    G = range(0, len(texts), group_size)
    out = length_metrics(lengths, truncated, correct, solve_rates=group_solve_rates(correct, group_size),
                         levels=levels if levels is not None and any(lv is not None for lv in levels) else None)
    out.update(reflection_metrics(texts, lengths, correct, lexicon))
    out.update(behaviour_metrics(texts))
    out["language/off_script_share"] = off_script_share(texts, script)
    out.update(diversity_metrics([texts[g : g + group_size] for g in G], [answers[g : g + group_size] for g in G]))
    return out
