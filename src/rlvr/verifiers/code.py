"""Code verifier: run the completion's program against unit tests in the sandbox; reward = fraction passed.

Threat model: the program is hostile (see sandbox.py for what the process can do). Beyond the sandbox:
  - expected outputs never enter the sandbox. stdin/stdout tests compare the program's output outside;
    call-based tests send only the arguments in, and a harness reports the return values, which are
    compared outside. A program that exits early (`sys.exit(0)`, `os._exit(0)`, `SystemExit`, atexit
    hooks), patches builtins or prints forged result lines cannot know the expected values, and a missing
    or duplicated result fails its test;
  - return values must be plain data (int, float, str, bool, None, lists, tuples, sets, dicts, by exact
    type) and are rebuilt outside as genuine built-ins (inside/wire.py), so an object whose `__eq__` is
    always true never reaches the comparison;
  - assert-style tests (HumanEval's `check(candidate)`) whose statements are all
    `assert candidate(<literals>) == <literal>` are converted to call-based tests outside the sandbox.
    Any other check runs inside the sandbox, but never in the candidate's process: inside/checker.py
    (non-dumpable, holding the tests only in memory) calls the candidate in a second process over pipes
    and rebuilds each reply as genuine built-in data (inside/wire.py). The check's helpers come from the
    spec's trusted `prelude`, not from the completion. Mode `assert-in-sandbox` in the result;
Python only for now; `language` selects the runner so others can be added.
"""

from __future__ import annotations

import ast
import json
import math
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlvr.rewards.math_answer import check_completion, completion_text
from rlvr.verifiers.inside.wire import from_wire
from rlvr.verifiers.sandbox import Limits, Sandbox, install_prefixes, sandbox_python

