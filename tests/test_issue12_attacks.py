"""Attacks on issue 12's code (emergence metrics, change points, `rlvr report`, the signature verdict): hostile
run folders and completions that once crashed, hung or fooled it. Each test names the weakness it pins."""

import json
import time

import pytest

from rlvr import changepoints
from rlvr.report import build
from test_report import _jsonl, _table, make_run


def _append(path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


@pytest.mark.parametrize("step", ["NaN", "1e400"])  # json reads both (1e400 as inf)
def test_a_non_finite_step_is_skipped_not_a_crash(tmp_path, step):
    # json.loads reads NaN / Infinity (json.dumps writes them): such a step once reached int() and raised
    run = make_run(tmp_path / "r", steps=10, eval_steps=(0, 40))
    _append(run / "probes.jsonl", f'{{"step": {step}, "prompt": "p", "completion": "x"}}\n')
    _append(run / "metrics.jsonl", f'{{"step": {step}, "accuracy": 1}}\n')
    build([run])
    md = (run / "report.md").read_text()
    assert "probes.jsonl: 1 unreadable line(s) skipped" in md and "metrics.jsonl: 1 unreadable line(s) skipped" in md


def test_a_lone_surrogate_in_a_completion_does_not_stop_the_report(tmp_path):
    # "\ud800" is valid JSON but not encodable as UTF-8: writing the page once raised UnicodeEncodeError
    run = make_run(tmp_path / "r", steps=10, eval_steps=(0, 40))
    _append(run / "probes.jsonl", '{"step": 10, "prompt": "What is 0 + 0?", "completion": "bad \\ud800 text"}\n')
    build([run])
    assert "bad" in (run / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("config", ["generation: 5\neval: [1]\noptim: {warmup_steps: x}\nsteps: abc\n",
                                    "generation: [128]\neval: 7\n"])
def test_config_sections_of_the_wrong_type_read_as_not_logged(tmp_path, config):
    run = make_run(tmp_path / "r", steps=10, eval_steps=(0, 40))
    (run / "config.yaml").write_text(config)
    build([run])
    md = (run / "report.md").read_text()
    assert "R1-Zero signature" in md and "change points unavailable" not in md


def test_a_pipeline_done_marker_that_is_not_an_object(tmp_path):
    root = tmp_path / "pipe"
    root.mkdir()
    (root / "pipeline.yaml").write_text("stages: []\n")
    make_run(root / "01-rl", steps=10, eval_steps=(0, 40))
    (root / "01-rl" / "done").write_text("[1, 2]")
    (root / "02-sft").mkdir()
    (root / "02-sft" / "done").write_text('{"kind": "sft", "seconds": "abc"}')
    build([root])
    html = (root / "report.html").read_text()
    assert "01-rl" in html and "02-sft" in html


def test_a_garbled_huge_step_number_does_not_hang_change_points(tmp_path):
    # one stray step far past the others once made changepoints build a dense per-step axis up to it
    # (minutes and gigabytes): it is named as not a per-step series instead
    run = make_run(tmp_path / "r", steps=40)
    _append(run / "metrics.jsonl", '{"step": 300000000, "accuracy": 0.5, "completion_length/mean": 3}\n')
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="300000000"):
        changepoints.aha(run)
    build([run])
    assert time.perf_counter() - t0 < 30
    assert "change points unavailable" in (run / "report.md").read_text()


# ------------------------------------------------------------------------------------------ the signature verdict


def _rewrite_evals(run, change) -> None:
    rows = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines()]
    for r in rows:
        change(r)
    _jsonl(run / "eval.jsonl", rows)


def _verdict(run) -> tuple[str, str]:
    build([run])
    md = (run / "report.md").read_text()
    return _table(md)["R1-Zero signature"][0], md


def test_the_unchanged_synthetic_run_shows_the_signature(tmp_path):
    # the baseline the attacks below start from: it must pass, or they would prove nothing
    assert _verdict(make_run(tmp_path / "r"))[0] == "appeared"


