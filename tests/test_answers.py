"""The light answer checker (rlvr.answers) against the attacks on it: each class of payload scored 1 (or raised,
or stalled) before the fix; the honest answers next to them keep scoring 1."""

import time

import pytest

from rlvr.answers import (check_answer, completion_text, extract_answer, last_tag, math_spans, normalize, to_number,
                          unmarked_answer)


def score(completion, gold):
    return check_answer(completion, gold).correct


# ---------------------------------------------------------------- W2: a number is a number only if its text is one


@pytest.mark.parametrize("text", ["(1)(5)", "2(3)", "1(000000)", "(5)(6)", "((5))", "5(", "-(5)(6)"])
def test_parentheses_inside_a_number_are_not_deleted(text):
    assert to_number(text) is None


@pytest.mark.parametrize("pred, gold", [("(1)(5)", "15"), ("2(3)", "23"), ("1(000000)", "1000000"),
                                        ("\\frac{(1)(2)}{5}", "\\frac{12}{5}"), ("(5)(6)", "56")])
def test_juxtaposed_parentheses_do_not_concatenate_digits(pred, gold):
    assert not score(f"So \\boxed{{{pred}}}", gold)


@pytest.mark.parametrize("pred, value", [("(-3)", -3), ("-(-56)", 56), ("-(3)", -3), ("(1/2)", 0.5),
                                         ("-\\frac{1}{2}", -0.5), ("\\frac{-1}{4}", -0.25), ("(1)/(2)", 0.5)])
def test_one_pair_of_enclosing_parentheses_is_still_a_number(pred, value):
    assert to_number(pred) == value
    assert score(f"\\boxed{{{pred}}}", str(value))


# ---------------------------------------------------------------- W8/W9: hedges in the region the answer came from


@pytest.mark.parametrize("text", ["The answer is $5$ or $6$.", "#### $5$ or $6$", "I think it is 5 or maybe 6",
                                  "It is 5. Or maybe 6.", "The answer is $5$, but it could be $6$.",
                                  "The answer is $5$, $6$.", "The answer is $5$ and $6$.", "so the numbers are 5 and 6",
                                  "#### $5$ \\lor $6$", "The answer: $6$ or perhaps $5$"])
def test_hedged_prose_scores_zero_against_either_value(text):
    for gold in ("5", "6"):
        result = check_answer(text, gold)
        assert not result.correct and result.extracted is None, (text, gold)


def test_hedge_reason_is_available():
    from rlvr.answers import extract_with_reason, unmarked_with_reason

    assert unmarked_with_reason("The answer is $5$ or $6$.", fallback_last_number=True) == (None, "hedged: '5' or '6'")
    assert extract_with_reason("I think it is 5 or maybe 6") == (None, "hedged: '5' or '6'")
    assert check_answer("#### $5$ or $6$", "5").reason == "hedged: '5' or '6'"
    assert unmarked_answer("#### $5$ or $6$", fallback_last_number=False) is None  # the old interface: no answer


@pytest.mark.parametrize("text, gold", [("So 12 + 5 = 17", "17"), ("We add 3 and 4 to get 7", "7"),
                                        ("The answer is $5$, since $2+3=5$.", "5"), ("The answer is 42.", "42"),
                                        ("The largest $n$ is 34.", "34"), ("is $28\\%$. I hope it is correct.", "28"),
                                        ("It is 6 or 6.0, the same", "6"), ("It could be anything; after checking, 7", "7"),
                                        ("#### 1,000", "1000"), ("The answer is $\\frac{1}{2}$, or $0.5$.", "0.5")])
def test_plain_answers_near_other_numbers_still_score(text, gold):
    assert score(text, gold), text


# ---------------------------------------------------------------- W10: a % or degree mark is a unit only at the end


@pytest.mark.parametrize("pred, gold", [("5%0", "50"), ("5%0", "5"), ("5\\%0", "50"), ("5^\\circ0", "50"),
                                        ("5^{\\circ}0", "50"), ("5%%", "5")])
def test_percent_or_degree_inside_a_number_does_not_vanish(pred, gold):
    assert not score(f"\\boxed{{{pred}}}", gold)
    assert to_number(pred) is None


@pytest.mark.parametrize("pred", ["50\\%", "50%", "50 \\%.", "50^\\circ", "50^{\\circ}", "50°"])
def test_trailing_percent_or_degree_is_a_unit(pred):
    assert score(f"\\boxed{{{pred}}}", "50")
    assert normalize(pred) == "50"


