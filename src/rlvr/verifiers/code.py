"""Code verifier: run the completion's program against unit tests in the sandbox; reward = fraction passed.

Test specs (JSON objects; `language` defaults to "python"):
  - stdio: `{"tests": [{"input": str, "output": str}, ...]}`, output compared line by line, trailing
    whitespace ignored;
  - call: `{"entry_point": name, "tests": [{"args": [...], "expected": value}, ...]}` (`json_matches`);
  - assert-style: `{"entry_point", "test_code": "def check(candidate): ...", "prelude"?,
    "expected_exceptions"?}` (HumanEval). `prelude` is trusted task code the check may call;
    `expected_exceptions` names built-in error types the candidate may raise for the check to catch.

Threat model: the program is hostile (see sandbox.py for what the process can do). Beyond the sandbox:
  - expected outputs never enter the sandbox. stdin/stdout tests compare the program's output outside;
    call-based tests send only the arguments in, and a harness reports the return values, which are
    compared outside. A program that exits early (`sys.exit(0)`, `os._exit(0)`, `SystemExit`, atexit
    hooks), patches builtins or prints forged result lines cannot know the expected values, and a missing
    or duplicated result fails its test;
  - return values must be plain data (int, float, str, bool, None, lists, tuples, sets, dicts, by exact
    type) and are rebuilt outside as genuine built-ins (inside/wire.py), so an object whose `__eq__` is
    always true never reaches the comparison;
  - whatever the sandbox prints is parsed as bounded, untrusted data: a line that is not a well-formed
    result for a test index that exists is ignored, so nothing it prints raises on the host, and one
    hostile sample in a batch leaves the others' verdicts alone;
  - assert-style checks are converted to call-based tests outside the sandbox when that keeps exactly
    Python's semantics (`convert_asserts`: `candidate(<literals>) == <literal>`, truthiness, `is
    True/False/None`), and stay one check: it passes only if every assert does (`one_check`). Each call
    gets fresh literals and only its return value is judged, so argument mutation and identity cannot
    matter there, as under Python. Any other check (tolerances, loops, helpers) runs inside the sandbox,
    but never in the candidate's process: inside/checker.py (non-dumpable, holding the tests only in memory) calls the
    candidate in a second process over pipes and rebuilds each reply as genuine built-in data; a call
    that raises, or whose reply does not rebuild, fails the check whatever the check catches (see
    checker.py). The candidate's changes to its arguments and a return value that is an argument are
    written back into the check's own objects (checker.py says exactly what is kept, and what fails
    closed). The check's helpers come from the spec's trusted `prelude`, not from the completion.
    Mode `assert-in-sandbox` in the result: it needs bubblewrap, unless the verifier was built with
    `allow_unisolated=True` (the rlimits-only fallback cannot keep the candidate from reading the host);
  - ints of any size are judged: big ints cross the wire in hex, and every Python in the sandbox runs
    without the 4,300-digit conversion limit;
  - the host's own work on a completion is linear: at most base.MAX_PROGRAM_CHARS characters (longer scores
    0 before anything runs), and fenced blocks are found with str.find, not a backtracking regex.
Python only for now; `language` selects the runner so others can be added.
"""

from __future__ import annotations

import ast
import builtins
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlvr.answers import check_completion, fenced_blocks
from rlvr.verifiers.base import SandboxedVerifier, program_text
from rlvr.verifiers.inside.wire import WireError, from_wire, loads as wire_loads, to_wire
from rlvr.verifiers.sandbox import Limits, Sandbox, install_prefixes, sandbox_python

MARK = "@@rlvr-result@@ "  # as in inside/call.py
CHECK_MARK = "@@rlvr-check@@ "  # as in inside/checker.py
# Every Python run in the sandbox: isolated mode, and no limit on int <-> decimal text (an honest big
# answer is not an error; the sandbox's CPU limit bounds the quadratic conversion).
PYTHON_FLAGS = ("-I", "-B", "-X", "int_max_str_digits=0")

# Scripts copied into the sandbox (stdlib only): call-based tests, and assert-style checks run in a checker
# process against the candidate in another.
INSIDE = Path(__file__).resolve().parent / "inside"
CALL_FILES = {name: (INSIDE / name).read_text() for name in ("wire.py", "call.py")}
CHECK_FILES = {name: (INSIDE / name).read_text() for name in ("wire.py", "checker.py", "candidate.py")}
NOT_EXPECTABLE = ("StopIteration", "StopAsyncIteration")  # as in inside/checker.py


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
    """The last fenced code block (`answers.fenced_blocks`: linear whatever the text holds), or the whole text
    when there is none."""
    blocks = fenced_blocks(text)
    return blocks[-1] if blocks else text