def test_an_eval_budget_raised_on_resume_is_not_the_signature(tmp_path):
    # `rlvr train --resume RUN eval.max_new_tokens=256`: config.yaml is rewritten with the new budget, so a report
    # that read the eval budget from config.yaml alone saw 256 -> 256 and called the longer held-out answers emergence
    run = make_run(tmp_path / "r")
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace("max_new_tokens: null", "max_new_tokens: 256"))
    _rewrite_evals(run, lambda r: r.update({"eval/max_new_tokens": 128 if r["step"] == 0 else 256}))
    _jsonl(run / "events.jsonl", [{"step": 0, "event": "start"}, {"step": 20, "event": "resume"}])
    verdict, md = _verdict(run)
    assert verdict == "NOT shown"
    assert "eval max_new_tokens changed 128 → 256" in md


def test_the_evaluation_logs_its_budget():
    from rlvr import config, evaluate as evaluation, tasks
    from test_emergence import FakeEngine

    task = tasks.build(config.ArithmeticTaskConfig())
    engine = FakeEngine(task.held_out(4))
    for eval_budget, expected in ((None, 64), (32, 32)):
        r = evaluation.run(engine, None, task, eval_cfg=config.EvalConfig(problems=4, samples=0, max_new_tokens=eval_budget),
                           prompt_cfg=config.PromptConfig(template="plain"), max_new_tokens=64, seed=0).metrics
        assert r["max_new_tokens"] == expected


def test_longer_correct_answers_that_were_cut_at_the_budget_are_not_the_signature(tmp_path):
    # A model that states its answer and then rambles until the budget: its correct completions are long because
    # they are truncated. Here the overall clip ratio barely moves (0.04 -> 0.06: most completions are short and
    # wrong), but among the correct ones it goes 0 -> 0.45, and the correct length doubles.
    run = make_run(tmp_path / "r")
    _rewrite_evals(run, lambda r: r.update({"eval/truncated_fraction/correct": 0.45 if r["step"] == 40 else 0.0}))
    verdict, md = _verdict(run)
    assert verdict == "NOT shown"
    assert "clip ratio of correct completions 0.00 → 0.45" in md


def test_clip_ratio_of_correct_completions_is_logged():
    from rlvr import emergence

    m = emergence.length_metrics([10, 50, 50, 20], [False, True, True, False], [1.0, 1.0, 0.0, float("nan")])
    assert m["truncated_fraction/correct"] == 0.5  # rows 0 and 1 are correct; row 1 hit the budget
    assert m["truncated_fraction"] == 0.5
    nan = emergence.length_metrics([10], [True], [0.0])["truncated_fraction/correct"]
    assert nan != nan  # no correct row: NaN


def test_training_accuracy_is_not_called_held_out(tmp_path):
    # a run without evaluations: its training accuracy climbs; the criterion names held-out accuracy, so it cannot
    # be met (it once was, silently, from the training rows)
    run = make_run(tmp_path / "r", eval_steps=())
    verdict, md = _verdict(run)
    assert verdict == "NOT shown"
    assert "held-out accuracy up (no held-out evaluation" in md


# ------------------------------------------------------------------------------------------ change points


