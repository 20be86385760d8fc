"""Tasks, the countdown evaluator, the JSONL loader, and the reward interface."""

import json
import time

import pytest

from rlvr import config, rewards, tasks
from rlvr.rewards.format import is_r1_format
from rlvr.answers import answers_equal, check_answer, extract_answer
from rlvr.tasks.countdown import check_countdown, safe_eval
from rlvr.tasks.jsonl import DatasetError, read_jsonl


def build(**task):
    return tasks.build(config.validate(config.TrainConfig, {"task": task}).task)


def test_arithmetic_is_deterministic_exact_and_held_out_disjoint():
    task = build(kind="arithmetic", operations=["add", "sub", "mul", "div"], digits=2, level=2)
    a = [task.example(i) for i in range(200)]
    assert a == [task.example(i) for i in range(200)]
    for ex in a:
        assert str(int(safe_eval(ex.columns["expression"]))) == ex.answer
    held = task.held_out(50)
    assert len(held) == 50
    assert not {e.question for e in held} & {e.question for e in a}


def test_small_problem_space_caps_held_out_and_never_trains_on_it():
    task = build(kind="arithmetic", digits=1)
    held = {e.question for e in task.held_out(1000)}
    assert 10 <= len(held) <= 40  # about 25% of the 100 single-digit products
    assert not held & {task.example(i).question for i in range(500)}


def test_arithmetic_levels_mix_difficulties_and_tag_each_example():
    task = build(kind="arithmetic", operations=["add", "mul"], digits=1, level=[1, 3])
    examples = [task.example(i) for i in range(300)]
    levels = [ex.columns["level"] for ex in examples]
    assert set(levels) == {1, 3} and 100 < levels.count(1) < 200  # drawn uniformly from the list
    for ex in examples:  # the level is the expression's number of operations
        assert ex.columns["expression"].count(" ") // 2 == ex.columns["level"]
        assert str(int(safe_eval(ex.columns["expression"]))) == ex.answer
    assert {e.columns["level"] for e in task.held_out(60)} == {1, 3}
    # one level drew the same problems before levels could be mixed
    assert build(kind="arithmetic").example(0).question == "What is 8 * 7?"
    with pytest.raises(config.ConfigError, match="level"):
        build(kind="arithmetic", level=[0, 2])
    with pytest.raises(config.ConfigError, match="level"):
        build(kind="arithmetic", level=[])


def test_countdown_problems_are_solvable_and_checked():
    task = build(kind="countdown", count=3)
    ex = task.example(0)
    nums, target = ex.columns["numbers"], ex.columns["target"]
    assert 1 <= target <= 100 and len(nums) == 3
    assert check_countdown("<answer>(3 + 5) * 2</answer>", [3, 5, 2], 16).correct
    assert check_countdown("I think: (3 + 5) * 2 = 16", [5, 3, 2], 16).correct
    assert not check_countdown("<answer>3 + 5 + 8</answer>", [3, 5, 2], 16).correct  # 8 is not given
    assert not check_countdown("<answer>(3 + 5) * 2 * 1</answer>", [3, 5, 2], 16).correct  # extra number
    assert not check_countdown("<answer>(3 + 5)</answer>", [3, 5, 2], 8).correct  # 2 unused


@pytest.mark.parametrize(
    "text", ["9**9**9", "__import__('os').system('true')", "x + 1", "(1).__class__", "2 ** 100", "1 // 0", "1 / 0", "[1]", "1" * 300]
)
def test_countdown_evaluator_rejects_everything_but_arithmetic(text):
    start = time.perf_counter()
    assert safe_eval(text) is None
    assert time.perf_counter() - start < 0.1


def test_safe_eval_exact_rationals():
    assert safe_eval("(1 + 2) / 3 * 6 - 4") == 2
    assert safe_eval("1 / 3 + 1 / 6") * 2 == 1


def write(tmp_path, lines):
    p = tmp_path / "d.jsonl"
    p.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + b"\n")
    return p


def test_jsonl_gsm8k_answers_and_extra_columns(tmp_path):
    p = write(tmp_path, [json.dumps({"question": "q1", "answer": "so 3 * 4 = 12\n#### 1,234", "id": 7}),
                         json.dumps({"prompt": "q2", "answer": 5})])
    rows = read_jsonl(p)
    assert rows[0].answer == "1234" and rows[0].columns == {"id": 7}
    assert rows[1].question == "q2" and rows[1].answer == "5"