# ---------------------------------------------------------------- W13: several different boxes or tags


@pytest.mark.parametrize("text", ["\\boxed{57} or \\boxed{56}", "<answer>57</answer> \\boxed{56}",
                                  "\\boxed{56} <answer>57</answer>", "<answer>57</answer><answer>56</answer>",
                                  "\\boxed{57} <answer>\\boxed{56}</answer>", "\\fbox{57} \\boxed{56}"])
def test_several_different_final_answers_score_zero(text):
    assert check_answer(text, "56") == check_answer(text, "57")
    assert not score(text, "56") and not score(text, "57")


@pytest.mark.parametrize("text, gold", [("\\boxed{\\frac{1}{2}} = \\boxed{0.5}", "1/2"), ("\\boxed{\\boxed{5}}", "5"),
                                        ("<answer>56</answer> so \\boxed{56}", "56"), ("\\boxed{56} \\boxed{56}", "56"),
                                        ("<answer>\\boxed{56}</answer>", "56"), ("<answer> 56 </answer>", "56")])
def test_boxes_and_tags_that_agree_are_one_answer(text, gold):
    assert score(text, gold)


# ---------------------------------------------------------------- C1/C2: nothing a completion carries raises


@pytest.mark.parametrize("text", ["\\boxed{" + "1" * 4301 + " 1/2}", "\\boxed{" + "1" * 5000 + "\\frac{1}{2}}",
                                  "\\boxed{" + "1" * 5000 + "/" + "3" * 5000 + "}", "\\boxed{0." + "1" * 5000 + "}",
                                  "#### " + "9" * 30000, "\\boxed{(" + "1" * 5000 + ")}"])
def test_huge_numbers_never_raise(text):
    assert check_answer(text, "5").correct is False
    assert check_answer(text, "1" * 5000).correct in (True, False)


def test_huge_numbers_compare_exactly():
    n = "1" * 6000
    assert score(f"\\boxed{{{n}}}", f"{n}.0") and not score(f"\\boxed{{{n}}}", n[:-1] + "2")
    repunit = (10**6000 - 1) // 9  # 111…1, built without str -> int (over Python's 4,300-digit limit)
    assert to_number(n) == repunit and to_number(f"{n} 1/2") == repunit + to_number("1/2")
    assert to_number("1" * 30000) is None  # over MAX_NUMBER_CHARS: not read as a number (string comparison only)


@pytest.mark.parametrize("completion, text", [
    ([{"role": "assistant", "content": None}], ""),
    ([{"role": "assistant", "content": [{"type": "text", "text": "so "}, {"type": "text", "text": "\\boxed{5}"}]}],
     "so \n\\boxed{5}"),
    ([{"role": "assistant", "content": [{"type": "image_url"}, "5", {"type": "text", "text": 5}, None]}], ""),
    ([{"role": "assistant", "content": 5}, "junk", None, {"role": "user", "content": "5"}], ""),
    (None, ""), (5, ""), ({"content": "5"}, ""),
])
def test_completion_text_of_odd_messages_is_text_never_an_error(completion, text):
    assert completion_text(completion) == text
    assert check_answer(completion, "5").correct is (text == "so \n\\boxed{5}")


def test_messages_are_joined_apart_so_digits_never_merge():
    msgs = [{"role": "assistant", "content": "it is 5"}, {"role": "assistant", "content": "6"}]
    assert not score(msgs, "56")


# ---------------------------------------------------------------- S2/S3: linear time on pathological text

PATHOLOGICAL = ["\\(", "\\[", "<answer>", "\\boxed{", "$$", "$", "$1\n", "1 or ", "$1$ or ", "1,", "\\boxed{1",
                "answer is\n", "#### ", "\\text{", "\\frac{", "{", "\\", "<answer>1</answer>", "\\boxed{1}"]


