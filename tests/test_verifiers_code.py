"""The code verifier: test formats, and every cheat scores 0 in bounded time."""

import json
import sys
import time

import pytest

from rlvr.verifiers.code import CodeVerifier, convert_asserts, extract_program, json_matches, same_value
from rlvr.verifiers.inside.wire import to_wire
from rlvr.verifiers.sandbox import IsolationRequired, Limits

ADD_CALL = {"language": "python", "entry_point": "add", "tests": [{"args": [1, 2], "expected": 3}, {"args": [5, 7], "expected": 12}]}
ADD_STDIO = {"language": "python", "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 7\n", "output": "12\n"}]}
# not convertible (a loop): runs inside the sandbox with the token check
ADD_ASSERT_LOOP = {"language": "python", "entry_point": "add",
                   "test_code": "def check(candidate):\n    for a, b in [(1, 2), (5, 7)]:\n        assert candidate(a, b) == a + b\n"}
ADD_ASSERT_SIMPLE = {"language": "python", "entry_point": "add",
                     "test_code": "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(5, 7) == 12\n"}
HONEST_ADD = "```python\ndef add(a, b):\n    return a + b\n```"
HONEST_STDIO = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
LIMITS = Limits(wall_s=2.0, cpu_s=3, memory_mb=512, processes=32, file_size_mb=1)
PROMPT_S = 2 * (LIMITS.wall_s + 4.0)  # per run: the wall limit plus bounded teardown


@pytest.fixture(scope="module")
def verifier():
    return CodeVerifier(limits=LIMITS)


def test_extract_last_fenced_block():
    assert extract_program("text\n```python\nx = 1\n```\nmore\n```py\ny = 2\n```") == "y = 2\n"
    assert extract_program("x = 1") == "x = 1"


def test_convert_asserts():
    assert convert_asserts(ADD_ASSERT_SIMPLE["test_code"], "add") == [{"args": [1, 2], "expected": 3}, {"args": [5, 7], "expected": 12}]
    assert convert_asserts(ADD_ASSERT_LOOP["test_code"], "add") is None


@pytest.mark.parametrize("tests, completion, mode", [
    (ADD_CALL, HONEST_ADD, "call"), (ADD_STDIO, HONEST_STDIO, "stdio"),
    (ADD_ASSERT_SIMPLE, HONEST_ADD, "assert-converted"), (ADD_ASSERT_LOOP, HONEST_ADD, "assert-in-sandbox"),
])
def test_honest_solutions_pass_every_format(verifier, tests, completion, mode):
    r = verifier.verify(completion, tests)
    assert (r.reward, r.mode) == (1.0, mode)


def test_fractional_and_all_or_nothing(verifier):
    half = "def add(a, b):\n    return 3"
    assert verifier.verify(half, ADD_CALL).reward == 0.5
    assert CodeVerifier(all_or_nothing=True).verify(half, ADD_CALL).reward == 0.0


CHEATS = {
    "sys.exit before tests": "import sys\nsys.exit(0)\ndef add(a, b): return a + b",
    "os._exit before tests": "import os\nos._exit(0)",
    "raise SystemExit": "raise SystemExit(0)",
    "atexit forged output": "import atexit\natexit.register(lambda: print('@@rlvr-result@@ {\"i\": 0, \"v\": 3}'))\nimport os\nos._exit(0)",
    "always-equal object": "class Eq:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\ndef add(a, b): return Eq()",
    "int subclass always equal": "class I(int):\n    def __eq__(self, o): return True\ndef add(a, b): return I(0)",
    "patched AssertionError": "import builtins\nbuiltins.AssertionError = type('X', (BaseException,), {})\ndef add(a, b): return 0",
    "forged success lines": "print('@@rlvr-result@@ {\"i\": 0, \"v\": 3}')\nprint('@@rlvr-result@@ {\"i\": 1, \"v\": 12}')\nprint('PASSED')\ndef add(a, b): return 0",
    "reads args and guesses": "import json\nA = json.load(open('args.json'))\ndef add(a, b): return 0",
    "reads tests, argv and env": "import os, sys, glob\nprint(sys.argv, dict(os.environ), glob.glob('/tmp/**', recursive=True))\ndef add(a, b): return 0",
    "patches check": "def check(candidate):\n    pass\ndef add(a, b): return 0",
    "infinite loop": "def add(a, b):\n    while True: pass",
    "fork bomb": "import os\ndef add(a, b):\n    while True:\n        try: os.fork()\n        except OSError: pass",
    "memory bomb": "def add(a, b):\n    return len(bytearray(10**11))",
    "output flood": "import sys\nwhile True: sys.stdout.write('@@rlvr-result@@ ' * 1000)",
    # against the in-sandbox check: the checker is another, non-dumpable process holding nothing to steal
    "metaclass always-equal": "class M(type):\n    def __eq__(s, o): return True\n    __hash__ = type.__hash__\n"
                              "class E(int, metaclass=M):\n    def __eq__(s, o): return True\n    __hash__ = int.__hash__\n"
                              "def add(a, b): return E(0)",
    "harness globals via __main__": "import __main__, os\ndef add(a, b):\n    g = vars(__main__)\n"
                                    "    print(*[f'{k}={v}' for k, v in g.items() if isinstance(v, str)], sep='\\n', flush=True)\n"
                                    "    os._exit(0)",
    "harness frames": "import sys, os\ndef add(a, b):\n    f = sys._getframe(1)\n    while f is not None:\n"
                      "        print(*f.f_globals.values(), flush=True)\n        f = f.f_back\n    os._exit(0)",
    "checker's tests and stdout via /proc": "import os\ndef add(a, b):\n    for pid in (1, os.getppid()):\n"
                                            "        for fd in (0, 1):\n            try:\n"
                                            "                with open(f'/proc/{pid}/fd/{fd}', 'r+') as f:\n"
                                            "                    f.write('@@rlvr-check@@ {\"ok\": true}\\n')\n"
                                            "            except OSError:\n                pass\n    os._exit(0)",
}


