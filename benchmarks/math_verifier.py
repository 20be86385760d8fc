"""The math verifier against math-verify on labelled cases it did not write, plus its throughput.

Sets: tests/data/math_outside_cases.jsonl (pairs and verdicts published in another project's tests, each row
naming its source), tests/data/math_cases.jsonl (rlvr's own hand-labelled cases) and
tests/data/math_attack_cases.jsonl (the attack report's payloads, all wrong: only FP counts). For each, per source:
precision and recall of reward 1 against the labels, for rlvr's MathVerifier and for math-verify's
`parse`/`verify` with their defaults on the same (completion, gold) pairs; then every case either gets wrong.
Throughput: typical GSM8K-style cases (`#### N` against N; ../shared/data/gsm8k/test.jsonl when present, else
generated) through verify_batch with the default worker pool.

Run: `.venv/bin/python benchmarks/math_verifier.py` (math-verify is a dependency of rlvr).
Targets (issue 8): no false positive on outside cases, recall at least math-verify's, >= 500 typical cases/s.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from rlvr.verifiers import MathVerifier

ROOT = Path(__file__).resolve().parent.parent
SETS = {"outside": ROOT / "tests" / "data" / "math_outside_cases.jsonl", "own": ROOT / "tests" / "data" / "math_cases.jsonl",
        "attacks": ROOT / "tests" / "data" / "math_attack_cases.jsonl"}  # attack report payloads: all label 0
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def scores(labels: list[int], rewards: list[float]) -> dict:
    tp = sum(1 for l, r in zip(labels, rewards) if l == 1 and r == 1)
    fp = sum(1 for l, r in zip(labels, rewards) if l == 0 and r == 1)
    fn = sum(1 for l, r in zip(labels, rewards) if l == 1 and r != 1)
    return {"n": len(labels), "fp": fp, "fn": fn, "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}


def math_verify_rewards(cases: list[dict]) -> list[float]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    out = []
    for c in cases:
        gold = c["answer"]
        marked = any(m in gold for m in ("$", "\\(", "\\[", "\\boxed"))
        try:
            out.append(float(bool(verify(parse(gold if marked else f"${gold}$"), parse(c["completion"])))))
        except Exception:
            out.append(0.0)
    return out


def typical_cases(n: int) -> list[dict]:
    rng = random.Random(0)
    if GSM8K.exists():
        rows = [json.loads(l) for l in GSM8K.read_text().splitlines()]
        pairs = [(r["answer"], r["answer"].rsplit("####", 1)[1].strip()) for r in rows]  # solutions end with #### N
    else:
        print(f"note: {GSM8K} not found; using generated cases", file=sys.stderr)
        pairs = []
        for _ in range(n):
            a, b = rng.randint(1, 999), rng.randint(1, 999)
            pairs.append((f"We add {a} and {b} to get {a + b}.\n#### {a + b}", str(a + b)))
    return [{"completion": pairs[i % len(pairs)][0], "answer": pairs[i % len(pairs)][1]} for i in range(n)]


def main() -> int:
    verifier = MathVerifier()
    report = {}
    for name, path in SETS.items():
        cases = [{"label": 0, **json.loads(l)} for l in path.read_text().splitlines()]
        ours = [r.reward for r in verifier.verify_batch(cases)]
        theirs = math_verify_rewards(cases)
        by_source = defaultdict(list)
        for i, c in enumerate(cases):
            by_source[c.get("source", c.get("category", c.get("class", "?"))).split("::")[-1]].append(i)
        print(f"\n== {name}: {len(cases)} cases ({path.relative_to(ROOT)})")
        print(f"{'source':42s} {'n':>4s}  {'rlvr P':>7s} {'rlvr R':>7s} {'FP':>3s}  {'m-v P':>7s} {'m-v R':>7s} {'FP':>3s}")
        for src, idx in list(by_source.items()) + [("ALL", list(range(len(cases))))]:
            labels = [cases[i]["label"] for i in idx]
            a, b = scores(labels, [ours[i] for i in idx]), scores(labels, [theirs[i] for i in idx])
            print(f"{src[:42]:42s} {len(idx):4d}  {a['precision']:7.3f} {a['recall']:7.3f} {a['fp']:3d}  "
                  f"{b['precision']:7.3f} {b['recall']:7.3f} {b['fp']:3d}")
        labels = [c["label"] for c in cases]
        report[name] = {"rlvr": scores(labels, ours), "math_verify": scores(labels, theirs)}
        for who, rewards in (("rlvr", ours), ("math_verify", theirs)):
            wrong = [(c["completion"][-70:], c["answer"][-40:], c["label"]) for c, r in zip(cases, rewards) if (r == 1) != (c["label"] == 1)]
            print(f"{who} wrong on {len(wrong)}:")
            for w in wrong:
                print("   ", w)

    typical = typical_cases(2000)
    verifier.verify_batch(typical[:50])
    start = time.perf_counter()
    verifier.verify_batch(typical)
    rate = len(typical) / (time.perf_counter() - start)
    verifier.close()
    report["typical_cases_per_second"] = rate
    print(f"\nthroughput: {rate:.0f} typical cases per second")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