_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)```", re.DOTALL)
MARK = "@@rlvr-result@@ "  # as in inside/call.py

# Scripts copied into the sandbox (stdlib only): call-based tests, and assert-style checks run in a checker
# process against the candidate in another.
INSIDE = Path(__file__).resolve().parent / "inside"
CALL_FILES = {name: (INSIDE / name).read_text() for name in ("wire.py", "call.py")}
CHECK_FILES = {name: (INSIDE / name).read_text() for name in ("wire.py", "checker.py", "candidate.py")}
CHECK_MARK = "@@rlvr-check@@ "  # as in inside/checker.py


@dataclass
class CodeResult:
    reward: float
    passed: int
    total: int
    mode: str  # stdio, call, assert-converted, assert-in-sandbox
    isolated: bool  # bubblewrap ran (False: rlimits-only fallback)
    seconds: float
    tests: list = field(default_factory=list)  # per test: {"ok": bool, "error": ...}
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def extract_program(text: str) -> str:
    """The last fenced code block, or the whole text when there is none."""
    blocks = _FENCE.findall(text)
    return blocks[-1][1] if blocks else text


def normalize_output(s: str) -> str:
    lines = [line.rstrip() for line in s.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def same_value(got, expected) -> bool:
    """JSON specs cannot say tuple, so a tuple and a list with equal items are the same value here."""
    if isinstance(got, tuple):
        got = list(got)
    if isinstance(expected, tuple):
        expected = list(expected)
    if type(got) is bool or type(expected) is bool:
        return type(got) is type(expected) and got == expected
    if isinstance(got, (int, float)) and isinstance(expected, (int, float)):
        if isinstance(got, float) or isinstance(expected, float):
            return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
        return got == expected
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(same_value(g, e) for g, e in zip(got, expected))
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(same_value(got[k], expected[k]) for k in got)
    return type(got) is type(expected) and got == expected


def convert_asserts(test_code: str, entry_point: str) -> list[dict] | None:
    """`def check(candidate): assert candidate(1, 2) == 3 ...` -> [{"args": [1, 2], "expected": 3}, ...];
    None unless every statement of check is such an assert with literal arguments and result."""
    try:
        tree = ast.parse(test_code)
    except SyntaxError:
        return None
    check = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check"), None)
    if check is None or not check.args.args:
        return None
    name = check.args.args[0].arg
    tests = []
    for stmt in check.body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            continue  # a docstring
        if not (isinstance(stmt, ast.Assert) and isinstance(stmt.test, ast.Compare) and len(stmt.test.ops) == 1
                and isinstance(stmt.test.ops[0], ast.Eq)):
            return None
        call, expected = stmt.test.left, stmt.test.comparators[0]
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name and not call.keywords):
            return None
        try:
            args = [ast.literal_eval(a) for a in call.args]
            value = ast.literal_eval(expected)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            return None
        if not all(_jsonable(a) for a in args) or not _jsonable(value):
            return None
        tests.append({"args": args, "expected": value})
    return tests or None


def check_tests(tests) -> None:
    """ValueError naming what is wrong with a test spec (one of the three formats in the module docstring)."""
    def fail(why: str):
        raise ValueError(f"tests: {why}")

    if not isinstance(tests, dict):
        fail(f"expected a JSON object, got {type(tests).__name__}")
    for key in ("language", "entry_point", "test_code", "prelude"):
        if key in tests and not isinstance(tests[key], str):
            fail(f"{key!r} must be a string")
    if "test_code" in tests:
        if "entry_point" not in tests:
            fail("'test_code' needs 'entry_point', the function that check(candidate) receives")
        return
    cases = tests.get("tests")
    if not isinstance(cases, list) or not cases:
        fail("expected 'test_code', or a non-empty list 'tests'")
    need = {"args": list} if "entry_point" in tests else {"input": str, "output": str}
    for i, case in enumerate(cases):
        if not isinstance(case, dict):
            fail(f"tests[{i}] must be an object")
        for key, kind in need.items():
            if not isinstance(case.get(key), kind):
                fail(f"tests[{i}] needs {key!r} ({'a list' if kind is list else 'a string'})")
        if "entry_point" in tests and "expected" not in case:
            fail(f"tests[{i}] needs 'expected'")


def check_case(completion, tests) -> None:
    """ValueError naming what is wrong with one (completion, tests) pair."""
    check_completion(completion)
    check_tests(tests)


def _jsonable(x) -> bool:
    try:
        return json.loads(json.dumps(x)) is not None or x is None
    except (TypeError, ValueError):
        return False


class CodeVerifier:
    """Usable as a reward (`fn(prompts, completions, tests, **_)`) and directly (`verify`)."""

    __name__ = "code_verifier"

    def __init__(self, *, limits: Limits = Limits(), all_or_nothing: bool = False, workers: int = 2,
                 use_bwrap: bool | None = None):
        self.python = sandbox_python()
        self.sandbox = Sandbox(limits, use_bwrap=use_bwrap, ro_paths=install_prefixes(self.python))
        self.all_or_nothing, self.workers = all_or_nothing, workers

    def verify(self, completion, tests: dict) -> CodeResult:
        check_case(completion, tests)
        start = time.perf_counter()
        program = extract_program(completion_text(completion) or "")
        language = tests.get("language", "python")
        if language != "python":
            return CodeResult(0.0, 0, 0, "none", self.sandbox.isolated, 0.0, reason=f"unsupported language {language!r}")
        if "test_code" in tests:
            converted = convert_asserts(tests["test_code"], tests["entry_point"])
            if converted is not None:
                outcomes, mode = self._call(program, tests["entry_point"], converted), "assert-converted"
            else:
                outcomes, mode = self._check_in_sandbox(program, tests), "assert-in-sandbox"
        elif "entry_point" in tests:
            outcomes, mode = self._call(program, tests["entry_point"], tests["tests"]), "call"
        else:
            outcomes, mode = self._stdio(program, tests["tests"]), "stdio"
        passed, total = sum(o["ok"] for o in outcomes), len(outcomes)
        fraction = passed / total if total else 0.0
        reward = float(passed == total and total > 0) if self.all_or_nothing else fraction
        return CodeResult(reward, passed, total, mode, self.sandbox.isolated, time.perf_counter() - start, outcomes)

    def verify_batch(self, pairs) -> list[CodeResult]:
        with ThreadPoolExecutor(self.workers) as pool:  # each run is a subprocess: threads just wait
            return list(pool.map(lambda p: self.verify(*p), pairs))

    def __call__(self, prompts, completions, tests, **_) -> list[float]:
        return [r.reward for r in self.verify_batch(list(zip(completions, tests)))]

    # ------------------------------------------------------------------ formats

    def _stdio(self, program: str, tests: list[dict]) -> list[dict]:
        out = []
        for t in tests:
            r = self.sandbox.run([self.python, "-I", "solution.py"], files={"solution.py": program},
                                 stdin=str(t["input"]).encode())
            if r.timed_out:
                out.append({"ok": False, "error": "timeout"})
                continue
            got = normalize_output(r.stdout.decode("utf-8", errors="replace"))
            ok = r.returncode == 0 and got == normalize_output(str(t["output"]))
            out.append({"ok": ok, "error": None if ok else ("exit %s" % r.returncode if r.returncode else "wrong output")})
        return out

    def _call(self, program: str, entry_point: str, tests: list[dict]) -> list[dict]:
        files = {**CALL_FILES, "solution.py": program, "args.json": json.dumps([t["args"] for t in tests])}
        r = self.sandbox.run([self.python, "-I", "-B", "call.py", entry_point], files=files)
        results: dict[int, list] = {}
        for line in r.stdout.decode("utf-8", errors="replace").split("\n"):
            if line.startswith(MARK):
                try:
                    rec = json.loads(line[len(MARK):])
                    if "v" in rec:
                        rec["v"] = from_wire(rec["v"])  # genuine built-in data, whatever the line says
                    results.setdefault(int(rec["i"]), []).append(rec)
                except (ValueError, KeyError, TypeError):  # WireError is a ValueError
                    continue
        out = []
        for i, t in enumerate(tests):
            recs = results.get(i, [])
            if len(recs) != 1:  # missing (exited early, timed out) or forged duplicates
                out.append({"ok": False, "error": "timeout" if r.timed_out and not recs else ("no result" if not recs else "duplicate results")})
            elif "error" in recs[0]:
                out.append({"ok": False, "error": recs[0]["error"]})
            else:
                ok = same_value(recs[0]["v"], t["expected"])
                out.append({"ok": ok, "error": None if ok else "wrong value"})
        return out

    def _check_in_sandbox(self, program: str, tests: dict) -> list[dict]:
        """Run `check(candidate)` in the sandbox, the candidate in a process of its own (inside/checker.py)."""
        spec = {k: tests.get(k) for k in ("entry_point", "test_code", "prelude")}
        files = {**CHECK_FILES, "solution.py": program, "spec.json": json.dumps(spec)}
        r = self.sandbox.run([self.python, "-I", "-B", "checker.py"], files=files)
        lines = [line[len(CHECK_MARK):] for line in r.stdout.decode("utf-8", errors="replace").split("\n")
                 if line.startswith(CHECK_MARK)]
        try:
            verdict = json.loads(lines[0]) if len(lines) == 1 else {}
        except ValueError:
            verdict = {}
        verdict = verdict if isinstance(verdict, dict) else {}
        ok = r.returncode == 0 and not r.timed_out and verdict == {"ok": True}
        error = None if ok else "timeout" if r.timed_out else str(verdict.get("error", "check failed"))
        return [{"ok": ok, "error": error}]
