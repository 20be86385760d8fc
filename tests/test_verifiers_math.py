"""The math verifier: the labelled set, hedging, hard timeouts, the worker pool and `rlvr verify math`."""

import json
import os
import time
from pathlib import Path

import pytest

from rlvr.verifiers import MathVerifier
from rlvr.verifiers.pool import WorkerPool

CASES = [json.loads(l) for l in (Path(__file__).parent / "data" / "math_cases.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def verifier():
    v = MathVerifier(timeout_s=2.0)
    yield v
    v.close()


def test_labelled_set_precision_and_recall(verifier):
    assert len(CASES) >= 150
    rewards = [r.reward for r in verifier.verify_batch(CASES)]
    tp = sum(1 for c, r in zip(CASES, rewards) if c["label"] == 1 and r == 1)
    fp = sum(1 for c, r in zip(CASES, rewards) if c["label"] == 0 and r == 1)
    fn = sum(1 for c, r in zip(CASES, rewards) if c["label"] == 1 and r != 1)
    wrong = [(c["completion"][-50:], c["answer"]) for c, r in zip(CASES, rewards) if (r == 1) != (c["label"] == 1)]
    assert tp / (tp + fp) >= 0.99 and tp / (tp + fn) >= 0.97, wrong


@pytest.mark.parametrize("completion, reason", [
    ("\\boxed{3} or \\boxed{4}", "several different boxed answers"),
    ("\\boxed{3 \\text{ or } 4}", "hedged with 'or'"),
    ("\\boxed{}", "empty box"),
    ("\\boxed{3, 4}", "not equal"),
])
def test_hedging_scores_zero_with_a_reason(verifier, completion, reason):
    r = verifier.verify(completion, "3")
    assert r.reward == 0.0 and r.reason == reason


def test_huge_expression_times_out_to_zero_quickly():
    v = MathVerifier(timeout_s=1.0)
    try:
        start = time.perf_counter()
        r = v.verify("\\boxed{9^{9^{9^9}}}", "1")
        assert r.reward == 0.0 and r.reason == "timeout"
        assert time.perf_counter() - start < 5
        assert v.verify("\\boxed{2x+2}", "2(x+1)").reward == 1.0  # the pool recovered
    finally:
        v.close()


@pytest.mark.parametrize("completion, gold, reward", [
    ("\\boxed{" + "1" * 100_000 + "}", "1", 0.0),  # past Python's int-string limit: once a crash
    ("\\boxed{" + "1" * 99_000 + "}", "1" * 99_000, 1.0),  # under MAX_COMPLETION_CHARS (100,000)
    ("\\boxed{" + "1" * 100_000 + "}", "1" * 100_000, 0.0),  # over it: "completion too long"
    ("\\boxed{" + "{" * 50_000 + "}" * 50_000 + "}", "1", 0.0),
    ("\\boxed{1}" * 10_000, "1", 1.0),
    ("\\boxed{1." + "0" * 3000 + "1}", "1", 0.0),
])
def test_pathological_inputs_neither_raise_nor_stall(verifier, completion, gold, reward):
    start = time.perf_counter()
    assert verifier.verify(completion, gold).reward == reward
    assert time.perf_counter() - start < 5


def test_details_name_what_was_compared(verifier):
    r = verifier.verify("<answer>\\frac{6}{8}</answer>", "0.75")
    assert (r.reward, r.extracted, r.gold, r.method) == (1.0, "\\frac{6}{8}", "0.75", "numeric")


def test_as_a_reward_function(verifier):
    conv = [[{"role": "assistant", "content": "\\boxed{5}"}], "#### 6"]
    assert verifier(["q", "q"], conv, answer=["5", "5"]) == [1.0, 0.0]


def _sleepy(job):
    if job == "hang":
        while True:
            time.sleep(1)
    if job == "die":
        os._exit(3)
    if job == "raise":
        raise ValueError("bad job")
    return job * 2


def test_pool_kills_overrunning_and_dead_workers_and_keeps_going():
    with WorkerPool(_sleepy, workers=2, timeout_s=0.5) as pool:
        start = time.perf_counter()
        out = pool.map([1, "hang", 2, "die", "raise", 3])
        assert time.perf_counter() - start < 5
        assert [o.value for o in out if o.error is None] == [2, 4, 6]
        assert [o.error for o in out][1] == "timeout"
        assert out[3].error == "worker died"
        assert out[4].ok and out[4].error == "ValueError: bad job"
        assert [o.value for o in pool.map([5, 6])] == [10, 12]


@pytest.mark.slow  # a CLI subprocess
def test_cli_verify_math_file_and_single(run_rlvr, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"completion": "\\boxed{2x+2}", "answer": "2(x+1)"}) + "\n"
        + json.dumps({"completion": "#### 7", "answer": "8"}) + "\n"
        + json.dumps({"completion": "The answer is 3.", "answer": "3"}) + "\n"
    )
    out = [json.loads(l) for l in run_rlvr("verify", "math", "--file", str(cases)).stdout.splitlines()]
    assert [o["reward"] for o in out] == [1.0, 0.0, 1.0]
    single = json.loads(run_rlvr("verify", "math", "--completion", "so \\boxed{0.5}", "--answer", "\\frac{1}{2}").stdout)
    assert single["reward"] == 1.0 and single["extracted"] == "0.5"


