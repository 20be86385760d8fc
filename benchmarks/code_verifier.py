"""Sandboxed executions per second for a trivial correct program, and the overhead against a bare subprocess.

Also, when ../shared/data/humaneval is present: how many HumanEval canonical solutions pass (every one
must), and whether the verifier's verdict on wrong-typed or approximate versions of them (the canonical
return value as a float, nudged by 1e-12, a list as a tuple, a bool as an int), on versions that change
their list arguments after the call, and on versions that return an equal list argument itself, is plain
Python's verdict on the same check (every one must be). Run: `.venv/bin/python benchmarks/code_verifier.py`. Target (issue
3): >= 20 sandboxed executions per second on the 2-core machine.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rlvr.verifiers import CodeVerifier
from rlvr.verifiers.sandbox import Sandbox, sandbox_python

HUMANEVAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "humaneval" / "HumanEval.jsonl.gz"
N = 100

# The canonical solution with its return value changed on the way out: `{entry}` wraps the original.
PERTURB = {
    "float": "float(r) if type(r) is int else r",
    "nudged": "r + 1e-12 * (abs(r) + 1) if type(r) in (int, float) else r",
    "tuple": "tuple(r) if type(r) is list else r",
    "bool-as-int": "int(r) if type(r) is bool else r",
    # effects on the arguments and identity (the in-sandbox checker mirrors them): the list arguments grow
    # after the call; a result equal to a list argument is that argument
    "mutates-args": "(r, [x.append(0) for x in a if type(x) is list])[0]",
    "returns-arg": "next((x for x in a if type(x) is list and x == r), r)",
}
WRAP = "\n_original = {entry}\ndef {entry}(*a, **k):\n    r = _original(*a, **k)\n    return {change}\n"


def plain_python_passes(program: str, test: str, entry: str) -> bool:
    """The check under plain Python, outside any sandbox (HumanEval's own, trusted, code)."""
    code = f"{program}\n{test}\ncheck({entry})\n"
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def humaneval(verifier: CodeVerifier, rows: list[dict]) -> dict:
    spec = lambda r: {"language": "python", "entry_point": r["entry_point"], "test_code": r["test"], "prelude": r["prompt"]}
    start = time.perf_counter()
    res = verifier.verify_batch([{"completion": r["prompt"] + r["canonical_solution"], "tests": spec(r)} for r in rows])
    seconds = time.perf_counter() - start
    passed = sum(x.reward == 1.0 for x in res)
    converted = sum(x.mode == "assert-converted" for x in res)
    print(f"HumanEval canonical solutions: {passed}/{len(rows)} pass ({seconds:.1f} s; {converted} checks converted, "
          f"{len(rows) - converted} run in the sandbox)")
    cases = [(r, kind, r["prompt"] + r["canonical_solution"] + WRAP.format(entry=r["entry_point"], change=change))
             for kind, change in PERTURB.items() for r in rows]
    with ThreadPoolExecutor(2) as pool:
        python = list(pool.map(lambda c: plain_python_passes(c[2], c[0]["test"], c[0]["entry_point"]), cases))
    ours = [x.reward == 1.0 for x in verifier.verify_batch([{"completion": program, "tests": spec(r)} for r, _, program in cases])]
    disagree = [(r["task_id"], kind, p) for (r, kind, _), p, o in zip(cases, python, ours) if p != o]
    print(f"wrong-typed/approximate/mutating variants: verdict = plain Python's on {len(cases) - len(disagree)}/{len(cases)} "
          f"(plain Python passes {sum(python)})")
    for task, kind, p in disagree:
        print(f"  disagree: {task} {kind}: plain Python {'passes' if p else 'fails'}")
    return {"humaneval_passed": passed, "humaneval_total": len(rows), "humaneval_converted": converted,
            "variants": len(cases), "variants_agreeing": len(cases) - len(disagree)}


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
    cases = [{"completion": "def add(a, b):\n    return a + b", "tests": {"language": "python", "entry_point": "add",
                                                    "tests": [{"args": [1, 2], "expected": 3}]}}] * N
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
        report.update(humaneval(verifier, [json.loads(l) for l in gzip.open(HUMANEVAL, "rt")]))
    else:
        print(f"note: {HUMANEVAL} not found; HumanEval check skipped", file=sys.stderr)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
