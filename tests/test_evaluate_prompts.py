"""Majority voting (maj@k) and the prompt templates, on hand-made inputs."""

import pytest

from rlvr import prompts
from rlvr.evaluate import majority_correct
from rlvr.tasks import Check


def checks(*pairs):
    return [Check(correct=c, extracted=e) for e, c in pairs]


def test_majority_vote_follows_the_most_common_answer():
    assert majority_correct(checks(("12", True), ("7", False), ("12", True))) is True
    assert majority_correct(checks(("7", False), ("12", True), ("7", False))) is False


def test_majority_vote_ties_go_to_the_first_seen_and_no_answer_is_wrong():
    assert majority_correct(checks(("7", False), ("12", True))) is False
    assert majority_correct(checks(("12", True), ("7", False))) is True
    assert majority_correct(checks((None, False), (None, False), ("12", True))) is True  # blanks don't vote
    assert majority_correct(checks((None, False), (None, False))) is False


def test_r1_zero_template_puts_the_question_after_the_format_instruction():
    text = prompts.render("What is 3 * 4?", template="r1_zero", tokenizer=None)
    assert "<think>" in text and "<answer>" in text
    assert text.endswith("User: What is 3 * 4?\nAssistant:")
    assert text.index("<answer>") < text.index("What is 3 * 4?")


def test_plain_and_unknown_templates():
    assert prompts.render("q", template="plain", tokenizer=None) == "q"
    with pytest.raises(prompts.PromptError, match="unknown prompt template 'nope'"):
        prompts.render("q", template="nope", tokenizer=None)
    with pytest.raises(prompts.PromptError, match="no chat template"):
        prompts.render("q", template="chat", tokenizer=object())