@pytest.mark.slow  # a CLI subprocess
def test_cli_verify_bad_line_names_it(run_rlvr, tmp_path):
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"completion": "1", "answer": "1"}\n{"completion": "1"\n')
    proc = run_rlvr("verify", "math", "--file", str(cases), check=False)
    assert proc.returncode == 1 and f"{cases}:2: bad JSON" in proc.stderr


def test_math_verifier_is_a_builtin_reward():
    from rlvr import config, rewards, tasks

    cfg = config.load(preset="smoke", overrides=["rewards=[{name: math_verifier}]"])
    reward = rewards.resolve(cfg.rewards[0], tasks.build(cfg.task))
    try:
        per, totals = rewards.score([reward], ["q"], ["\\boxed{\\frac{12}{2}}"], [tasks.Example("q", "6")])
        assert totals == [1.0]
    finally:
        reward.fn.close()


@pytest.mark.parametrize("kind, line, message", [
    ("math", {"completion": 3, "answer": "3"}, "completion: expected text"),
    ("math", {"completion": "3", "answer": [3]}, "answer: expected text or a number, got list"),
    ("code", {"completion": "x", "tests": "nope"}, "tests: expected a JSON object, got str"),
    ("code", {"completion": "x", "tests": {"entry_point": "f", "tests": [{"args": 1, "expected": 1}]}},
     "tests[0] needs 'args' (a list)"),
    ("proof", {"completion": "x", "statement": "Theorem t : True.", "prover": "isabelle"}, "'isabelle' is not one of coq, lean"),
    ("proof", {"completion": "x", "statement": "Lemma foo nat"}, "not a theorem statement"),
])
def test_cli_verify_bad_case_names_its_line_before_running_anything(tmp_path, capsys, kind, line, message):
    from rlvr.cli import main

    cases = tmp_path / "cases.jsonl"
    good = {"math": {"completion": "1", "answer": "1"}, "code": {"completion": "x", "tests": {"tests": [{"input": "", "output": ""}]}},
            "proof": {"completion": "x", "statement": "Theorem t : True."}}[kind]
    cases.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    assert main(["verify", kind, "--file", str(cases)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and f"{cases}:2: " in out.err and message in out.err


# ---------------------------------------------------------------- issue 8: weakness classes, outside cases, attacks

OUTSIDE = [json.loads(l) for l in (Path(__file__).parent / "data" / "math_outside_cases.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_outside_cases_no_false_positive_and_recall_above_math_verify(verifier):
    # Pairs and verdicts published in other projects' tests (each row names its source). math-verify 0.9 recalls
    # 0.874 of them with 5 false positives (benchmarks/math_verifier.py).
    rewards = [r.reward for r in verifier.verify_batch(OUTSIDE)]
    fps = [(c["completion"], c["answer"]) for c, r in zip(OUTSIDE, rewards) if c["label"] == 0 and r == 1]
    fns = [(c["completion"], c["answer"]) for c, r in zip(OUTSIDE, rewards) if c["label"] == 1 and r != 1]
    positives = sum(c["label"] for c in OUTSIDE)
    assert len(OUTSIDE) >= 230 and not fps, fps
    assert 1 - len(fns) / positives >= 0.93, fns


@pytest.mark.parametrize("completion, gold, reward", [
    # letters are never units glued to a number; a unit word apart from it is
    ("\\boxed{2x}", "2", 0.0), ("\\boxed{2i}", "2", 0.0), ("\\boxed{3n}", "3", 0.0), ("\\boxed{10m}", "10", 0.0),
    ("\\boxed{10 \\text{ m}}", "10", 1.0), ("\\boxed{2x}", "2x", 1.0),
    # mixed numbers: whole number then a proper fraction
    ("\\boxed{2 1/2}", "21/2", 0.0), ("\\boxed{2 1/2}", "5/2", 1.0), ("The answer is 4 4/9.", "40/9", 1.0),
    ("11 7/6", "7/6", 0.0),
    # relations and labelled values on either side
    ("\\boxed{5 \\ge x}", "x \\le 5", 1.0), ("\\boxed{5 \\le x}", "x \\le 5", 0.0),
    ("\\boxed{y=-\\frac{1}{2}x+\\frac{3}{4}}", "2x+4y-3=0", 1.0), ("\\boxed{(p,q)=(3,2)}", "(3,2)", 1.0),
    ("\\boxed{f(x)=1}", "1", 1.0), ("\\boxed{x \\in [-2,7]}", "-2 \\le x \\le 7", 1.0),
    ("\\boxed{x < 3}", "(-\\infty, 3)", 1.0), ("\\boxed{x = 1, y = 2}", "(1, 2)", 1.0), ("\\boxed{5 \\mathrm{~cm}}", "5", 1.0),
    # golds written with delimiters or in prose
    ("\\boxed{(0,1)}", "$D = (0, 1)$", 1.0), ("\\boxed{14916}", "The final answer is $14{,}916$.", 1.0),
    ("\\boxed{5}", "\\(5\\)", 1.0), ("\\boxed{1,2}", "$\\boxed{1}\\boxed{2}$", 1.0),
    # LaTeX shorthand
    ("\\boxed{\\frac13}", "1/3", 1.0), ("\\boxed{\\sqrt3}", "\\sqrt{3}", 1.0), ("\\boxed{\\frac94\\pi}", "\\frac{9}{4}\\pi", 1.0),
    # "or" lists when the gold is one, in any order
    ("\\boxed{x=3 \\text{ or } x=-2}", "-2 \\text{ or } 3", 1.0), ("\\boxed{-2, 3}", "3 or -2", 1.0),
    ("\\boxed{-2, 4}", "3 or -2", 0.0),
    # a decimal gold against an exact answer, and back
    ("\\boxed{\\sqrt{17}}", "4.123105625617661", 1.0), ("\\boxed{\\sqrt{17}}", "4.12", 0.0),
    ("0.0833333333333333", "\\frac{1}{12}", 1.0), ("\\boxed{7.0000001}", "7", 0.0),
    # percent: 28% is 28 (the usual gold) and 0.28, on either side; a bare 28 is not 0.28
    ("\\boxed{28\\%}", "0.28", 1.0), ("\\boxed{0.28}", "28\\%", 1.0), ("\\boxed{28}", "0.28", 0.0),
    # intervals joined by a union are not a tuple
    ("\\boxed{(2,12) \\cup (12,102)}", "(2, 12) \\cup (12, 102)", 1.0),
    ("\\boxed{(2,12) \\cup (12,103)}", "(2, 12) \\cup (12, 102)", 0.0),
    # prose answers and bare formulas
    ("Final Answer: The final answer is $28 \\%$. I hope it is correct.", "28", 1.0),
    ("Final Answer: The largest $n$ is 34.", "34", 1.0), ("\\frac{10}{9}", "10/9", 1.0), ("$\\frac{1}{3},$", "1/3", 1.0),
    ("AZYUK2A", "2", 0.0),
])
def test_weakness_classes(verifier, completion, gold, reward):
    assert verifier.verify(completion, gold).reward == reward


def test_nested_radicals_compare_fast(verifier):
    # sympy's simplify takes seconds on these; the numeric-first comparison in the workers does not.
    start = time.perf_counter()
    equal = verifier.verify("\\boxed{\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}(15-2\\sqrt{33})}{93}}",
                            "\\frac{\\sqrt{\\sqrt{11}+\\sqrt{194}}}{15+2\\sqrt{33}}")
    other = verifier.verify("\\boxed{\\sqrt{2}+\\sqrt{3.0001}}", "\\sqrt{5+2\\sqrt{6}}")
    assert (equal.reward, other.reward) == (1.0, 0.0) and equal.reason == "" and other.reason == "not equal"
    assert time.perf_counter() - start < 1.5


@pytest.mark.parametrize("completion, gold, reason", [
    ("\\boxed{2х}", "2", "character '\\u0445' outside the answer alphabet"),  # Cyrillic х: parsed as 2
    ("\\boxed{5\u200b}", "5", "character '\\u200b' outside the answer alphabet"),  # zero-width space
    ("\\boxed{\\color{white}{6} 5}", "5", "macro that defines or hides text"),  # renders as 5, says "6 5"
    ("\\newcommand{\\ans}{5}\\boxed{\\def\\ans{5}\\ans}", "5", "macro that defines or hides text"),
    ("\\boxed{\\sqrt{2}+10^{-100}}", "\\sqrt{2}", "not equal"),  # math-verify's 15-digit chop calls it equal
    ("\\boxed{\\frac{1}{2006!}+\\sqrt{2}}", "\\frac{1}{2004!}+\\sqrt{2}", "not equal"),  # likewise
    ("\\boxed{\\sqrt{2}\\cdot(\\sqrt{2}+10^{-300})}", "2", "not equal"),  # below evalf's reach: literal too small
    ("\\boxed{\\text{not } 5}", "5", "words in the answer: 'not'"),
    ("\\boxed{3 \\text{ (not } 4)}", "4", "words in the answer: '(not'"),  # math-verify reads it as 4
    ("\\boxed{2\\mathrm{i}}", "2", "words in the answer: 'i'"),  # a one-letter \\text is no unit
    ("\\boxed{2 \\text{ x}}", "2", "words in the answer: 'x'"),
    ("\\boxed{5 \\text{ m}}", "5 \\text{ cm}", "different unit"),
    ("\\boxed{3 \\vee 4}", "4", "hedged with 'or'"),
    ("\\boxed{5 \\text{ or maybe } 6}", "5", "hedged with 'or'"),
    ("\\boxed{x \\in \\{5, 6\\}}", "5", "not equal"),  # a set where a number is expected
    ("<answer>5</answer> on second thought <answer>6</answer>", "5", "several different answers"),
])
def test_attacks_score_zero(verifier, completion, gold, reason):
    r = verifier.verify(completion, gold)
    assert r.reward == 0.0 and r.reason == reason, r


def test_huge_prose_without_an_answer_is_quick(verifier):
    start = time.perf_counter()
    r = verifier.verify("\\boxed{" + "1 " * 49_000 + "}", "1")  # once a 2 s worker timeout after 1.4 s of parsing
    assert r.reward == 0.0 and r.reason == "answer over 2000 characters"
    assert verifier.verify("x" * 99_000 + " 7", "7").reward == 1.0  # the last number still counts
    r = verifier.verify("x" * 1_000_000 + " 7", "7")  # over answers.MAX_COMPLETION_CHARS: refused unread
    assert r.reward == 0.0 and r.reason == "completion too long (over 100000 characters)"
    assert time.perf_counter() - start < 3


def test_minerva_phrase_is_matched_in_linear_time(verifier):
    # The phrase's tail was `(\D*)` under fullmatch: quadratic (110 KB took 6.4 s, 440 KB 90 s).
    payload = "The answer is 5" + ". I hope it is correct" * 4_500 + " 7"  # 99 KB, under the length cap
    start = time.perf_counter()
    assert verifier.verify(payload, "5").reward == 0.0
    assert verifier.verify(payload[:-2] * 4 + " 7", "5").reward == 0.0  # 440 KB: over the cap
    assert time.perf_counter() - start < 0.5


@pytest.mark.parametrize("completion, gold", [
    ("\\boxed{4.1231056256}", "4.1231056256"),
    ("\\boxed{\\sqrt{17}}", "4.1231056256"),  # a decimal gold with 11 significant digits stands for sqrt 17
    ("\\boxed{\\pi}", "3.14159"),  # 6 significant digits: MIN_GOLD_DIGITS
    ("\\boxed{\\frac52}", "2.5"),  # a short decimal gold still matches its exact value
    ("\\boxed{5\\text{ Meters}}", "5"),  # unit words match in any case ...
    ("\\boxed{5\\text{ HOURS}}", "5"),
    ("\\boxed{5\\text{ mL}}", "5"),  # ... symbols as written
    ("\\boxed{f'(x)}", "f'(x)"),  # a prime the gold uses too
    ("The final answer is 5. I hope it is correct.", "5"),
    ("Final Answer: The final answer is $12,000,023$. I hope it is correct. ", "12000023"),
    ("<answer>The answer is \\boxed{5}.</answer>", "5"),  # a tag holding a box and nothing that hedges
    ("<answer>5</answer> then <answer>$5$</answer> \\boxed{5}", "5"),  # several tags that agree
    ("\\boxed{10^{-2}}", "0.01"),  # an exact rational against a short decimal gold: exactly equal
    ("The final answer is 5. I hope it is correct.<|im_end|>", "5"),
])
def test_round2_fixes_keep_right_answers(verifier, completion, gold):
    r = verifier.verify(completion, gold)
    assert r.reward == 1.0, r


def test_short_decimal_gold_refuses_an_irrational_near_it(verifier):
    r = verifier.verify("\\boxed{\\sqrt{2}}", "1.41")  # 3 significant digits: sqrt 2 is not 1.41
    assert r.reward == 0.0, r
    assert verifier.verify("\\boxed{\\sqrt{2}}", "1.414214").reward == 1.0


@pytest.mark.slow
def test_differential_against_math_verify_every_disagreement_triaged(verifier):
    # 600 generated pairs whose label is known by construction (tests/data/math_differential.py): rlvr must get
    # every one right, and each pair where math-verify's verdict differs from rlvr's must be the triaged list.
    import sys

    sys.path[:0] = [str(Path(__file__).parent / "data"), str(Path(__file__).parents[1] / "benchmarks")]
    from math_differential import disagreements, pairs
    from math_verifier import math_verify_rewards

    cases = pairs()
    ours = [r.reward for r in verifier.verify_batch([{"completion": c, "answer": g} for c, g, _ in cases])]
    assert [(c, g) for (c, g, l), r in zip(cases, ours) if (r == 1) != (l == 1)] == []
    theirs = math_verify_rewards([{"completion": c, "answer": g} for c, g, _ in cases])
    triaged = [json.loads(l) for l in (Path(__file__).parent / "data" / "math_disagreements.jsonl").read_text().splitlines()]
    found = {(d["completion"], d["answer"]) for d in disagreements(cases, ours, theirs)}
    assert found == {(d["completion"], d["answer"]) for d in triaged}
    assert all(d["right"] in ("rlvr", "math_verify") and d["why"] for d in triaged)


# ---------------------------------------------------------------- attack report on 74b472e: each class closed by design

ATTACKS = [json.loads(l) for l in (Path(__file__).parent / "data" / "math_attack_cases.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", ATTACKS, ids=[f"{c['class'][:3].strip()}-{i}" for i, c in enumerate(ATTACKS)])
def test_attack_report_payloads_score_zero(verifier, case):
    # Every payload of the report that concerns this module (each scored 1.0 at 74b472e), grouped by class.
    r = verifier.verify(case["completion"], case["answer"])
    assert r.reward == 0.0 and r.reason, r


def _pred_expr(pred):
    import sympy

    from rlvr.verifiers.math import _parse

    return next((x for x in _parse(pred, trusted=False) if isinstance(x, (sympy.Basic, sympy.MatrixBase))), None)


@pytest.mark.parametrize("case", [c for c in ATTACKS if c["class"].startswith(("W4", "W5"))
                                  and not any(s in c["completion"] for s in ("=", "\\equiv"))])
def test_consumption_check_alone_catches_what_the_parser_drops(case):
    # (a)+(c) without the connective list: the prediction is read as LaTeX only (no bare number pulled out of
    # text it could not read), and a parse that lost a number, a letter or \pi is refused. Equations are the
    # other mechanism (every side must be equal), tested below.
    from rlvr.verifiers.math import unread

    pred = case["completion"].removeprefix("\\boxed{").removesuffix("}")
    expr = _pred_expr(pred)
    assert expr is None or unread(pred, expr), (pred, expr)


@pytest.mark.parametrize("pred, parsed_as", [("5 \\approx 7", "5"), ("5$ $7", "7"), ("x \\approx 5", "5"),
                                              ("2\\sqrt{3} \\approx \\pi", "2\\sqrt{3}"), ("\\frac{1}{2}x", None)])
def test_unread_names_what_the_parse_lost(pred, parsed_as):
    import sympy

    from rlvr.verifiers.math import _parse, unread

    expr = _pred_expr(parsed_as) if parsed_as else _pred_expr(pred)
    assert bool(unread(pred, expr)) == (parsed_as is not None)
    assert not any(isinstance(x, sympy.Basic) for x in _parse("\\neq 5", trusted=False))  # no expression extractor


@pytest.mark.parametrize("completion, gold, reason", [
    ("\\boxed{\\neq 5}", "5", "connective the gold does not use: '\\\\neq'"),
    ("\\boxed{5 ~ 7}", "7", "the parser could not read the whole answer (the answer)"),
    ("\\boxed{x=6=5}", "5", "an equation whose sides differ"),
    ("\\boxed{2\\sqrt{3} = \\pi}", "\\pi", "an equation whose sides differ"),
    ("\\boxed{5 \\text{ thousand}}", "5", "words in the answer: 'thousand'"),
    ("\\boxed{5\\hbox{ thousand}}", "5", "words in the answer: 'thousand'"),
    ("\\boxed{5$ $7}", "7", "a '$' inside the answer"),
    ("\\boxed{101₂}", "1012", "character '\\u2082' outside the answer alphabet"),
    ("\\boxed{y=1, x=2}", "(1, 2)", "not equal"),
    ("\\boxed{x < 5}", "5", "an inequality where a value is expected"),
])
def test_attack_classes_name_their_reason(verifier, completion, gold, reason):
    r = verifier.verify(completion, gold)
    assert r.reward == 0.0 and r.reason == reason, r


@pytest.mark.parametrize("completion, gold", [
    ("\\boxed{3²}", "9"), ("\\boxed{3^2}", "9"),  # a superscript is a power (W7)
    ("\\boxed{y = 2, x = 1}", "(1, 2)"), ("\\boxed{(y, x) = (2, 1)}", "(1, 2)"), ("\\boxed{x=1, y=2}", "(1,2)"),  # W11
    ("\\boxed{1, 2, 2}", "2, 1, 2"),  # W17: same multiset
    ("\\boxed{5\\text{ inches}}", "5"), ("\\boxed{5\\text{ cm}^2}", "5"), ("\\boxed{12\\text{ dollars}}", "12"),  # W3
    ("\\boxed{3 \\text{ m/s}}", "3"), ("\\boxed{4\\,\\text{square meters}}", "4"),
    ("\\boxed{0.5\\%}", "0.5\\%"), ("\\boxed{28\\%}", "0.28"),  # W1
    ("\\boxed{333333.3}", "\\frac{1000000}{3}"), ("\\boxed{3.4641016}", "2\\sqrt{3}"), ("\\boxed{2\\sqrt{3}}", "3.4641016"),
    ("\\boxed{4.5\\cdot 2}", "9"), ("\\boxed{\\sqrt{25.0}}", "5"), ("\\boxed{10^{-2}}", "0.01"),  # W6: exact decimals
    ("\\boxed{\\frac{6}{8}}", "\\frac{3}{4}"), ("\\boxed{\\frac94\\pi}", "\\frac{9\\pi}{4}"), ("\\boxed{\\sqrt[3]{2}}", "2^{1/3}"),
    ("\\boxed{\\frac{1}{2}x}", "\\frac{x}{2}"), ("\\boxed{a_1+1}", "1+a_1"), ("\\boxed{\\binom{5}{2}}", "10"),
    ("\\boxed{\\sqrt{4} = 2}", "2"), ("\\boxed{x = 2 + 3 = 5}", "5"),  # every side equal
    ("\\boxed{E}", "E"), ("\\boxed{(E)}", "E"), ("\\boxed{e}", "e"),
    ("\\boxed{\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}}", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}"),
    ("\\boxed{x \\neq 3}", "x != 3"), ("\\boxed{1 000}", "1000"), ("$1,000.99", "1000.99"), ("28 %", "28\\%"),
    ("Final Answer: The final answer is 12,000,023. I hope it is correct. <|im_start|>user", "12000023"),  # Minerva
])
def test_answers_the_attack_fixes_keep(verifier, completion, gold):
    r = verifier.verify(completion, gold)
    assert r.reward == 1.0, r


def test_written_decimal_must_be_the_value_rounded_with_enough_digits():
    from fractions import Fraction

    from rlvr.verifiers.math import approximates

    third = Fraction(1_000_000, 3)
    assert not approximates(Fraction("333333.0"), 1, third)  # off by 0.33: more than one unit in the last place
    assert approximates(Fraction("333333.3"), 1, third) and approximates(Fraction("333333.33"), 2, third)
    assert approximates(Fraction("0.0833333"), 7, Fraction(1, 12))  # truncated
    assert not approximates(Fraction("0.33"), 2, Fraction(1, 3))  # rounded, but two significant digits
    assert not approximates(Fraction("0.0833334"), 7, Fraction(1, 12))  # neither rounded nor truncated


@pytest.mark.parametrize("completion", ["\\boxed{" * 4000, "\\boxed{5" + " " * 32000 + "x}"])
def test_quadratic_inputs_are_linear_now(verifier, completion):
    # S1: all_boxed paired braces once per unclosed box (7.9 s); S4: two adjacent \s* in the unit regex (4.1 s)
    start = time.perf_counter()
    assert verifier.verify(completion, "5").reward == 0.0
    assert time.perf_counter() - start < 0.5


def test_text_in_an_html_comment_is_no_answer(verifier):
    # rendered Markdown shows only "6": the boxed 5 inside the comment must not be what is scored
    assert verifier.verify("The answer is 6. <!-- \\boxed{5} -->", "5").reward == 0.0
    assert verifier.verify("The answer is 6. <!-- \\boxed{5} -->", "6").reward == 1.0
    assert verifier.verify("\\boxed{5} <!-- unclosed \\boxed{7}", "5").reward == 1.0
