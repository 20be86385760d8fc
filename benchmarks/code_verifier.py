"""Sandboxed executions per second for a trivial correct program, and the overhead against a bare subprocess.

Also reports how many HumanEval canonical solutions pass (every one must), when ../shared/data/humaneval is
present. Run: `.venv/bin/python benchmarks/code_verifier.py`. Target (issue 3): >= 20 sandboxed executions
per second on the 2-core machine.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

from rlvr.verifiers import CodeVerifier
from rlvr.verifiers.sandbox import Sandbox, sandbox_python

HUMANEVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
N = 100


def main() -> int:
    py = sandbox_python()
    sandbox = Sandbox()
    program = {"main.py": "print(sum(map(int, input().split())))"}
    start = time.perf_counter()
    for _ in range(N):
        subprocess.run([py, "-I", "-c", program["main.py"]], input=b"1 2\n", capture_output=True, check=True)
    bare = N / (time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(N):
        r = sandbox.run([py, "-I", "main.py"], files=program, stdin=b"1 2\n")
        assert r.stdout == b"3\n", r
    sandboxed = N / (time.perf_counter() - start)

    verifier = CodeVerifier()
    cases = [("def add(a, b):\n    return a + b", {"language": "python", "entry_point": "add",
                                                    "tests": [{"args": [1, 2], "expected": 3}]})] * N
    start = time.perf_counter()
    rewards = [r.reward for r in verifier.verify_batch(cases)]
    verified = N / (time.perf_counter() - start)
    assert all(r == 1.0 for r in rewards)

    print(f"sandbox: {'bubblewrap' if sandbox.isolated else 'rlimits only (no bubblewrap)'}")
    print(f"bare subprocess:            {bare:6.1f} runs/s")
    print(f"sandboxed run (one by one): {sandboxed:6.1f} runs/s  (overhead {1000 / sandboxed - 1000 / bare:.1f} ms per run)")
    print(f"verifier, call-based, 2 workers: {verified:6.1f} programs/s")
    report = {"isolated": sandbox.isolated, "bare_per_s": bare, "sandboxed_per_s": sandboxed, "verifier_per_s": verified}
    if HUMANEVAL.exists():
        rows = [json.loads(l) for l in gzip.open(HUMANEVAL, "rt")]
        start = time.perf_counter()
        res = verifier.verify_batch([(r["prompt"] + r["canonical_solution"],
                                      {"language": "python", "entry_point": r["entry_point"], "test_code": r["test"],
                                       "prelude": r["prompt"]}) for r in rows])
        seconds = time.perf_counter() - start
        passed = sum(x.reward == 1.0 for x in res)
        print(f"HumanEval canonical solutions: {passed}/{len(rows)} pass ({seconds:.1f} s)")
        report.update(humaneval_passed=passed, humaneval_total=len(rows))
    else:
        print(f"note: {HUMANEVAL} not found; HumanEval check skipped", file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