@pytest.mark.parametrize(
    "bad, message",
    [
        ('{"question": "q", "answer": "1"}\n{"question": "q2", "answer": ', ":2: bad JSON"),
        ('{"question": "q"}', ":1: missing field 'answer'"),
        ('{"answer": "1"}', ":1: missing field 'prompt' or 'question'"),
        ("[1, 2]", ":1: expected a JSON object"),
        (b'{"question": "\xff", "answer": "1"}', ":1: not valid UTF-8"),
    ],
)
def test_jsonl_bad_rows_name_file_and_line(tmp_path, bad, message):
    p = write(tmp_path, [bad])
    with pytest.raises(DatasetError, match=message):
        read_jsonl(p)


def test_jsonl_task_holds_out_the_tail_and_shuffles_per_epoch(tmp_path):
    p = write(tmp_path, [json.dumps({"question": f"q{i}", "answer": str(i)}) for i in range(10)])
    task = build(kind="jsonl", path=str(p), held_out=3)
    held = {e.question for e in task.held_out(10)}
    assert held == {"q7", "q8", "q9"}
    epoch0 = [task.example(i).question for i in range(7)]
    assert sorted(epoch0) == sorted(f"q{i}" for i in range(7))
    assert task.example(3).question == epoch0[3]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("so \\boxed{\\frac{1}{2}} done", "\\frac{1}{2}"),
        ("\\boxed{a^{2}} then \\boxed{x_{1}+{y}}", None),  # two different boxes: a hedge, no answer
        ("so \\boxed{x_{1}+{y}}.", "x_{1}+{y}"),
        ("<think>7*8</think><answer> 56 </answer>", "56"),
        ("<answer>\\boxed{3}</answer>", "3"),
        ("work\n#### 1,000", "1,000"),
        ("The answer is 42.", "42"),
        ("7 * 8 = 56, yes", "56"),
        ("", None),
    ],
)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


def test_extract_without_fallback():
    assert extract_answer("7 * 8 = 56", fallback_last_number=False) is None


@pytest.mark.parametrize(
    "pred, gold, equal",
    [("0.5", "1/2", True), ("\\frac{1}{2}", "0.5", True), ("1,000", "1000", True), ("$12", "12", True),
     ("50\\%", "50", True), ("12 apples", "12", True), ("3", "4", False), ("-2", "2", False), ("x+1", "x + 1", True),
     ("1/0", "0", False)],
)
def test_answers_equal(pred, gold, equal):
    assert answers_equal(pred, gold) is equal


def test_format_reward():
    assert is_r1_format("<think>7*8 is 56</think>\n<answer>56</answer>")
    assert not is_r1_format("<think>a</think><answer></answer>")
    assert not is_r1_format("<think>a</think><answer>1</answer><answer>2</answer>")
    assert not is_r1_format("56")


def test_trl_signature_callables_weights_and_none():
    exs = [tasks.Example("q1", "56"), tasks.Example("q2", "12")]

    def my_len(prompts, completions, **kwargs):
        assert kwargs["answer"] == ["56", "12"]
        return [float(len(c)) for c in completions]

    def only_first(prompts, completions, **kwargs):
        return [1.0, None]

    fns = [rewards.Reward("math", rewards.math_answer, 2.0), rewards.Reward("len", my_len, 0.5),
           rewards.Reward("first", only_first, 1.0)]
    per, totals = rewards.score(fns, ["q1", "q2"], ["56", ""], exs)
    assert per["math"] == [1.0, 0.0]
    assert per["len"] == [2.0, 0.0]
    assert per["first"][0] == 1.0 and per["first"][1] != per["first"][1]  # NaN
    assert totals == [2.0 + 1.0 + 1.0, 0.0]


def test_raising_reward_reports_the_sample():
    def picky(prompts, completions, **kw):
        return [1 / 0 if c == "boom" else 1.0 for c in completions]

    exs = [tasks.Example("q1", "1"), tasks.Example("q2", "2")]
    with pytest.raises(rewards.RewardError, match=r"'picky' raised ZeroDivisionError(.|\n)*sample 1(.|\n)*boom"):
        rewards.score([rewards.Reward("picky", picky)], ["q1", "q2"], ["fine", "boom"], exs)