def normalize_output(s: str) -> str:
    lines = [line.rstrip() for line in s.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


# ------------------------------------------------------------------ comparisons


def same_value(got, expected) -> bool:
    """Exactly Python's `got == expected` for genuine built-in data (what the wire rebuilds): 1 == 1.0 ==
    True, -0.0 == 0.0, nan != nan, [1, 2] != (1, 2), dicts and sets regardless of order. Because neither
    side can hold a foreign `__eq__`, the built-in answer is the check's own answer. Never raises."""
    try:
        return bool(got == expected)
    except Exception:  # noqa: BLE001 - e.g. RecursionError on absurd nesting: not equal
        return False


def json_matches(got, expected) -> bool:
    """A call test's expected value (from JSON) against the rebuilt return value: `same_value`, with two
    allowances for what JSON cannot say. An array matches a list or a tuple of matching items (JSON has
    no tuple), and an expected *float* matches any number within 1e-9 relative (1e-12 absolute), as
    JSON floats are rounded decimals. An expected int is matched exactly, never by a float approximation;
    nan matches nothing, as in Python."""
    try:
        if type(expected) is float and type(got) in (int, float, bool):
            return same_value(got, expected) or math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)
        if type(expected) is list:
            return (type(got) in (list, tuple) and len(got) == len(expected)
                    and all(json_matches(g, e) for g, e in zip(got, expected)))
        if type(expected) is dict:
            return (type(got) is dict and same_value(got.keys(), expected.keys())
                    and all(json_matches(got[k], v) for k, v in expected.items()))
        return same_value(got, expected)
    except (OverflowError, RecursionError, KeyError):  # an int too big for a float is not close to one
        return False


def _judge(test: dict, got, default: str) -> bool:
    """One converted or call test against a rebuilt value (genuine built-ins: bool() and `is` are exact).
    default: how a test without "compare" compares, "json" (`json_matches`) or "==" (`same_value`)."""
    compare = test.get("compare", default)
    if compare == "truthy":
        return bool(got)
    if compare == "falsy":
        return not got
    if compare == "is":
        return got is test["expected"]
    if compare == "==":
        return same_value(got, test["expected"])
    return json_matches(got, test["expected"])


# ------------------------------------------------------------------ assert-style checks


def _plain(x) -> bool:
    try:
        to_wire(x)
        return True
    except TypeError:
        return False


def _literal(node):
    """(True, value) for a literal expression, else (False, None)."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def _convert_assert(test: ast.expr, name: str):
    """One assert's test -> a call test dict, "skip" for a true literal, None when not convertible."""

    def call_args(node):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
                and not node.keywords):
            return None
        args = [_literal(a) for a in node.args]
        values = [v for _, v in args]
        return values if all(ok for ok, _ in args) and _plain([values]) else None  # as _call sends them

    if isinstance(test, ast.Constant):
        return "skip" if test.value else None  # `assert True` passes; a false one is left to Python
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        args = call_args(test.operand)
        return None if args is None else {"args": args, "compare": "falsy"}
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        op, left, right = test.ops[0], test.left, test.comparators[0]
        if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and type(right.value) in (bool, type(None)):
            args = call_args(left)
            return None if args is None else {"args": args, "expected": right.value, "compare": "is"}
        if isinstance(op, ast.Eq):  # between built-ins `==` is symmetric: the literal may be on either side
            call, other = (left, right) if call_args(left) is not None else (right, left)
            args, (ok, value) = call_args(call), _literal(other)
            return None if args is None or not ok else {"args": args, "expected": value}
        return None
    args = call_args(test)
    return None if args is None else {"args": args, "compare": "truthy"}


def convert_asserts(test_code: str, entry_point: str) -> list[dict] | None:
    """A check that keeps exactly its Python semantics as call tests -> those tests, else None.

    `def check(candidate): assert candidate(1, 2) == 3` -> [{"args": [1, 2], "expected": 3}], compared
    outside with Python's `==` (`same_value`); other kinds carry "compare": "truthy", "falsy" or "is".
    Convertible statements: docstrings, `pass`, and `assert` of `candidate(<literals>) == <literal>`
    (either side), `candidate(...)`, `not candidate(...)`, `candidate(...) is True/False/None`, or a true
    literal; an assert's message is ignored (Python evaluates it only when the assert fails, and then the
    check fails whatever it says). Arguments must be plain data (sent in as they are: tuples stay tuples).
    Module level may hold only docstrings, literal assignments (HumanEval's METADATA) and that one
    `check(candidate)`; anything else (tolerances such as `abs(x - y) < 1e-6` or `math.isclose`, loops,
    helpers, imports) is left to run under Python itself in the sandbox."""
    try:
        tree = ast.parse(test_code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    checks = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            checks.append(node)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        elif not (isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id != "check" for t in node.targets)
                  and _literal(node.value)[0]):
            return None
    if len(checks) != 1:
        return None
    check, a = checks[0], checks[0].args
    if check.decorator_list or a.posonlyargs or len(a.args) != 1 or a.vararg or a.kwonlyargs or a.kwarg or a.defaults:
        return None
    name, tests = a.args[0].arg, []
    for stmt in check.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        converted = _convert_assert(stmt.test, name) if isinstance(stmt, ast.Assert) else None
        if converted is None:
            return None
        if converted != "skip":
            tests.append(converted)
    return tests or None


