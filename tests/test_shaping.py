"""Shaping rewards against hand-computed values, and their wiring through the config."""

import math

import pytest

from rlvr import config, rewards, tasks
from rlvr.rewards import shaping


def test_language_consistency_counts_letters_of_the_target_script():
    fn = shaping.language_consistency("latin")
    mixed = "<think>abcd 这是</think><answer>5</answer>"  # 4 Latin letters, 2 CJK characters
    assert fn(["q"], [mixed]) == pytest.approx([4 / 6])
    assert fn(["q"], ["<think>only english here</think>"]) == [1.0]
    assert fn(["q"], ["12 + 3 = 15"]) == [1.0]  # no letters: nothing to mix
    assert shaping.language_consistency("chinese")(["q"], [mixed]) == pytest.approx([2 / 6])
    with pytest.raises(ValueError, match="unknown script"):
        shaping.language_consistency("klingon")


def test_overlong_penalty_is_dapos_soft_ramp():
    fn = shaping.overlong_penalty(max_tokens=10, buffer_tokens=4)
    ids = [[0] * n for n in (3, 6, 7, 8, 10, 12)]
    assert fn(["q"] * 6, [""] * 6, completion_ids=ids) == pytest.approx([0, 0, -0.25, -0.5, -1.0, -1.0])
    assert fn(["q"], ["one two three four five six seven"]) == pytest.approx([-0.25])  # words without ids
    with pytest.raises(ValueError):
        shaping.overlong_penalty(max_tokens=10, buffer_tokens=0)


def test_cosine_length_scaling():
    correct = lambda prompts, completions, **kw: [1.0, 0.0, 1.0, 0.0]  # noqa: E731
    fn = shaping.cosine_length(correct, max_tokens=10, correct_short=2.0, correct_long=1.0, wrong_short=-10.0,
                               wrong_long=0.0, truncated=-10.0)
    ids = [[0] * 0, [0] * 0, [0] * 5, [0] * 10]
    got = fn(["q"] * 4, [""] * 4, completion_ids=ids)
    # n=0: start values; n=5: midpoint (cos(pi/2) = 0); n=max: truncated
    assert got == pytest.approx([2.0, -10.0, 1.5, -10.0])
    mid_wrong = fn(["q"] * 4, [""] * 4, completion_ids=[[0] * 5] * 4)[1]
    assert mid_wrong == pytest.approx(-5.0)
    assert math.isclose(fn(["q"] * 4, [""] * 4, completion_ids=[[0] * 9] * 4)[0], 1 + (1 + math.cos(0.9 * math.pi)) / 2)


def test_shaping_rewards_from_config_with_args():
    cfg = config.load(preset="smoke", overrides=[
        "rewards=[{name: correct}, {name: overlong_penalty, args: {max_tokens: 16, buffer_tokens: 4}, weight: 0.5},"
        " {name: cosine_length, args: {max_tokens: 16}}, {name: language_consistency, args: {script: latin}}]"])
    task = tasks.build(cfg.task)
    fns = [rewards.resolve(spec, task) for spec in cfg.rewards]
    ex = task.example(0)
    per, totals = rewards.score(fns, [ex.question], [ex.answer], [ex], completion_ids=[[1, 2]])
    assert per["correct"] == [1.0] and per["overlong_penalty"] == [0.0] and per["language_consistency"] == [1.0]
    assert per["cosine_length"][0] == pytest.approx(1 + (1 + math.cos(math.pi * 2 / 16)) / 2)
    bad = config.load(preset="smoke", overrides=["rewards=[{name: overlong_penalty, args: {nope: 1}}]"])
    with pytest.raises(rewards.RewardError, match="bad args"):
        rewards.resolve(bad.rewards[0], task)