def test_bad_reward_return_values_are_named():
    exs = [tasks.Example("q", "1")]
    with pytest.raises(rewards.RewardError, match="returned 2 values for 1"):
        rewards.score([rewards.Reward("two", lambda prompts, completions, **k: [1.0, 1.0])], ["q"], ["c"], exs)
    with pytest.raises(rewards.RewardError, match="returned str"):
        rewards.score([rewards.Reward("s", lambda prompts, completions, **k: ["1"])], ["q"], ["c"], exs)


def test_empty_and_invalid_utf8_completions_are_scored():
    from rlvr.models import byte_tokenizer

    tok = byte_tokenizer()
    euro = tok.encode("€", add_special_tokens=False)  # 3 byte tokens
    broken = tok.decode(euro[:2])  # half a character
    assert "\ufffd" in broken
    exs = [tasks.Example("q", "5")] * 2
    per, totals = rewards.score([rewards.Reward("math", rewards.math_answer)], ["q", "q"], ["", broken], exs)
    assert totals == [0.0, 0.0]
    assert check_answer(broken + " 5", "5").correct


def test_builtin_rewards_accept_trl_conversational_completions():
    conv = [[{"role": "assistant", "content": "<think>7*8</think><answer>56</answer>"}]]
    assert rewards.math_answer(["q"], conv, answer=["56"]) == [1.0]
    assert rewards.BUILTIN["format"](["q"], conv) == [1.0]


def test_arithmetic_checker_refuses_concatenated_parentheses_and_hedges():
    # The default training reward `correct` is this checker: "What is 8 * 7?" once accepted \boxed{(5)(6)}.
    task = build(kind="arithmetic", digits=1)
    ex = tasks.Example("What is 8 * 7?", "56")
    assert task.check("7 * 8 = \\boxed{56}", ex).correct
    assert rewards.task_reward(task)(["q"], [[{"role": "assistant", "content": "\\boxed{56}"}]], answer=["56"]) == [1.0]
    for hack in ("\\boxed{(5)(6)}", "\\boxed{57} or \\boxed{56}", "<answer>57</answer> \\boxed{56}",
                 "I think it is 57 or maybe 56", "The answer is $57$ or $56$.", "\\boxed{56%0}"):
        assert not task.check(hack, ex).correct, hack
    # Round 2 (math_attack_report2 N4-N6, N10): each of these once scored 1 for 56.
    for hack in ("\\boxed 57 or \\boxed{56}", "The answer is 57. <!-- \\boxed{56} -->", "so 57 vs 56", "57 else 56",
                 "57 versus 56", "57 then 56", "The answer is $56$ unless it is $57$", "The answer is 56\nor maybe 57",
                 [{"role": "assistant", "content": "The answer is 56"}, {"role": "assistant", "content": "or 57"}]):
        assert not task.check(hack, ex).correct, hack
    assert task.check("The answer is 56.\n\nCheck: 7 * 8 = 56", ex).correct


def test_builtin_rewards_score_tool_call_and_multipart_messages():
    tool_call = [{"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "calc"}}]}]
    parts = [{"role": "assistant", "content": [{"type": "text", "text": "so \\boxed{56}"}]}]
    assert rewards.math_answer(["q"] * 3, [tool_call, parts, [{"role": "assistant"}]], answer=["56"] * 3) == [0.0, 1.0, 0.0]


def test_correct_reward_reads_chat_message_completions_for_every_task():
    from rlvr import config as config_mod, rewards, tasks

    for cfg in (config_mod.ArithmeticTaskConfig(), config_mod.CountdownTaskConfig()):
        task = tasks.build(cfg)
        ex = task.example(0)
        fn = rewards.task_reward(task)
        messages = [[{"role": "assistant", "content": f"<answer>{ex.answer}</answer>"}]]
        got = fn([ex.question], messages, [ex.answer], **{k: [v] for k, v in ex.columns.items()})
        assert got[0] in (0.0, 1.0)  # judged, not a crash on a list of messages