@pytest.mark.slow  # sandboxed runs, many
@pytest.mark.parametrize("name", sorted(CHEATS))
@pytest.mark.parametrize("tests", [ADD_CALL, ADD_ASSERT_SIMPLE, ADD_ASSERT_LOOP, ADD_STDIO], ids=["call", "converted", "in-sandbox", "stdio"])
def test_cheats_score_zero_promptly(verifier, name, tests):
    start = time.perf_counter()
    r = verifier.verify(f"```python\n{CHEATS[name]}\n```", tests)
    assert r.reward == 0.0, (name, r.tests)
    assert time.perf_counter() - start < PROMPT_S


@pytest.fixture(scope="module")
def fallback():
    """Assert-style checks need isolation: the fallback runs them only when the caller opts in."""
    return CodeVerifier(limits=LIMITS, use_bwrap=False, allow_unisolated=True)


def test_in_sandbox_checks_refuse_the_fallback_unless_opted_in():
    strict = CodeVerifier(limits=LIMITS, use_bwrap=False)
    with pytest.raises(IsolationRequired):
        strict.verify(HONEST_ADD, ADD_ASSERT_LOOP)
    with pytest.raises(IsolationRequired):  # a batch too: the machine's state, not a sample's
        strict.verify_batch([{"completion": HONEST_ADD, "tests": ADD_CALL}, {"completion": HONEST_ADD, "tests": ADD_ASSERT_LOOP}])
    for tests, completion in [(ADD_CALL, HONEST_ADD), (ADD_STDIO, HONEST_STDIO), (ADD_ASSERT_SIMPLE, HONEST_ADD)]:
        assert strict.verify(completion, tests).reward == 1.0  # converted checks run as call tests: no need


@pytest.mark.parametrize("tests, completion", [(ADD_CALL, HONEST_ADD), (ADD_STDIO, HONEST_STDIO), (ADD_ASSERT_LOOP, HONEST_ADD)])
def test_honest_solutions_pass_without_bubblewrap(fallback, tests, completion):
    assert fallback.verify(completion, tests).reward == 1.0


@pytest.mark.slow  # sandboxed runs, many
@pytest.mark.parametrize("name", sorted(CHEATS))
@pytest.mark.parametrize("tests", [ADD_CALL, ADD_ASSERT_LOOP], ids=["call", "in-sandbox"])
def test_cheats_score_zero_without_bubblewrap_too(fallback, name, tests):
    """The rlimits-only fallback loses isolation from the host, not the verdict's defences."""
    start = time.perf_counter()
    r = fallback.verify(f"```python\n{CHEATS[name]}\n```", tests)
    assert r.reward == 0.0 and r.isolated is False, (name, r.tests)
    assert time.perf_counter() - start < PROMPT_S


def test_as_a_reward_function_and_bad_language(verifier):
    assert verifier(["q", "q"], [HONEST_ADD, "def add(a, b): return 0"], tests=[ADD_CALL, ADD_CALL]) == [1.0, 0.0]
    r = verifier.verify("x", {"language": "cobol", "tests": [{"input": "", "output": ""}]})
    assert r.reward == 0.0 and "unsupported language" in r.reason