def one_check(asserts: list[dict]) -> dict:
    """A converted check's outcome: like the check under Python, it passes only if every assert does (one
    test, so reward 1 or 0 whatever all_or_nothing says); the per-assert outcomes stay for debugging."""
    failed = next((i for i, o in enumerate(asserts) if not o["ok"]), None)
    error = None if failed is None else f"assert {failed}: {asserts[failed]['error']}"
    return {"ok": failed is None, "error": error, "asserts": asserts}


# ------------------------------------------------------------------ specs


def check_tests(tests) -> None:
    """ValueError naming what is wrong with a test spec (one of the three formats in the module docstring)."""
    def fail(why: str):
        raise ValueError(f"tests: {why}")

    if not isinstance(tests, dict):
        fail(f"expected a JSON object, got {type(tests).__name__}")
    for key in ("language", "entry_point", "test_code", "prelude"):
        if key in tests and not isinstance(tests[key], str):
            fail(f"{key!r} must be a string")
    if "expected_exceptions" in tests:
        names = tests["expected_exceptions"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            fail("'expected_exceptions' must be a list of exception type names")
        for n in names:
            base = getattr(builtins, n, None)
            if n in NOT_EXPECTABLE or not (isinstance(base, type) and issubclass(base, Exception)):
                fail(f"'expected_exceptions': {n!r} is not a built-in error type a check may expect "
                     f"(Exception subclasses other than {', '.join(NOT_EXPECTABLE)})")
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
        if "entry_point" in tests:
            if "expected" not in case:
                fail(f"tests[{i}] needs 'expected'")
            if not _plain([case["args"]]):  # as _call sends them
                fail(f"tests[{i}]['args'] must be plain data (numbers, strings, lists, dicts...) nested "
                     "at most 100 deep")


def check_case(completion, tests) -> None:
    """ValueError naming what is wrong with one (completion, tests) pair."""
    check_completion(completion)
    check_tests(tests)


def _text(x, limit: int = 200) -> str:
    """Untrusted text fit for a result: a string, bounded, encodable (no lone surrogates)."""
    s = x if type(x) is str else "(not a string)"
    return s[:limit].encode("utf-8", "replace").decode("utf-8")


def _records(stdout: bytes, mark: str):
    """The JSON objects on lines starting with `mark`; a line that is not one is skipped."""
    for line in stdout.decode("utf-8", errors="replace").split("\n"):
        if line.startswith(mark):
            try:
                rec = wire_loads(line[len(mark):])
            except WireError:
                continue
            if type(rec) is dict:
                yield rec


# ------------------------------------------------------------------ the verifier


class CodeVerifier(SandboxedVerifier):
    """Usable as a reward (`fn(prompts, completions, tests, **_)`) and directly (`verify`).

    allow_unisolated: run assert-style checks that need the sandbox even under the rlimits-only fallback
    (no bubblewrap); without it they raise IsolationRequired there. Other formats run either way."""

    __name__ = "code_verifier"
    reference = "tests"

    @classmethod
    def check_case(cls, case: dict) -> None:
        check_case(case["completion"], case["tests"])

    @classmethod
    def cli_options(cls, *, timeout_s: float | None, allow_unisolated: bool) -> dict:
        return {"allow_unisolated": allow_unisolated, **({"limits": Limits(wall_s=timeout_s)} if timeout_s else {})}

    @staticmethod
    def read_reference(text: str):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"tests: not valid JSON: {e.msg}") from None

    def __init__(self, *, limits: Limits = Limits(), all_or_nothing: bool = False, workers: int = 2,
                 use_bwrap: bool | None = None, allow_unisolated: bool = False):
        self.python = sandbox_python()
        self.sandbox = Sandbox(limits, use_bwrap=use_bwrap, ro_paths=install_prefixes(self.python),
                               allow_unisolated=allow_unisolated)
        self.all_or_nothing, self.workers = all_or_nothing, workers

    def verify(self, completion, tests: dict) -> CodeResult:
        check_case(completion, tests)
        start = time.perf_counter()
        isolated = self.sandbox.isolated
        text, why = program_text(completion)
        if why:
            return CodeResult(0.0, 0, 0, "none", isolated, 0.0, reason=why)
        program = extract_program(text)
        language = tests.get("language", "python")
        if language != "python":
            return CodeResult(0.0, 0, 0, "none", isolated, 0.0, reason=f"unsupported language {language!r}")
        if "test_code" in tests:
            converted = convert_asserts(tests["test_code"], tests["entry_point"])
            if converted is not None:
                outcomes, mode = self._call(program, tests["entry_point"], converted, "=="), "assert-converted"
                outcomes = [one_check(outcomes)]
            else:
                outcomes, mode = self._check_in_sandbox(program, tests), "assert-in-sandbox"
        elif "entry_point" in tests:
            outcomes, mode = self._call(program, tests["entry_point"], tests["tests"], "json"), "call"
        else:
            outcomes, mode = self._stdio(program, tests["tests"]), "stdio"
        passed, total = sum(o["ok"] for o in outcomes), len(outcomes)
        fraction = passed / total if total else 0.0
        reward = float(passed == total and total > 0) if self.all_or_nothing else fraction
        failed = next(((i, o["error"]) for i, o in enumerate(outcomes) if not o["ok"]), None)
        reason = "" if failed is None else f"test {failed[0]}: {failed[1]}"
        return CodeResult(reward, passed, total, mode, isolated, time.perf_counter() - start, outcomes, reason)

    def verify_case(self, case: dict) -> CodeResult:
        return self.verify(case["completion"], case["tests"])

    def failed(self, case: dict, reason: str) -> CodeResult:
        return CodeResult(0.0, 0, 0, "error", self.sandbox.isolated, 0.0, reason=_text(reason))

    # ------------------------------------------------------------------ formats

    def _stdio(self, program: str, tests: list[dict]) -> list[dict]:
        out = []
        for t in tests:
            r = self.sandbox.run([self.python, *PYTHON_FLAGS, "solution.py"], files={"solution.py": program},
                                 stdin=str(t["input"]).encode())
            if r.timed_out:
                out.append({"ok": False, "error": "timeout"})
                continue
            got = normalize_output(r.stdout.decode("utf-8", errors="replace"))
            ok = r.returncode == 0 and got == normalize_output(str(t["output"]))
            out.append({"ok": ok, "error": None if ok else ("exit %s" % r.returncode if r.returncode else "wrong output")})
        return out

    def _call(self, program: str, entry_point: str, tests: list[dict], compare: str) -> list[dict]:
        args = json.dumps(to_wire([t["args"] for t in tests]))  # wire form: tuples and sets arrive as written
        r = self.sandbox.run([self.python, *PYTHON_FLAGS, "call.py", entry_point],
                             files={**CALL_FILES, "solution.py": program, "args.json": args})
        results: dict[int, list] = {}
        for rec in _records(r.stdout, MARK):
            i = rec.get("i")
            if type(i) is not int or not 0 <= i < len(tests):  # 1e308, true, "0", -1: not a test's index
                continue
            if "error" in rec:
                results.setdefault(i, []).append({"error": _text(rec["error"], 100)})
            elif "v" in rec:
                try:
                    results.setdefault(i, []).append({"v": from_wire(rec["v"])})  # genuine built-in data
                except WireError:
                    results.setdefault(i, []).append({"error": "malformed value"})
        out = []
        for i, t in enumerate(tests):
            recs = results.get(i, [])
            if len(recs) != 1:  # missing (exited early, timed out) or forged duplicates
                out.append({"ok": False, "error": "timeout" if r.timed_out and not recs else ("no result" if not recs else "duplicate results")})
            elif "error" in recs[0]:
                out.append({"ok": False, "error": recs[0]["error"]})
            else:
                ok = _judge(t, recs[0]["v"], compare)
                out.append({"ok": ok, "error": None if ok else "wrong value"})
        return out

    def _check_in_sandbox(self, program: str, tests: dict) -> list[dict]:
        """Run `check(candidate)` in the sandbox, the candidate in a process of its own (inside/checker.py)."""
        self.sandbox.require_isolation("assert-style checks that cannot be converted to call tests")
        spec = {k: tests.get(k) for k in ("entry_point", "test_code", "prelude", "expected_exceptions")}
        r = self.sandbox.run([self.python, *PYTHON_FLAGS, "checker.py"], files={**CHECK_FILES, "solution.py": program},
                             stdin=json.dumps(spec).encode())  # not a file: see inside/checker.py
        verdicts = list(_records(r.stdout, CHECK_MARK))
        verdict = verdicts[0] if len(verdicts) == 1 else {}
        ok = r.returncode == 0 and not r.timed_out and verdict.get("ok") is True and len(verdict) == 1
        error = None if ok else "timeout" if r.timed_out else _text(verdict.get("error", "check failed"), 300)
        return [{"ok": ok, "error": error}]
