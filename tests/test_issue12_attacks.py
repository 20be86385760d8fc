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


@pytest.mark.parametrize("step", ["NaN", "Infinity", "-Infinity", "1e400"])
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