def test_in_sandbox_check_uses_the_tasks_helpers_not_the_completions(verifier):
    tests = {"language": "python", "entry_point": "double", "prelude": "def is_double(x, y):\n    return y == 2 * x\n",
             "test_code": "def check(candidate):\n    for x in range(5):\n        assert is_double(x, candidate(x))\n"
                          "        assert double(x) == candidate(x)  # the entry point by name is the candidate\n"}
    assert verifier.verify("def double(x):\n    return x + x", tests).reward == 1.0
    cheat = "def is_double(x, y):\n    return True\ndef double(x):\n    return 0"
    assert verifier.verify(cheat, tests).reward == 0.0
    without = verifier.verify("def double(x):\n    return x + x", {k: v for k, v in tests.items() if k != "prelude"})
    assert without.reward == 0.0 and "is_double" in without.tests[0]["error"]  # says what is missing


def test_in_sandbox_check_sees_exceptions_and_rebuilt_values(verifier):
    # a check that tests for a raise names the error types it expects (any other raise fails the check)
    tests = {"language": "python", "entry_point": "f", "expected_exceptions": ["ValueError"],
             "test_code": "def check(candidate):\n    assert candidate([1, 2]) == (2, 1) and type(candidate([1, 2])) is tuple\n"
                          "    assert candidate({}) == {(1, 2): {3}}\n    try:\n        candidate(None)\n"
                          "        assert False\n    except ValueError:\n        pass\n"}
    honest = ("def f(x):\n    if x is None:\n        raise ValueError('no')\n"
              "    return tuple(reversed(x)) if isinstance(x, list) else {(1, 2): {3}}")
    assert verifier.verify(honest, tests).reward == 1.0
    without = verifier.verify(honest, {k: v for k, v in tests.items() if k != "expected_exceptions"})
    assert without.reward == 0.0 and "f() raised ValueError" in without.reason


@pytest.mark.slow  # sandboxed runs, many
def test_cli_verify_code(run_rlvr, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"completion": HONEST_ADD, "tests": ADD_CALL}) + "\n"
                     + json.dumps({"completion": CHEATS["sys.exit before tests"], "tests": ADD_CALL}) + "\n")
    out = [json.loads(l) for l in run_rlvr("verify", "code", "--file", str(cases)).stdout.splitlines()]
    assert [o["reward"] for o in out] == [1.0, 0.0] and out[0]["mode"] == "call"


# ------------------------------------------------------------------ comparisons follow Python's `==`

def test_same_value_is_pythons_equality():
    nan = float("nan")
    for got, expected in [(3, 3), (3.0, 3), (True, 1), (1, True), (-0.0, 0.0), ({1, 2}, {2, 1}), (frozenset({1}), {1}),
                          ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ({1: "x"}, {True: "x"}), ([[1, (2,)]], [[1.0, (2,)]]),
                          (10**5000, 10**5000), (float("inf"), 1e999)]:
        assert same_value(got, expected), (got, expected)
    for got, expected in [(nan, nan), ([nan], [float("nan")]), (3.0000000001, 3), (True, 3), ("3", 3), ((1, 2), [1, 2]),
                          ([1, 2], (1, 2)), (0.1 + 0.2, 0.3), (10**5000, 1e308), (2**53 + 1, float(2**53)), (None, 0)]:
        assert not same_value(got, expected), (got, expected)


def test_json_matches_follows_the_expected_type():
    assert json_matches((1, 2), [1, 2]) and json_matches([(1, 2)], [[1, 2]])  # JSON has no tuple
    assert json_matches(0.1 + 0.2, 0.3) and json_matches(3, 3.0)  # an expected float is a rounded decimal
    assert json_matches(True, 1) and json_matches({"a": (1.0,)}, {"a": [1]})
    # an exact int is never matched by a float approximation, nor by text, nor a huge int by a float
    for got, expected in [(3.0000000001, 3), (2.9999999999, 3), (float(2**60), 2**60 + 1), ("3", 3), (10**400, 1.5),
                          (float("nan"), float("nan")), ({"a": 1, "b": 2}, {"a": 1}), ([1, 2, 3], [1, 2])]:
        assert not json_matches(got, expected), (got, expected)