def test_a_run_extended_on_resume_does_not_list_lr_changes_before_the_resume(tmp_path):
    # 30 steps of cosine decay, then `--resume RUN steps=60`: config.yaml now says 60 steps, which the first 30
    # steps never followed. Judged against it, every one of them once was "lr changed", so a length jump at step
    # 10 came with a false confound. Only the real jump at the resume (the decay stretched) is one.
    import math
    import numpy as np

    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text("steps: 60\noptim: {lr: 0.001, schedule: cosine, warmup_steps: 0}\n")
    cos = lambda i, total: 0.5 * (1 + math.cos(math.pi * min(1.0, i / total)))  # noqa: E731
    noise = np.random.default_rng(0).normal(0, 1, 60)
    _jsonl(run / "metrics.jsonl", [{"step": s, "completion_length/mean": (30.0 if s < 10 else 60.0) + noise[s - 1],
                                    "accuracy": 0.3 + 0.02 * noise[-s], "lr": 1e-3 * cos(s - 1, 30 if s <= 30 else 60)}
                                   for s in range(1, 61)])
    _jsonl(run / "events.jsonl", [{"step": 0, "event": "start"}, {"step": 30, "event": "resume"}])
    flags = [f for f in changepoints.aha(run) if f.metric == "completion_length/mean"]
    assert [f.step for f in flags] == [10]
    assert flags[0].confounds == []
    resumed = changepoints._stage_confounds(changepoints._load_stage(run, None), "")
    assert [text for _, text in resumed] == ["lr changed 2.74e-06 -> 0.0005 at step 31", "resumed at step 30"]


# ------------------------------------------------------------------------------------------ metrics


def test_a_list_that_ends_the_completion_is_enumeration():
    # completions end at EOS, usually without a newline: the list pattern once needed one after its last item
    from rlvr import emergence

    assert emergence.behaviours("1. 2+3 = 5\n2. 2+4 = 6")["enumeration"]
    assert emergence.behaviours("Try:\n- a = 1\n- b = 2")["enumeration"]
    assert not emergence.behaviours("1. 2+3 = 5")["enumeration"]  # one item is no enumeration
    assert not emergence.behaviours("1. 2+3 = 5\n\n2. 2+4 = 6")["enumeration"]  # items must be consecutive lines


@pytest.mark.xfail(strict=True, reason="rewards.shaping.script_share counts math alphanumerics (U+1D400-1D7FF) and "
                   "fullwidth Latin as letters outside Latin; not fixed here: the language reward shares it")
def test_math_italic_letters_are_not_language_mixing():
    from rlvr import emergence

    assert emergence.off_script_share(["Let 𝑥 = 3, so 𝑥 + 1 = 4"]) == 0.0


def test_a_resume_logged_twice_is_one_confound(tmp_path):
    # a resumed process that dies before its first step, resumed again from the same checkpoint: events.jsonl
    # holds two "resume" records at step 20 (both survive truncation to the checkpoint's step)
    run = make_run(tmp_path / "r")
    _jsonl(run / "events.jsonl", [{"step": 0, "event": "start"}, {"step": 20, "event": "resume"},
                                  {"step": 20, "event": "resume"}])
    flag = next(f for f in changepoints.aha(run) if f.metric == "completion_length/mean")
    assert flag.step == 21 and flag.confounds == ["resumed at step 20"]


# ------------------------------------------------------------------------------------------ before / after


def test_the_before_probe_is_of_the_model_before_the_change(tmp_path):
    # metrics step k are the rollouts of the model after k - 1 updates; probe step k is the model after k updates.
    # A change first seen at metrics step 21 comes from the model probed at step 20, so "before" must be an earlier
    # probe (step 19), and "after" step 20. The page once showed step 20 as "before": the changed model on both sides.
    run = make_run(tmp_path / "r")
    probes = [{"step": s, "prompt": "What is 2 + 2?", "answer": "4", "length": 40 if s >= 20 else 3, "correct": True,
               "completion": "first 2, then add 2. Wait, let me verify: 4." if s >= 20 else "4", "truncated": False}
              for s in range(0, 41)]
    _jsonl(run / "probes.jsonl", probes)
    build([run])
    html = (run / "report.html").read_text()
    around = html.split("<h4>Around step 21")[1].split("<h4>")[0]
    assert "step 19 (before)" in around and "step 20 (after)" in around