@pytest.mark.parametrize("unit", PATHOLOGICAL)
def test_100kb_of_a_pathological_pattern_returns_fast(unit):
    text = unit * (99_000 // len(unit))  # just under MAX_COMPLETION_CHARS, so extraction really runs
    helpers = [lambda: check_answer(text, "5"), lambda: math_spans(text), lambda: last_tag(text, "answer"),
               lambda: unmarked_answer(text, fallback_last_number=True), lambda: normalize(text),
               lambda: to_number(text)]
    for helper in helpers:
        best = min(_seconds(helper) for _ in range(2))  # best of two: the CI machine's 2 cores are shared
        assert best < 0.5, (unit, best)  # the quadratic versions took 6-8 s at a third of this size


@pytest.mark.parametrize("text", ["answer is:" + "\n" * 99_000, "1" * 99_000 + "a", "$5" + " " * 99_000 + ".$",
                                  "\\boxed{5" + " " * 99_000 + "x}", "5" + "%" * 99_000, "%" * 99_000 + "5",
                                  "<answer>" + "1" * 99_000 + "</answer>", "1/" * 49_000 + "a"])
def test_100kb_of_one_long_run_returns_fast(text):
    for helper in (lambda: check_answer(text, "5"), lambda: normalize(text), lambda: math_spans(text)):
        assert min(_seconds(helper) for _ in range(2)) < 0.5


def test_closed_nested_boxes_and_box_helpers_are_linear():
    from rlvr.answers import all_boxed, box_spans, boxed_answer

    nested = "\\boxed{1" * 6000 + "}" * 6000
    unclosed = "\\boxed{" * 14000
    for text in (nested, unclosed):
        assert min(_seconds(lambda: (box_spans(text), boxed_answer(text))) for _ in range(2)) < 0.5
    assert boxed_answer(nested) == (None, "several different boxed answers")
    assert boxed_answer(unclosed) is None and all_boxed(unclosed) == []


def test_over_long_completion_is_refused_before_extraction():
    from rlvr.answers import MAX_COMPLETION_CHARS

    assert check_answer("x" * (MAX_COMPLETION_CHARS - 10) + "\\boxed{5}", "5").correct
    long = check_answer("x" * MAX_COMPLETION_CHARS + "\\boxed{5}", "5")
    assert (long.correct, long.extracted) == (False, None) and "completion too long" in long.reason


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_extract_answer_keeps_the_old_interface():
    assert extract_answer("so \\boxed{\\frac{1}{2}} done") == "\\frac{1}{2}"
    assert extract_answer("7 * 8 = 56", fallback_last_number=False) is None
    assert unmarked_answer("The answer is: the largest $n$ is 34.", fallback_last_number=False) == "34"


# ---------------------------------------------------------------- round 2 (math_attack_report2): each payload
# below scored 1 with the light checker before its fix.

# N6: a box without braces (TeX's one-token argument) and the other box macros are boxes, so the
# several-different-boxes rule sees them.
@pytest.mark.parametrize("text", ["\\boxed 6 or \\boxed{5}", "\\boxed{5} or \\boxed 6", "$\\boxed{5}$ or $\\fbox 6$",
                                  "\\boxed{5} \\text{ or } \\boxed6", "\\boxed{5} or \\framebox{6}",
                                  "\\boxed{5} or \\bbox{6}", "\\boxed{5} or \\bbox[red]{6}",
                                  "\\boxed{5} or \\colorbox{red}{6}", "\\boxed{5} or \\framebox[2cm][l]{6}"])
def test_every_box_form_counts_as_a_box(text):
    assert not score(text, "5")


@pytest.mark.parametrize("text, gold", [("\\boxed 56", "56"), ("\\boxed6", "6"), ("\\fbox 7", "7"),
                                        ("\\boxed\\frac{1}{2}", "0.5"), ("\\framebox{56}", "56"),
                                        ("\\bbox[red]{56}", "56"), ("\\boxed{\\boxed 56}", "56"),
                                        ("\\fbox{5} and \\boxed{5}", "5")])
def test_brace_less_and_other_boxes_are_read(text, gold):
    assert score(text, gold)


# N10: what is not rendered (an HTML comment, closed or running to the end) is not an answer.
@pytest.mark.parametrize("text", ["The answer is 6. <!-- \\boxed{5} -->", "The answer is 6. <!-- \\boxed{5}",
                                  "6 <!-- <answer>5</answer> --> "])
def test_html_comments_are_not_answers(text):
    assert not score(text, "5")
    assert score(text, "6")


# N4: corrections and comparisons hedge, and number words are candidates behind a hedge word.
@pytest.mark.parametrize("text, gold", [
    ("The answer is $5$ vs $6$", "5"), ("The answer is $5$ / $6$", "5"), ("The answer is $5$ nor $6$", "5"),
    ("The answer is $5$ (unless $6$)", "5"), ("The answer is $5$ unless it is $6$", "5"),
    ("The answer is $5$; else $6$", "5"), ("The answer is $5$ — really $6$", "5"), ("5 else 6", "6"),
    ("5 unless 6", "6"), ("5 versus 6", "6"), ("5 then 6", "6"), ("So the result is 5 vs. 6", "6"),
    ("5 instead of 6", "6"), ("so 5 vs 6", "6"), ("5 vs. 6", "6"), ("5 -> 6", "6"), ("5 → 6", "6"),
    ("5 rather than 6", "6"), ("I think it's 5, or maybe six", "5"), ("The answer is $5$, or perhaps seven", "5")])
def test_more_hedge_words_and_number_words(text, gold):
    assert not score(text, gold)


@pytest.mark.parametrize("text, gold", [
    ("12 + 5 = 17", "17"), ("add 3 and 4 to get 7", "7"), ("The answer is $5$, since $2+3=5$", "5"),
    ("The answer is 56 apples.", "56"), ("The answer is $5$, one more than $4$.", "5"),
    ("I think it's 5, or maybe five", "5"), ("We get 12, then subtract 5 to get 7", "7")])
def test_honest_answers_next_to_hedge_words_still_score(text, gold):
    assert score(text, gold)


# N5: a hedge on the next line or in the next chat message (completion_text joins them with "\n").
@pytest.mark.parametrize("completion", [
    "The answer is 5\nor 6", "#### 5\nor maybe 6", "The answer is $5$.\nHmm, or $6$.", "The answer is 5.\n\nWait, or 6",
    "The answer is 5\nor 5\nor 6", "The answer is five\nor six",
    [{"role": "assistant", "content": "The answer is 5"}, {"role": "assistant", "content": "or maybe 6"}]])
def test_a_hedge_below_a_marked_answer(completion):
    assert not score(completion, "5")


@pytest.mark.parametrize("text", ["The answer is 5.\n\nCheck: 2+3=5", "The answer is 5.\n6 is what I first thought",
                                  "#### 5\nor maybe 5", "The answer is 5.\n\nTo verify, we could add 2 and 3."])
def test_text_below_a_marked_answer_that_does_not_hedge(text):
    assert score(text, "5")


# N11-N13: numbers that are not what they seem.
@pytest.mark.parametrize("text", ["0,056", "00,056", "56...", "56..", "5\\!\\!\\!\\!\\!\\!\\!\\!7", "5\\!\\!7",
                                  "5\\! \\!7", "1,00", "5\\text{ }6"])
def test_not_a_number(text):
    assert to_number(text) is None


@pytest.mark.parametrize("text, gold", [("\\boxed{0,056}", "56"), ("\\boxed{00,056}", "56"), ("\\boxed{56...}", "56"),
                                        ("\\boxed{5\\!\\!\\!\\!\\!\\!\\!\\!7}", "57"), ("\\boxed{5\\!\\!7}", "57"),
                                        ("\\boxed{5\\text{ }6}", "56"), ("\\boxed{5 6}", "56")])
def test_separators_ellipses_overprinting_and_spaces_do_not_make_the_gold(text, gold):
    assert not score(text, gold)


@pytest.mark.parametrize("text, value", [("1,000", 1000), ("12,345,678", 12345678), ("0.5", 0.5), ("56.", 56),
                                         ("5\\!6", 56), ("1,000.5", 1000.5)])
def test_numbers_that_stay_numbers(text, value):
    assert to_number(text) == value


# Borderline units: a qualifier alone is no unit; a compound unit still is.
@pytest.mark.parametrize("text, gold", [("\\boxed{56 square}", "56"), ("\\boxed{56 per}", "56"),
                                        ("\\boxed{56 \\text{ sq}}", "56"), ("\\boxed{5\\text{ cubic}}", "5"),
                                        ("\\boxed{56 times}", "56")])
def test_a_unit_qualifier_alone_is_no_unit(text, gold):
    assert not score(text, gold)


@pytest.mark.parametrize("text, value", [("56 square meters", 56), ("5 cubic cm", 5), ("60 miles per hour", 60),
                                         ("5 sq ft", 5), ("5\\,\\text{square meters}", 5), ("5 cm^2", 5)])
def test_compound_units_are_still_units(text, value):
    assert to_number(text) == value