def test_call_tests_never_match_an_exact_int_approximately(verifier):
    for wrong in ("3.0000000001", "2.9999999999", "'3'", "True"):  # the first two scored 1.0 before
        r = verifier.verify(f"def add(a, b):\n    return {wrong} if a == 1 else 12", ADD_CALL)
        assert [t["ok"] for t in r.tests] == [False, True], wrong
    assert verifier.verify("def add(a, b):\n    return float(a + b)", ADD_CALL).reward == 1.0  # 3.0 == 3 in Python
    floats = {"entry_point": "f", "tests": [{"args": [], "expected": 0.3}, {"args": [], "expected": [0.3, 1]}]}
    assert verifier.verify("def f():\n    return 0.1 + 0.2 if False else (0.1 + 0.2, 1)", floats).reward == 0.5


def plain_python_passes(test_code: str, program: str) -> bool:
    """The check's verdict under plain Python, in this process (for the benign programs below only)."""
    namespace: dict = {}
    exec(program, namespace)
    exec(test_code, namespace)
    try:
        namespace["check"](namespace["f"])
        return True
    except AssertionError:
        return False


def check(*asserts: str, imports: str = "") -> str:
    return imports + "def check(candidate):\n" + "".join(f"    assert {a}\n" for a in asserts)


# (check, program): the verifier's verdict must be plain Python's, converted or not
SEMANTICS = [
    (check("candidate(1) == 3"), "def f(x): return 3.0"),
    (check("candidate(1) == 3"), "def f(x): return 3.0000000001"),  # was accepted: isclose on an int
    (check("candidate(1) == 3"), "def f(x): return True"),
    (check("candidate(1) == 1"), "def f(x): return True"),  # was rejected: bool never equalled an int
    (check("candidate(1) == [1, 2]"), "def f(x): return (1, 2)"),  # was accepted: tuple as list
    (check("candidate(1) == [1, 2]"), "def f(x): return [1.0, 2]"),
    (check("candidate(1) == 0.1"), "def f(x): return 0.1 + 1e-12"),  # was accepted: approximately 0.1
    (check("0.1 == candidate(1)"), "def f(x): return 0.1"),
    (check("candidate(1) == {1: 'a'}"), "def f(x): return {True: 'a'}"),
    (check("candidate(1) == {1, 2}"), "def f(x): return frozenset({2, 1})"),
    (check("candidate(1) == -0.0"), "def f(x): return 0.0"),
    (check("candidate(1) == 1e999"), "def f(x): return float('nan')"),
    (check("candidate((1, 2)) == 'tuple'", "candidate({1: 2}) == 'int'"),  # arguments arrive as written
     "def f(x): return type(x).__name__ if not isinstance(x, dict) else type(next(iter(x))).__name__"),
    (check("candidate(1)"), "def f(x): return [0]"),
    (check("candidate(1)"), "def f(x): return 0.0"),
    (check("not candidate(1)"), "def f(x): return ''"),
    (check("candidate(1) is True"), "def f(x): return 1"),
    (check("candidate(1) is True", "candidate(2) is None"), "def f(x): return True if x == 1 else None"),
    (check("candidate(1) == 3, 'message'", "True"), "def f(x): return 3"),
    # tolerances are Python's own: not converted, run in the sandbox as written
    (check("abs(candidate(1) - 0.1) < 1e-6"), "def f(x): return 0.1000001"),
    (check("abs(candidate(1) - 0.1) < 1e-6"), "def f(x): return 0.1001"),
    (check("math.isclose(candidate(1), 0.3)", imports="import math\n"), "def f(x): return 0.1 + 0.2"),
    (check("candidate(1) != candidate(1)"), "def f(x): return float('nan')"),
]


@pytest.mark.slow  # sandboxed runs, many
@pytest.mark.parametrize("test_code, program", SEMANTICS, ids=[f"{i}" for i in range(len(SEMANTICS))])
def test_assert_checks_keep_pythons_verdict(verifier, test_code, program):
    r = verifier.verify(program, {"entry_point": "f", "test_code": test_code})
    assert r.reward == float(plain_python_passes(test_code, program)), (r.mode, r.tests)


def test_what_is_converted():
    assert [t.get("compare") for t in convert_asserts(check("candidate(1)", "not candidate(2)", "candidate(3) is None",
                                                            "candidate(4) == 4", "5 == candidate(5)"), "f")] \
        == ["truthy", "falsy", "is", None, None]
    for code in [check("abs(candidate(1) - 0.1) < 1e-6"), check("math.isclose(candidate(1), 0.3)"),
                 check("candidate(1) == x"), check("candidate(x=1) == 1"), check("candidate(1) is 5"),
                 check("candidate(b'x') == 1"),  # bytes cannot be sent in as they are
                 "import os\n" + check("candidate(1) == 1"), check("candidate(1) == 1") + "def check(c):\n    pass\n",
                 "@print\n" + check("candidate(1) == 1"), check("False")]:
        assert convert_asserts(code, "f") is None, code


