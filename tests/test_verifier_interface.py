"""The one verifier interface: cases as dicts, the same for the rewards table, `rlvr verify` and Python."""

import pytest

from rlvr import rewards, tasks
from rlvr.config import ArithmeticTaskConfig, RewardSpec
from rlvr.verifiers import VERIFIERS, CodeVerifier, MathVerifier, Verifier

ADD = {"language": "python", "entry_point": "add", "tests": [{"args": [1, 2], "expected": 3}]}


def test_every_verifier_declares_the_interface_and_is_a_reward():
    task = tasks.build(ArithmeticTaskConfig())
    for kind, cls in VERIFIERS.items():
        assert issubclass(cls, Verifier) and cls.reference and cls.__dict__["__name__"] == f"{kind}_verifier"
        with pytest.raises(ValueError):
            cls.check_case({"completion": 3, cls.reference: "x"})  # a completion must be text or messages
        assert rewards.resolve(RewardSpec(name=f"{kind}_verifier"), task).name == f"{kind}_verifier"


def test_cases_are_dicts_in_python_and_as_a_reward():
    math = MathVerifier()
    try:
        results = math.verify_batch([{"completion": "\\boxed{3}", "answer": "3"}, {"completion": "4", "answer": "3"}])
        assert [r.reward for r in results] == [1.0, 0.0]
        assert math.verify("\\boxed{3}", "3").reward == 1.0
        assert math(["q", "q"], ["\\boxed{3}", "x"], answer=["3", "3"]) == [1.0, 0.0]
        with pytest.raises(ValueError, match="needs the dataset column 'answer'"):
            math(["q"], ["\\boxed{3}"], gold=["3"])
    finally:
        math.close()
    code = CodeVerifier()
    assert code(["q"], ["def add(a, b): return a + b"], tests=[ADD]) == [1.0]
    assert [r.reward for r in code.verify_batch([{"completion": "def add(a, b): return 0", "tests": ADD}])] == [0.0]


def test_command_line_references_are_read_by_the_verifier():
    assert CodeVerifier.read_reference('{"tests": []}') == {"tests": []}
    with pytest.raises(ValueError, match="tests: not valid JSON"):
        CodeVerifier.read_reference("{nope")
    assert MathVerifier.read_reference("\\frac12") == "\\frac12"
    assert CodeVerifier.cli_options(timeout_s=None, allow_unisolated=True) == {"allow_unisolated": True}
