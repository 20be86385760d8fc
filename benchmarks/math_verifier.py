"""The math verifier on the labelled cases in tests/data/math_cases.jsonl, side by side with math-verify.

Reports, for rlvr's MathVerifier and for math-verify's `parse`/`verify` on the same (completion, gold)
pairs: correct verdicts, precision and recall of reward 1 against the labels, the cases each gets wrong,
and rlvr's throughput on typical cases (GSM8K-style numeric answers; from ../shared/data/gsm8k when present,
else generated) with its default worker pool.

Run: `.venv/bin/python benchmarks/math_verifier.py` (needs `pip install math-verify`).
Targets (issue 3): precision >= 0.99, recall >= 0.97, strictly more correct verdicts than math-verify,
>= 500 typical cases per second on the 2-core machine.
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from rlvr.verifiers import MathVerifier

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "tests" / "data" / "math_cases.jsonl"
GSM8K = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"


def scores(labels: list[int], rewards: list[float]) -> dict:
    tp = sum(1 for l, r in zip(labels, rewards) if l == 1 and r == 1)
    fp = sum(1 for l, r in zip(labels, rewards) if l == 0 and r == 1)
    fn = sum(1 for l, r in zip(labels, rewards) if l == 1 and r != 1)
    correct = sum(1 for l, r in zip(labels, rewards) if (r == 1) == (l == 1))
    return {"correct": correct, "of": len(labels), "precision": tp / max(tp + fp, 1), "recall": tp / max(tp + fn, 1)}


def math_verify_rewards(cases: list[dict]) -> list[float]:
    from math_verify import parse, verify

    out = []
    for c in cases:
        try:
            gold = parse(c["answer"] if "$" in c["answer"] else f"${c['answer']}$")
            pred = parse(c["completion"])
            out.append(float(bool(verify(gold, pred))))
        except Exception:
            out.append(0.0)
    return out


def typical_cases(n: int) -> list[tuple[str, str]]:
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
    return [pairs[i % len(pairs)] for i in range(n)]


def main() -> int:
    cases = [json.loads(l) for l in CASES.read_text().splitlines()]
    labels = [c["label"] for c in cases]
    verifier = MathVerifier()
    ours = [r.reward for r in verifier.verify_batch([(c["completion"], c["answer"]) for c in cases])]
    try:
        theirs = math_verify_rewards(cases)
    except ImportError:
        print("math-verify is not installed: pip install math-verify", file=sys.stderr)
        theirs = None
    report = {"cases": len(cases), "rlvr": scores(labels, ours)}
    if theirs is not None:
        report["math_verify"] = scores(labels, theirs)
    print(f"{len(cases)} labelled cases")
    for name in ("rlvr", "math_verify"):
        if name in report:
            s = report[name]
            print(f"{name:12s} correct {s['correct']}/{s['of']}  precision {s['precision']:.3f}  recall {s['recall']:.3f}")
    for name, rewards in (("rlvr", ours), ("math_verify", theirs)):
        if rewards is None:
            continue
        wrong = [(c["category"], c["completion"][-60:], c["answer"], c["label"]) for c, r in zip(cases, rewards) if (r == 1) != (c["label"] == 1)]
        print(f"{name} wrong on {len(wrong)}:")
        for w in wrong:
            print("   ", w)

    typical = typical_cases(2000)
    verifier.verify_batch(typical[:50])
    start = time.perf_counter()
    verifier.verify_batch(typical)
    rate = len(typical) / (time.perf_counter() - start)
    verifier.close()
    report["typical_cases_per_second"] = rate
    print(f"throughput: {rate:.0f} typical cases per second")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
