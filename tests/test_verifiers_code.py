"""The code verifier: test formats, and every cheat scores 0 in bounded time."""

import json
import time

import pytest

from rlvr.verifiers.code import CodeVerifier, convert_asserts, extract_program
from rlvr.verifiers.sandbox import Limits

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


@pytest.mark.parametrize("name", sorted(CHEATS))
@pytest.mark.parametrize("tests", [ADD_CALL, ADD_ASSERT_SIMPLE, ADD_ASSERT_LOOP, ADD_STDIO], ids=["call", "converted", "in-sandbox", "stdio"])
def test_cheats_score_zero_promptly(verifier, name, tests):
    start = time.perf_counter()
    r = verifier.verify(f"```python\n{CHEATS[name]}\n```", tests)
    assert r.reward == 0.0, (name, r.tests)
    assert time.perf_counter() - start < PROMPT_S


@pytest.fixture(scope="module")
def fallback():
    return CodeVerifier(limits=LIMITS, use_bwrap=False)


@pytest.mark.parametrize("tests, completion", [(ADD_CALL, HONEST_ADD), (ADD_STDIO, HONEST_STDIO), (ADD_ASSERT_LOOP, HONEST_ADD)])
def test_honest_solutions_pass_without_bubblewrap(fallback, tests, completion):
    assert fallback.verify(completion, tests).reward == 1.0


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
    tests = {"language": "python", "entry_point": "f",
             "test_code": "def check(candidate):\n    assert candidate([1, 2]) == (2, 1) and type(candidate([1, 2])) is tuple\n"
                          "    assert candidate({}) == {(1, 2): {3}}\n    try:\n        candidate(None)\n"
                          "        assert False\n    except ValueError:\n        pass\n"}
    honest = ("def f(x):\n    if x is None:\n        raise ValueError('no')\n"
              "    return tuple(reversed(x)) if isinstance(x, list) else {(1, 2): {3}}")
    assert verifier.verify(honest, tests).reward == 1.0


def test_cli_verify_code(run_rlvr, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"completion": HONEST_ADD, "tests": ADD_CALL}) + "\n"
                     + json.dumps({"completion": CHEATS["sys.exit before tests"], "tests": ADD_CALL}) + "\n")
    out = [json.loads(l) for l in run_rlvr("verify", "code", "--file", str(cases)).stdout.splitlines()]
    assert [o["reward"] for o in out] == [1.0, 0.0] and out[0]["mode"] == "call"