# ------------------------------------------------------------------ the candidate's exceptions steer nothing

ATTACK_CHECKS = {
    # the for loop over map() ends at StopIteration: the asserts never ran
    "stop-iteration": "def check(candidate):\n    for got, want in zip(map(candidate, [1, 2]), [3, 12]):\n"
                      "        assert got == want\n",
    # the check catches an error of its own (a missing key); the candidate raises that type
    "caught-by-type": "def check(candidate):\n    table = {1: 3, 2: 12}\n    for x in (1, 2, 3):\n        try:\n"
                      "            assert candidate(x) == table[x]\n        except KeyError:\n            continue\n",
    "caught-as-exception": "def check(candidate):\n    for x, want in ((1, 3), (2, 12)):\n        try:\n"
                           "            got = candidate(x)\n        except Exception:\n            break\n"
                           "        assert got == want\n",
    "caught-as-value-error": "def check(candidate):\n    try:\n        assert candidate(1) == 3\n"
                             "        assert candidate(2) == 12\n    except ValueError:\n        pass\n",
    "caught-as-type-error": "def check(candidate):\n    try:\n        assert candidate(1) == 3\n"
                            "    except TypeError:\n        pass\n",
    "bare-except": "def check(candidate):\n    try:\n        assert candidate(1) == 3\n    except:\n        pass\n",
}
ATTACKS = [
    ("stop-iteration", "def f(x):\n    raise StopIteration"),
    ("caught-by-type", "def f(x):\n    raise KeyError(x)"),
    ("caught-as-exception", "import os\ndef f(x):\n    os._exit(0)"),  # was RuntimeError('process ended')
    ("caught-as-exception", "def f(x):\n    raise KeyboardInterrupt"),
    ("caught-as-exception", "def f(x):\n    raise GeneratorExit"),
    ("caught-as-value-error", "def f(x):\n    raise ValueError"),
    # a reply that does not rebuild was a WireError, a ValueError
    ("caught-as-value-error", "import os, sys\ndef f(x):\n    os.write(int(sys.argv[2]), b'\\x00\\x00\\x00\\x02{]')\n"
                              "    os._exit(0)"),
    ("caught-as-value-error", "import os, sys\ndef f(x):\n    os.write(int(sys.argv[2]), b'\\x00\\x00\\x00\\x0c[\"ok\", [\"s\"]]')\n"
                              "    os._exit(0)"),
    # UnicodeDecodeError('raised by the candidate') was itself a TypeError
    ("caught-as-type-error", "def f(x):\n    raise UnicodeDecodeError('utf-8', b'', 0, 1, 'x')"),
    ("bare-except", "def f(x):\n    raise ValueError"),
]


@pytest.mark.slow  # sandboxed runs, many
@pytest.mark.parametrize("check_name, program", ATTACKS, ids=[f"{c}:{i}" for i, (c, _) in enumerate(ATTACKS)])
def test_candidate_exceptions_cannot_steer_the_check(verifier, check_name, program):
    tests = {"entry_point": "f", "test_code": ATTACK_CHECKS[check_name]}
    honest = verifier.verify("def f(x):\n    return {1: 3, 2: 12}.get(x, 0)", tests)
    assert honest.reward == 1.0 and honest.mode == "assert-in-sandbox", honest.tests
    r = verifier.verify(program, tests)
    assert r.reward == 0.0 and r.reason.startswith("test 0: "), (r.mode, r.tests)


# ------------------------------------------------------------------ nothing printed crashes the host

