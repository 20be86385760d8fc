"""Change points (rlvr.changepoints.detect) on synthetic series with planted changes and with none, and the
aha flags with their confounds on run folders written here."""

import json
import math

import numpy as np
import pytest
import yaml

from rlvr.changepoints import aha, aha_pipeline, detect


def noise(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


# ------------------------------------------------------------------------------------------------ detect


@pytest.mark.parametrize("at", [12, 20, 28])
def test_a_planted_shift_is_found_at_its_index(at):
    for seed in range(8):
        y = noise(seed, 40)
        y[at:] += 4.0  # four noise sigmas
        changes = detect(y, seed=seed)
        assert len(changes) == 1, (seed, changes)
        c = changes[0]
        assert abs(c.index - at) <= 1 and c.p_value <= 0.01
        assert abs(c.before_mean - 0) < 1.0 and abs(c.after_mean - 4) < 1.0


@pytest.mark.parametrize("trend", [True, False])
def test_pure_noise_rarely_gives_a_change(trend):
    # at alpha = 0.01 the expected count over 50 series is 0.5; 4 or more has probability 0.002
    hits = [seed for seed in range(50) if detect(noise(1000 + seed, 30), seed=seed, trend=trend)]
    assert len(hits) <= 3, hits


def test_a_linear_trend_is_not_a_jump_unless_trend_is_off():
    for seed in range(6):
        y = noise(seed, 40) + 0.3 * np.arange(40)  # a steady climb of 12 sigmas in all
        assert detect(y, seed=seed) == []
        assert len(detect(y, seed=seed, trend=False)) >= 1  # a mean-shift test cuts a trend into steps
        y[25:] += 4.0  # a jump on top of the trend is still found
        changes = detect(y, seed=seed)
        assert [abs(c.index - 25) <= 1 for c in changes] == [True], changes


def test_a_change_spread_over_a_few_steps_is_still_a_change():
    for seed in range(6):  # a logistic rise of 5 sigmas, most of it within 6 steps, centred between 19 and 20
        y = noise(seed, 40) + 5.0 / (1 + np.exp(-(np.arange(40) - 19.5)))
        changes = detect(y, seed=seed)
        assert [abs(c.index - 20) <= 2 for c in changes] == [True], changes


@pytest.mark.parametrize("second", [+4.0, -4.0], ids=["staircase", "bump"])
def test_two_changes(second):
    for seed in range(6):
        y = noise(seed, 60)
        y[20:] += 4.0
        y[40:] += second  # a staircase, or a bump in the middle (which a single split would miss)
        changes = detect(y, seed=seed)
        assert len(changes) == 2 and abs(changes[0].index - 20) <= 1 and abs(changes[1].index - 40) <= 1, changes
        assert all(c.p_value <= 0.01 for c in changes)
        assert changes[0].after_mean == changes[1].before_mean  # the middle segment


def test_short_and_constant_series_give_none():
    for n in range(6):  # fewer than 2 * min_segment values: nothing to test
        assert detect([0.0] * (n // 2) + [100.0] * (n - n // 2)) == []
    assert detect([]) == []
    assert detect([3.0] * 50) == []
    assert detect([1e-5] * 30, trend=False) == []


def test_a_noise_free_step_is_found_exactly():
    changes = detect([0.0] * 15 + [1.0] * 15)
    assert [(c.index, c.before_mean, c.after_mean) for c in changes] == [(15, 0.0, 1.0)]


def test_nans_are_skipped_and_indices_refer_to_the_input():
    y = list(noise(3, 40))
    y[20:] = [v + 5.0 for v in y[20:]]
    for i in (2, 11, 20, 21, 33):
        y[i] = math.nan
    y[5] = None
    y[7] = math.inf
    changes = detect(y)
    assert [c.index for c in changes] == [22]  # positions 20 and 21 are missing: 22 is the first value after
    assert np.isfinite([changes[0].before_mean, changes[0].after_mean]).all()
    assert detect([math.nan] * 10) == []


def test_results_are_deterministic_for_a_seed():
    y = noise(5, 50)
    y[30:] += 2.5
    assert detect(y, seed=7) == detect(y, seed=7)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="alpha"):
        detect([1.0, 2.0], alpha=0)
    with pytest.raises(ValueError, match="min_segment"):
        detect([1.0, 2.0], min_segment=1)
    with pytest.raises(ValueError, match="numbers"):
        detect([1.0, "x"])
    with pytest.raises(ValueError, match="one series"):
        detect([[1.0, 2.0]])
    with pytest.raises(ValueError, match="seed"):
        detect([1.0, 2.0], seed=-1)


# -------------------------------------------------------------------------------------------------- aha

STEPS, JUMP = 30, 12


def write_run(folder, *, budget_at_jump=160, resume_at=None, lr=lambda step: 1e-5, optim=None, clip_after=0.05,
              old=False, seed=0):
    """A train run folder: lengths jump from 40 to 70 tokens at step JUMP; reflection and accuracy are noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    records = []
    for step in range(1, STEPS + 1):
        r = {"step": step, "completion_length/mean": (40.0 if step < JUMP else 70.0) + rng.normal(0, 2),
             "accuracy": 0.3 + rng.normal(0, 0.05), "lr": lr(step),
             "truncated_fraction": 0.05 if step < JUMP else clip_after}
        if old:
            r["reflection_rate"] = 0.1 + rng.normal(0, 0.02)
        else:
            r["reflection/r1_words/per_1k"] = 5 + rng.normal(0, 1)
            r["reflection/reexamination/per_1k"] = 1 + rng.normal(0, 0.3)
            r["reflection/r1_words/per_1k_correct"] = 100.0 * step  # not a family's rate: left out of the sum
            r["max_new_tokens"] = 96 if step < JUMP else budget_at_jump
        records.append(r)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if not old:
        events = [{"step": 0, "event": "start"}] + ([{"step": resume_at, "event": "resume"}] if resume_at else [])
        (folder / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        config = {"steps": STEPS, "optim": optim or {"lr": 1e-5, "warmup_steps": 0, "schedule": "constant"},
                  "generation": {"max_new_tokens": budget_at_jump}}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def only_flag(flags):
    assert len(flags) == 1, flags
    return flags[0]


def test_a_length_jump_with_a_budget_change_and_a_resume_lists_both(tmp_path):
    # warm-up ends at step 5: too far from step 12 to be named
    run = write_run(tmp_path / "run", budget_at_jump=160, resume_at=12,
                    optim={"lr": 1e-5, "warmup_steps": 5, "schedule": "constant"},
                    lr=lambda step: 1e-5 * min(1.0, step / 6))
    flag = only_flag(aha(run))
    assert (flag.metric, flag.step, flag.stage) == ("completion_length/mean", JUMP, None)
    assert abs(flag.before - 40) < 2 and abs(flag.after - 70) < 2 and flag.p_value <= 0.01
    assert flag.confounds == ["max_new_tokens 96 -> 160 at step 12", "resumed at step 12"]


def test_a_clean_jump_has_no_confound(tmp_path):
    flag = only_flag(aha(write_run(tmp_path / "run", budget_at_jump=96)))
    assert flag.step == JUMP and flag.confounds == []


def test_an_lr_change_and_the_end_of_warm_up_are_named(tmp_path):
    run = write_run(tmp_path / "a", budget_at_jump=96, lr=lambda step: 1e-5 if step < JUMP else 5e-6)
    assert only_flag(aha(run)).confounds == ["lr changed 1e-05 -> 5e-06 at step 12"]
    # a warm-up of 11 steps: step 12 is the first at the peak; the schedule's own ramp is not an lr "change"
    run = write_run(tmp_path / "b", budget_at_jump=96, optim={"lr": 1e-5, "warmup_steps": 11, "schedule": "cosine"},
                    lr=lambda step: 1e-5 * (step / 12 if step <= 11 else
                                            0.5 * (1 + math.cos(math.pi * (step - 12) / (STEPS - 11)))))
    assert only_flag(aha(run)).confounds == ["learning-rate warm-up ends at step 11 (cosine decay from step 12)"]


def test_lengths_that_hit_the_budget_are_called_truncation(tmp_path):
    flag = only_flag(aha(write_run(tmp_path / "run", budget_at_jump=96, clip_after=0.8)))
    assert flag.confounds == ["clip ratio 0.05 -> 0.80 across the change (more completions cut at max_new_tokens)"]


def test_an_old_run_without_the_new_keys_or_files(tmp_path):
    run = write_run(tmp_path / "run", old=True)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 31, "completion_len')  # a torn last line (the writer was killed)
    flag = only_flag(aha(run))
    assert flag.step == JUMP and flag.confounds == []
    run = write_run(tmp_path / "lr", old=True, lr=lambda step: 1e-5 if step < JUMP else 5e-6)  # no config.yaml
    assert only_flag(aha(run)).confounds == ["lr changed 1e-05 -> 5e-06 at step 12"]
    (run / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2"):
        aha(run)
    with pytest.raises(FileNotFoundError, match="no metrics.jsonl"):
        aha(tmp_path / "missing")


def test_a_pipeline_joins_its_grpo_stages_and_names_the_boundary(tmp_path):
    root = tmp_path / "pipe"
    (root / "01-cold-start").mkdir(parents=True)
    (root / "01-cold-start" / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0, "lr": 0.001}\n')  # SFT: no curves
    rng = np.random.default_rng(0)
    for name, level, budget in (("02-rl", 40.0, 96), ("04-rl", 70.0, 160)):
        folder = root / name
        folder.mkdir()
        rows = [{"step": s, "completion_length/mean": level + rng.normal(0, 2), "accuracy": 0.3 + rng.normal(0, 0.05),
                 "lr": 1e-5} for s in range(1, 16)]  # no max_new_tokens key: the stage's config.yaml says it
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (folder / "config.yaml").write_text(yaml.safe_dump({"steps": 15, "generation": {"max_new_tokens": budget}}))
    (root / "03-sample").mkdir()
    flags = aha(root)  # a folder of stages goes to aha_pipeline
    assert flags == aha_pipeline(root)
    flag = only_flag(flags)
    assert (flag.metric, flag.stage, flag.step) == ("completion_length/mean", "04-rl", 1)
    assert flag.confounds == ["stage boundary (02-rl -> 04-rl, after 03-sample)",
                              "max_new_tokens 96 -> 160 at step 1 of 04-rl"]
