"""Identical pipeline runs give identical comparison files; a run over seeds shares the stages before
`vary_from`, varies the rest, and summarises every column per seed."""

import json
import os
import subprocess
import sys

import pytest

from conftest import rlvr_env
from rlvr import config as config_mod, pipeline


def _run(out, *extra, hash_seed="0"):
    env = {**rlvr_env(), "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rlvr", "pipeline", "run", "--preset", "r1-smoke", f"output_dir={out}", "threads=1",
           "--no-report", *extra]
    done = subprocess.run(cmd, cwd=out, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The r1-smoke pipeline, run twice from scratch in separate processes (different string-hash seeds)."""
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    _run(a, hash_seed="1")
    _run(b, hash_seed="2")
    return a / "r1-smoke", b / "r1-smoke"


@pytest.mark.slow
def test_two_identical_pipeline_runs_give_identical_comparison_files(plain):
    a, b = plain
    for name in ("comparison.json", "comparison.md"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    # and the varied numbers underneath: every stage's per-step training metrics, timing fields aside
    for stage in ("02-reasoning-rl", "06-mixed-rl"):
        rows = [[json.dumps({k: v for k, v in json.loads(line).items() if not k.startswith("seconds/")})  # (NaN != NaN)
                 for line in (run / stage / "metrics.jsonl").read_text().splitlines()] for run in (a, b)]
        assert rows[0] == rows[1], stage


@pytest.mark.slow
def test_a_changed_evaluation_setting_is_evaluated_again_not_read_from_the_cache(plain):
    _, root = plain  # (the second copy: only the test above reads it, before this one)
    again = _run(root.parent, "eval.general_prompts=2")
    assert "[06] mixed-rl: done, skipped" in again.stderr and "evaluating base" in again.stderr
    examples = json.loads((root / "comparison.json").read_text())["base"]["general_examples"]
    assert len(examples) == 2


@pytest.mark.slow
def test_a_run_over_seeds_shares_early_stages_and_summarises_every_seed(plain, tmp_path):
    out = _run(tmp_path, "seeds=[0,3]", "vary_from=mixed-rl")
    root = tmp_path / "r1-smoke"
    assert out.stderr.count("[01] cold-start (sft)") == 1 and "[01] cold-start: done, skipped" in out.stderr
    assert out.stderr.count("evaluating base") == 1  # shared rows are evaluated once, for every seed
    for seed in (0, 3):
        folder = root / f"seed-{seed}"
        assert (folder / "04-sft").is_symlink() and not (folder / "06-mixed-rl").is_symlink()
        assert not (root / "06-mixed-rl").exists()
        cfg = config_mod.read_yaml(folder / "06-mixed-rl" / "config.yaml")
        assert cfg["seed"] == seed
    # seed 0 of the run over seeds is the plain run: the layout changes no number
    assert (root / "seed-0" / "comparison.json").read_bytes() == (plain[0] / "comparison.json").read_bytes()

    summary = json.loads((root / "seeds.json").read_text())
    per_seed = [json.loads((root / f"seed-{s}" / "comparison.json").read_text()) for s in (0, 3)]
    assert summary["varied"] == ["06-mixed-rl"]
    for label, cols in summary["rows"].items():
        for key, c in cols.items():
            values = [r[label].get(key) for r in per_seed]
            assert c["values"] == [v if v == v else None for v in values], (label, key)  # NaN: no figure
            assert c["min"] <= c["mean"] <= c["max"]
    pref = summary["rows"]["04-sft"]["preference_reward"]
    assert pref["min"] == pref["max"]  # shared: one evaluation
    change = [c for c in summary["changes"] if c["seed"] == 3][0]
    assert change["model"] == "06-mixed-rl" and change["against"] == "04-sft"
    assert change["preference_reward"] == pytest.approx(per_seed[1]["06-mixed-rl"]["preference_reward"]
                                                        - per_seed[1]["04-sft"]["preference_reward"])
    assert all(v is not None for v in summary["seconds"]["06-mixed-rl"])
    md = (root / "seeds.md").read_text()
    assert "| 06-mixed-rl |" in md and "seed 3" in md and "04-sft (shared, ran once)" in md


def test_seed_options_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(config_mod.ConfigError, match="vary_from 'nope' is not a stage"):
        pipeline.load(preset="r1-smoke", overrides=["seeds=[0,1]", "vary_from=nope"])
    with pytest.raises(config_mod.ConfigError, match="non-negative"):
        pipeline.load(preset="r1-smoke", overrides=["seeds=[0,-1]"])
    with pytest.raises(config_mod.ConfigError, match="listed twice"):
        pipeline.load(preset="r1-smoke", overrides=["seeds=[1,1]"])
    with pytest.raises(config_mod.ConfigError, match="only with seeds"):
        pipeline.load(preset="r1-smoke", overrides=["vary_from=sft"])
    p = pipeline.load(preset="r1-smoke", overrides=[f"output_dir={tmp_path}", "seeds=[5]", "vary_from=sft"])
    stages = {s.name: s for s in pipeline.plan(p, 5)}
    assert stages["reasoning-rl"].folder == tmp_path / "r1-smoke" / "02-reasoning-rl" and stages["reasoning-rl"].cfg.seed == 0
    assert stages["sft"].folder == tmp_path / "r1-smoke" / "seed-5" / "04-sft" and stages["sft"].cfg.seed == 5
    assert str(stages["rejection-sample"].output) in stages["sft"].cfg.data.path  # shared input, seed's own stage
    assert not any(tmp_path.iterdir())