# payload: bytes, or the text of an expression that builds them (a long line would exceed the completion limit)
MARKED = "import os, sys\ndef add(a, b):\n    sys.stdout.buffer.write({payload})\n    sys.stdout.flush()\n    os._exit(0)"
HOSTILE_LINES = {
    "deep nesting": b"@@rlvr-result@@ " + b"[" * 200_000 + b"\n",
    "deep nesting in a value": b'@@rlvr-result@@ {"i": 0, "v": ' + b'["l", [' * 5000 + b"\n",
    "infinite index": b'@@rlvr-result@@ {"i": Infinity, "v": 3}\n@@rlvr-result@@ {"i": NaN, "v": 3}\n',
    "huge and odd indices": b'@@rlvr-result@@ {"i": 1e308, "v": 3}\n@@rlvr-result@@ {"i": true, "v": 12}\n'
                            b'@@rlvr-result@@ {"i": -1, "v": 3}\n@@rlvr-result@@ {"i": "0", "v": 3}\n',
    "int past the digit limit": b'@@rlvr-result@@ {"i": 0, "v": ' + b"9" * 5000 + b"}\n",
    "hex int past the bound": """b'@@rlvr-result@@ {"i": 0, "v": ["i", "0x' + b"f" * (1 << 22) + b'"]}\\n'""",
    "non-UTF-8 and NUL": b"@@rlvr-result@@ \xff\xfe\x00{\"i\": 0}\n\x00" * 100,
    "lone surrogate error": b'@@rlvr-result@@ {"i": 0, "error": "\\ud800\\udfff\\ud800"}\n',
    "nested error": b'@@rlvr-result@@ {"i": 0, "error": ' + b"[" * 50 + b"]" * 50 + b"}\n",
    "enormous line count": "b'\\n' * 900_000",
    "not an object": b"@@rlvr-result@@ [1, 2]\n@@rlvr-result@@ null\n@@rlvr-result@@ \"s\"\n",
    # ints equal modulo 2**61 - 1 share a hash: rebuilding this set took the host about 25 s
    "hash-colliding set": b'@@rlvr-result@@ {"i": 0, "v": ' + json.dumps(["s", [to_wire(k * (2**61 - 1)) for k in range(1, 30_000)]]).encode() + b"}\n",
}


def test_hostile_output_scores_zero_and_leaves_the_batch_alone(verifier):
    hostile = [MARKED.format(payload=p if type(p) is str else repr(p)) for p in HOSTILE_LINES.values()]
    hostile += ["def add(a, b):\x00", "def add(a, b):\n    return '\ud800'", "import sys\nsys.stdout.buffer.write(b'\\xff' * 10**6)"]
    pairs = [(HONEST_ADD, ADD_CALL)] + [(h, ADD_CALL) for h in hostile] + [(HONEST_ADD, ADD_CALL)]
    pairs += [(HONEST_ADD.replace("b\n", "b  # \ud800\n"), ADD_CALL)]  # a lone surrogate in a comment: judged as "?"
    results = verifier.verify_batch([{"completion": c, "tests": t} for c, t in pairs])
    assert [r.reward for r in results] == [1.0] + [0.0] * len(hostile) + [1.0, 1.0]
    for name, r in zip([*HOSTILE_LINES, "NUL", "surrogate value", "invalid UTF-8"], results[1:-2]):
        assert r.reason.startswith("test 0: ") and r.mode == "call", (name, r.reason)  # judged, not a verifier error
        assert r.seconds < PROMPT_S, (name, r.seconds)
        json.dumps(r.to_dict(), ensure_ascii=False).encode()  # what `rlvr verify code` prints
    assert verifier(["q"] * len(pairs), [c for c, _ in pairs], tests=[t for _, t in pairs]) == [r.reward for r in results]


# ------------------------------------------------------------------ big ints are honest answers

def test_ints_past_the_digit_limit_are_judged(verifier):
    big = 2**20000  # 6,021 digits
    call = {"entry_point": "f", "tests": [{"args": [20000], "expected": big}, {"args": [3], "expected": 8}]}
    assert verifier.verify("def f(n):\n    return 2 ** n", call).reward == 1.0
    assert verifier.verify("def f(n):\n    return 2 ** n + (n > 100)", call).reward == 0.5
    in_sandbox = {"entry_point": "f", "test_code": "def check(candidate):\n    assert candidate(20000) == 2 ** 20000\n"
                                                   "    assert str(candidate(20000)).startswith('3980')\n"}
    assert verifier.verify("def f(n):\n    return 2 ** n", in_sandbox).reward == 1.0
    previous = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        stdio = {"tests": [{"input": "20000\n", "output": str(big) + "\n"}]}
        literal = {"entry_point": "f", "test_code": f"def check(candidate):\n    assert candidate(20000) == {big}\n"}
    finally:
        sys.set_int_max_str_digits(previous)
    assert verifier.verify("print(2 ** int(input()))", stdio).reward == 1.0
    assert verifier.verify("def f(n):\n    return 2 ** n", literal).reward == 1.0


STEAL_SPEC = ("import glob, os, re\ndef f():\n    found = []\n"
              "    for path in ['spec.json', *glob.glob('/proc/*/fd/*'), *glob.glob('/proc/*/environ'), *glob.glob('/proc/*/cmdline')]:\n"
              "        try:\n            with open(path, 'rb') as fh:\n                found += re.findall(rb'SECRET-[0-9a-f]+', fh.read(1 << 20))\n"
              "        except OSError:\n            pass\n    return found[0].decode() if found else ''\n")