def test_report_paths_that_are_not_what_it_needs_get_a_clear_error(tmp_path):
    runs = tmp_path / "runs"  # an output_dir: it holds run folders but is none
    make_run(runs / "a", steps=10, eval_steps=(0, 40))
    with pytest.raises(ValueError, match=r"is not a run folder.*it holds run folders \(a\): give those"):
        build([runs])
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file: the report goes into a folder"):
        build([runs / "a"], out=tmp_path / "file")


# ------------------------------------------------------------------------------------------ resume


def test_a_resume_keeps_records_whose_completion_holds_a_unicode_line_separator(tmp_path):
    # json.dumps(ensure_ascii=False) writes U+2028 and NEL (U+0085) raw; splitlines() cut such a record in two and
    # the resume's truncation dropped both halves as torn lines: the probes of those steps were lost
    from rlvr.metrics import Loggers, logged_steps, truncate_jsonl

    log = Loggers(tmp_path, {}, report_to=[], wandb_project="x")
    log.write("probes", [{"step": s, "completion": f"a\u2028b\x85c {s}"} for s in range(4)])
    log.close()
    truncate_jsonl(tmp_path / "probes.jsonl", max_step=2)
    kept = [json.loads(x) for x in (tmp_path / "probes.jsonl").read_text(encoding="utf-8").split("\n") if x]
    assert [r["step"] for r in kept] == [0, 1, 2] and kept[1]["completion"] == "a\u2028b\x85c 1"
    assert logged_steps(tmp_path / "probes.jsonl") == {0, 1, 2}


def test_named_levels_are_not_ordered_alphabetically(tmp_path):
    # levels "beginner" < "intermediate" < "advanced" whose lengths SHRINK with difficulty (40, 30, 20 tokens):
    # sorted by name (advanced, beginner, intermediate: 20, 40, 30) they once looked like growth. Names carry no
    # order the report can know, so it judges by the solve rate (here: also shrinking) instead.
    run = make_run(tmp_path / "r")
    named = {"beginner": 40.0, "intermediate": 30.0, "advanced": 20.0}

    def rename(r):
        for i in (1, 2, 3):
            r.pop(f"eval/completion_length/by_level/{i}", None)
        r.update({f"eval/completion_length/by_level/{k}": v for k, v in named.items()})
        r.update({"eval/completion_length/by_solve_rate/solved": 40.0, "eval/completion_length/by_solve_rate/easy": 30.0,
                  "eval/completion_length/by_solve_rate/hard": 20.0})

    _rewrite_evals(run, rename)
    verdict, md = _verdict(run)
    assert verdict == "NOT shown"
    assert "length grows with difficulty (at the end, by solve rate: solved 40.0, easy 30.0, hard 20.0" in md
    # levels with a number in them keep their numeric order
    _rewrite_evals(run, lambda r: [r.pop(f"eval/completion_length/by_level/{k}") for k in named] and r.update(
        {"eval/completion_length/by_level/Level 10": 70.0, "eval/completion_length/by_level/Level 2": 30.0}))
    assert "by level: Level 2 30.0, Level 10 70.0" in _verdict(run)[1]


def test_a_probe_with_nothing_to_check_is_not_shown_as_wrong(tmp_path):
    # a mixture's general prompt: the checker says None (nothing to verify), which the page once marked "✗ wrong"
    run = make_run(tmp_path / "r", steps=10, eval_steps=(0, 40))
    _jsonl(run / "probes.jsonl", [{"step": s, "prompt": "Write a haiku.", "answer": None, "completion": "Leaves fall",
                                   "correct": None, "length": 3, "truncated": False} for s in (0, 10)])
    build([run])
    html = (run / "report.html").read_text()
    assert "nothing to check" in html and "✗ wrong" not in html


@pytest.mark.parametrize("name", ["a/b", "", " "])
def test_a_reflection_family_name_that_cannot_be_a_metric_key_is_refused(name):
    from rlvr import config

    with pytest.raises(config.ConfigError, match="family name"):
        config.validate(config.TrainConfig, {"log": {"reflection_lexicon": {name: ["wait"]}}})