@pytest.mark.parametrize("isolated", [True, False], ids=["bubblewrap", "fallback"])
def test_candidate_cannot_read_the_checkers_spec(verifier, fallback, isolated):
    """The spec reaches the checker on stdin, which only the non-dumpable checker holds."""
    tests = {"entry_point": "f", "test_code": "def check(candidate):\n    for want in ['SECRET-5eb1c0de']:\n"
                                              "        assert candidate() == want\n"}
    r = (verifier if isolated else fallback).verify(STEAL_SPEC, tests)
    assert r.mode == "assert-in-sandbox" and r.reward == 0.0 and "raised" not in r.reason, r.reason


# ------------------------------------------------------------------ round 2: the host's parsing is linear

PATHOLOGICAL = {
    "backticks, no newline": "`" * 200_000,  # the old fence regex took about a minute on the host
    "fences, no closing": "```\n" * 200_000,
    "one fence, many newlines": "```" + "\n" * 200_000,
    "many small blocks": "```py\nx = 1\n```" * 50_000,
    "backtick pairs and newlines": "``\n`" * 200_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_fenced_blocks_are_found_in_linear_time(verifier, name):
    text = PATHOLOGICAL[name]
    start = time.perf_counter()
    extract_program(text)
    assert time.perf_counter() - start < 0.5, name
    start = time.perf_counter()
    r = verifier.verify(text, ADD_CALL)  # the whole step: host parsing plus one sandboxed run
    assert r.reward == 0.0 and time.perf_counter() - start < PROMPT_S, name


def test_fenced_blocks_keep_their_meaning():
    """The linear scan finds what the old pattern ```[^\\n]*\\n(.*?)``` found (last non-overlapping block)."""
    cases = {"```python\nx = 1\n```": "x = 1\n", "a ```py x\ny\n``` b ```\nz```": "z", "```x```\n": "```x```\n",
             "````\nq\n````": "q\n", "```\n```\n```\nw\n```": "w\n", "```py\nx = 1\n``` ```\nnever closed": "x = 1\n",
             "no fence": "no fence", "```\n": "```\n", "``\n``": "``\n``"}
    for text, program in cases.items():
        assert extract_program(text) == program, text


def test_overlong_completions_score_zero_with_a_reason(verifier):
    from rlvr.verifiers.base import MAX_PROGRAM_CHARS as MAX_COMPLETION_CHARS

    start = time.perf_counter()
    r = verifier.verify("#" * (MAX_COMPLETION_CHARS + 1), ADD_CALL)
    assert r.reward == 0.0 and "over the 1,000,000 limit" in r.reason and time.perf_counter() - start < 1.0
    chat = [{"role": "assistant", "content": "x" * (MAX_COMPLETION_CHARS // 2 + 1)}] * 2
    assert "limit" in verifier.verify(chat, ADD_CALL).reason


# ------------------------------------------------------------------ round 2: a converted check is one check

def test_a_converted_check_passes_only_if_every_assert_does(verifier):
    """Each converted assert ran as its own call test and the reward was passed/total: 0.5 for a check that
    Python fails. Now the check is one outcome, whatever all_or_nothing says."""
    wrong = verifier.verify("def add(a, b):\n    return 3", ADD_ASSERT_SIMPLE)
    assert (wrong.reward, wrong.passed, wrong.total, wrong.mode) == (0.0, 0, 1, "assert-converted")
    assert [a["ok"] for a in wrong.tests[0]["asserts"]] == [True, False] and wrong.reason == "test 0: assert 1: wrong value"
    honest = verifier.verify(HONEST_ADD, ADD_ASSERT_SIMPLE)
    assert (honest.reward, honest.passed, honest.total) == (1.0, 1, 1)
    assert verifier.verify("def add(a, b):\n    return 3", ADD_CALL).reward == 0.5  # call specs keep fractions


# ------------------------------------------------------------------ round 2: mutation and identity

def mirrored(*lines: str) -> str:
    return "def check(candidate):\n" + "".join(f"    {line}\n" for line in lines)


# (check, program): each check runs in the sandbox (it uses names), and the verdict must be plain Python's.
# The first of each pair is a wrong program that scored 1.0 (arguments went in as copies, replies came back
# as fresh objects); the second an honest one.
MUTATION = [
    (mirrored("xs = [3, 1, 2]", "assert candidate(xs) == 1", "assert xs == [3, 1, 2]"),
     "def f(xs):\n    xs.sort()\n    return xs[0]", "def f(xs):\n    return min(xs)"),
    (mirrored("xs = [1, 2]", "ys = candidate(xs)", "assert ys == xs and ys is not xs"),
     "def f(xs):\n    return xs", "def f(xs):\n    return list(xs)"),
    (mirrored("xs = [3, 1]", "assert candidate(xs) is None", "assert xs == [1, 3]"),  # sorts in place
     "def f(xs):\n    sorted(xs)", "def f(xs):\n    xs.sort()"),
    (mirrored("inner = [1]", "xs = [inner, [2]]", "candidate(xs)", "assert inner == [1]", "assert xs[0] == [1, 5]"),
     "def f(xs):\n    xs[0].append(5)", "def f(xs):\n    xs[0] = xs[0] + [5]"),
    (mirrored("xs = [[1], [2]]", "r = candidate(xs)", "assert r is xs[0]"),
     "def f(xs):\n    return list(xs[0])", "def f(xs):\n    return xs[0]"),
    (mirrored("g = candidate(2)", "g[0][0] = 1", "assert g == [[1, 0], [0, 0]]"),  # the aliased grid
     "def f(n):\n    return [[0] * n] * n", "def f(n):\n    return [[0] * n for _ in range(n)]"),
    (mirrored("d = {'a': [1]}", "a = d['a']", "candidate(d)", "assert d == {'a': [1]} and a == [1]"),
     "def f(d):\n    d['a'].append(2)", "def f(d):\n    return dict(d)"),
    (mirrored("s = {1}", "t = (s, 2)", "candidate(t)", "assert s == {1}"),  # through a tuple
     "def f(t):\n    t[0].add(3)", "def f(t):\n    return t[0] | {3}"),
    (mirrored("xs = [1]", "candidate(xs, xs)", "assert xs == [1, 1]"),  # one object passed twice
     "def f(a, b):\n    return a + b", "def f(a, b):\n    a.extend(b)"),
    (mirrored("xs = [1]", "ys = candidate(xs)", "ys.append(2)", "assert xs == [1]"),  # result shares an argument
     "def f(xs):\n    return xs", "def f(xs):\n    return xs[:]"),
]
MUTATION_CASES = [(c, p) for c, wrong, honest in MUTATION for p in (wrong, honest)]


@pytest.mark.slow  # sandboxed runs, many
@pytest.mark.parametrize("test_code, program", MUTATION_CASES, ids=[f"{i // 2}-{'wrong' if i % 2 == 0 else 'honest'}"
                                                                     for i in range(len(MUTATION_CASES))])
def test_in_sandbox_checks_see_mutation_and_identity_as_python_does(verifier, test_code, program):
    r = verifier.verify(program, {"entry_point": "f", "test_code": test_code})
    assert r.mode == "assert-in-sandbox"
    assert r.reward == float(plain_python_passes(test_code, program)), (program, r.tests)


def test_an_expected_exception_keeps_the_calls_effects(verifier):
    tests = {"entry_point": "f", "expected_exceptions": ["ValueError"],
             "test_code": mirrored("xs = [1]", "try:", "    candidate(xs)", "except ValueError:", "    pass", "assert xs == [1]")}
    assert verifier.verify("def f(xs):\n    raise ValueError", tests).reward == 1.0
    assert verifier.verify("def f(xs):\n    xs.append(2)\n    raise ValueError", tests).reward == 0.0


def test_what_cannot_be_mirrored_fails_closed(verifier):
    """An argument whose changes cannot be written back fails the call, honest or not; a result that cannot
    be rebuilt (a cycle through new objects) too."""
    tests = {"entry_point": "f", "test_code": mirrored("b = bytearray(b'ab')", "candidate(b)", "assert b == bytearray(b'ab')")}
    for program in ("def f(b):\n    b[0] = 0", "def f(b):\n    return len(b)"):
        r = verifier.verify(program, tests)
        assert r.reward == 0.0 and "cannot be mirrored" in r.reason, r.reason
    cyclic = {"entry_point": "f", "test_code": mirrored("r = candidate()", "assert r[0] is r")}
    assert verifier.verify("def f():\n    r = []\n    r.append(r)\n    return r", cyclic).reward == 0.0
    immutable = {"entry_point": "f", "test_code": mirrored("b = b'ab'", "assert candidate(b) is b", "assert candidate(1j) == 1j")}
    assert verifier.verify("def f(b):\n    return b", immutable).reward == 1.0  # immutable leaves come back by reference
