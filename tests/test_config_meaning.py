"""A run means one thing however it is started or continued (issue 11): a run started from Python records its
reward functions so `rlvr train --resume` trains on them; resuming from Python keeps the run's config; rewards
of one name are kept apart; a YAML file, a TrainConfig and the CLI resolve the same config; `args:` reach a
`function:` reward; the CLI finds a reward module in the working directory."""

import io
import json
import os
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

import rlvr
from rlvr import cli, config, rewards
from rlvr.config import ConfigError, RewardSpec, TrainConfig
from rlvr.rewards import Reward, RewardError
from rlvr.tasks import Example, build

# A tiny run: the smoke preset's random model, one step, nothing but the step itself.
QUIET = dict(steps=1, eval__at_start=False, eval__at_end=False, log__report_to=[], log__progress=False,
             checkpoint__save_every=0)


def module(tmp_path, monkeypatch, name: str, source: str):
    """A reward module `name` importable from tmp_path (each test its own name: sys.modules caches by name)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return __import__(name)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def recorded(run: Path) -> dict:
    return yaml.safe_load((run / "config.yaml").read_text())


CONSTANTS = "def one(prompts, completions, **kw):\n    return [1.0] * len(completions)\n\n" \
            "def half(prompts, completions, **kw):\n    return [0.5] * len(completions)\n"


def make_constant(value):
    def constant(prompts, completions, **kw):  # every closure from this factory is named `constant`
        return [value] * len(completions)

    return constant


# ------------------------------------------------------------------------ resume continues the same run


@pytest.mark.slow
def test_cli_resume_of_a_python_run_trains_on_its_functions(tmp_path, monkeypatch):
    mod = module(tmp_path, monkeypatch, "constants_a", CONSTANTS)
    run = rlvr.train(preset="smoke", reward_funcs=[mod.one, mod.half], reward_weights=[2.0, 1.0],
                     output_dir=str(tmp_path), name="py", **QUIET)
    assert recorded(run)["rewards"] == [
        {"name": "one", "function": "constants_a:one", "weight": 2.0, "args": {}, "sources": None},
        {"name": "half", "function": "constants_a:half", "weight": 1.0, "args": {}, "sources": None}]
    assert cli.main(["train", "--resume", str(run), "steps=2"]) == 0  # what the Ctrl-C message recommends
    rlvr.train(resume=run, reward_funcs=[mod.one, mod.half], steps=3)  # given again: their recorded weights
    assert [m["step"] for m in metrics(run)] == [1, 2, 3]
    assert [m["reward/mean"] for m in metrics(run)] == [2.5] * 3  # 2 * one + half, never `correct`
    assert "reward/correct/mean" not in metrics(run)[1]


@pytest.mark.slow
def test_unimportable_functions_are_recorded_and_resume_says_what_to_pass(tmp_path, capsys):
    funcs = [make_constant(1.0), make_constant(0.25)]  # closures: no module name reaches them
    run = rlvr.train(preset="smoke", reward_funcs=funcs, output_dir=str(tmp_path), name="closures", **QUIET)
    specs = recorded(run)["rewards"]
    assert [s["name"] for s in specs] == ["constant", "constant_2"]  # kept apart by position (below)
    assert all(s["function"].startswith(rewards.NOT_IMPORTABLE) for s in specs)
    assert metrics(run)[0]["reward/mean"] == pytest.approx(1.25)  # both count, neither overwrites the other

    assert cli.main(["train", "--resume", str(run), "steps=2"]) == 1
    assert f"rlvr.train(resume='{run}', reward_funcs=[...])" in capsys.readouterr().err
    with pytest.raises(RewardError, match=r"reward_funcs=\[\.\.\.\]"):
        rlvr.train(resume=run, steps=2)
    rlvr.train(resume=run, reward_funcs=funcs, steps=2)  # the functions passed again: it continues
    assert [m["step"] for m in metrics(run)] == [1, 2]


def test_functions_of_main_lambdas_and_closures_are_not_importable():
    main_ns = {"__name__": "__main__"}
    exec("def script_reward(prompts, completions, **kw):\n    return [0.0] * len(completions)\n", main_ns)
    assert rewards.import_path(main_ns["script_reward"]) is None  # importing a script would run it
    assert rewards.import_path(lambda prompts, completions, **kw: []) is None
    assert rewards.import_path(make_constant(1.0)) is None
    assert rewards.import_path(rewards.math_answer) == "rlvr.rewards:math_answer"


@pytest.mark.slow
def test_python_resume_keeps_the_runs_config(tmp_path, monkeypatch):
    mod = module(tmp_path, monkeypatch, "constants_b", CONSTANTS)
    run = rlvr.train(preset="smoke", reward_funcs=[mod.one], output_dir=str(tmp_path), name="r", **QUIET)
    # the recorded config, not the default preset (which names another model and 30 steps)
    assert config.from_python(resume=run) == config.load(file=run / "config.yaml")
    assert config.from_python(resume=run, overrides={"steps": 2}).steps == 2
    before = (run / "config.yaml").read_text()

    rlvr.train(resume=run, reward_funcs=[mod.one])  # a finished run: nothing past its step count
    assert [m["step"] for m in metrics(run)] == [1]
    assert (run / "config.yaml").read_text() == before
    rlvr.train(resume=run)  # the recorded `function: constants_b:one` is imported again
    rlvr.train(resume=run, steps=2)  # an override applies on top, as `--resume RUN steps=2` does
    assert [m["step"] for m in metrics(run)] == [1, 2] and metrics(run)[-1]["reward/one/mean"] == 1.0
    assert recorded(run)["model"] == "tiny-random" and recorded(run)["steps"] == 2

    with pytest.raises(ConfigError, match="cannot change the model"):
        rlvr.train(resume=run, model="tiny-random:7")
    assert cli.main(["train", "--resume", str(run), "model=tiny-random:7"]) == 2
    with pytest.raises(ConfigError, match="preset cannot be given"):
        config.from_python(resume=run, preset="smoke")


# ------------------------------------------------------------------ rewards kept apart by position


def _score(specs_or_rewards, completions=("a", "bb")):
    examples = [Example("q", "1") for _ in completions]
    return rewards.score(specs_or_rewards, ["q"] * len(completions), list(completions), examples)


def test_two_closures_of_one_name_both_count():
    per, totals = _score([Reward("constant", make_constant(1.0), 2.0), Reward("constant", make_constant(0.25), 4.0)])
    assert set(per) == {"constant", "constant_2"}
    assert totals == [2.0 * 1.0 + 4.0 * 0.25] * 2


def test_one_builtin_twice_with_different_args_both_count():
    task = build(config.ArithmeticTaskConfig())
    specs = [RewardSpec(name="overlong_penalty", args={"max_tokens": 4, "buffer_tokens": 2}),
             RewardSpec(name="overlong_penalty", args={"max_tokens": 8, "buffer_tokens": 8}, weight=0.5)]
    fns = [rewards.resolve(s, task) for s in specs]
    ids = [[1] * 4]  # 4 tokens: at the first one's limit (-1), half way into the second one's buffer (-0.5)
    per, totals = rewards.score(fns, ["q"], ["abcd"], [Example("q", "1")], ids)
    assert per == {"overlong_penalty": [-1.0], "overlong_penalty_2": [-0.5]}
    assert totals == [-1.0 + 0.5 * -0.5]


def test_function_rewards_with_one_attr_name_both_count(tmp_path, monkeypatch):
    module(tmp_path, monkeypatch, "same_a", "def score(prompts, completions, **kw):\n    return [1.0] * len(completions)\n")
    module(tmp_path, monkeypatch, "same_b", "def score(prompts, completions, **kw):\n    return [3.0] * len(completions)\n")
    task = build(config.ArithmeticTaskConfig())
    fns = [rewards.resolve(RewardSpec(function=f"{m}:score"), task) for m in ("same_a", "same_b")]
    per, totals = _score(fns)
    assert list(per) == ["score", "score_2"] and totals == [4.0, 4.0]
    # an explicit name wins, and distinct names are left as they are
    named = [rewards.resolve(RewardSpec(function=f"{m}:score", name=m), task) for m in ("same_a", "same_b")]
    assert list(_score(named)[0]) == ["same_a", "same_b"]


# ---------------------------------------------------------------------------- one meaning for one config

YAML = "model: tiny-random\nsteps: 0\ngrpo: {kl_coef: 0.02}\ntask: {kind: arithmetic, digits: 2}\neval: {at_start: false, at_end: false}\n"


def test_a_yaml_file_a_trainconfig_and_the_cli_resolve_the_same(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(YAML)
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["config", "--config", str(path)]) == 0  # what `rlvr train --config mine.yaml` runs
    from_cli = config.validate(TrainConfig, yaml.safe_load(out.getvalue()))
    data = yaml.safe_load(YAML)
    assert config.from_python(str(path)) == from_cli
    assert config.from_python(TrainConfig(**data)) == from_cli  # the keys it sets over the preset, as the file
    assert config.from_python(TrainConfig.model_validate(data)) == from_cli
    assert from_cli.optim.lr == 5e-5 and from_cli.task.held_out_percent == 50  # the default preset's
    built = TrainConfig(model="tiny-random", steps=0)
    built.grpo.kl_coef, built.task.digits = 0.02, 2  # assigned fields are set fields too
    built.eval.at_start = built.eval.at_end = False
    assert config.from_python(built) == from_cli
    assert config.from_python(from_cli) == from_cli  # a resolved config is taken as it is
    smoke = config.load(preset="smoke")
    assert config.from_python(smoke) == smoke  # ... whatever preset resolved it


def test_keyword_overrides_beside_a_config_object_apply():
    cfg = config.from_python(TrainConfig(steps=3), overrides={"steps": 5, "optim__lr": 0.25, "task__digits": 3})
    assert (cfg.steps, cfg.optim.lr, cfg.task.digits, cfg.task.held_out_percent) == (5, 0.25, 3, 50)  # 50: the default preset
    countdown = config.from_python(TrainConfig(task=config.CountdownTaskConfig(count=4)))
    assert countdown.task.kind == "countdown" and countdown.task.count == 4  # a set kind replaces the preset's


@pytest.mark.slow
def test_cli_and_python_runs_write_the_same_config(tmp_path, monkeypatch):
    (tmp_path / "mine.yaml").write_text(YAML)
    for where in ("cli", "py"):
        (tmp_path / where).mkdir()
    monkeypatch.chdir(tmp_path / "cli")
    assert cli.main(["train", "--config", "../mine.yaml", "name=same", "log.progress=false"]) == 0
    monkeypatch.chdir(tmp_path / "py")
    rlvr.train(TrainConfig(**yaml.safe_load(YAML)), name="same", log__progress=False)
    assert (tmp_path / "cli/runs/same/config.yaml").read_text() == (tmp_path / "py/runs/same/config.yaml").read_text()


# ---------------------------------------------------------------------------- args on a function reward

SCALED = ("def scaled(prompts, completions, scale=1.0, **kw):\n    return [scale] * len(completions)\n\n"
          "def fixed(prompts, completions, answer):\n    return [1.0] * len(completions)\n")


def test_function_args_reach_the_function(tmp_path, monkeypatch):
    module(tmp_path, monkeypatch, "scaled_rw", SCALED)
    task = build(config.ArithmeticTaskConfig())
    fn = rewards.resolve(RewardSpec(function="scaled_rw:scaled", args={"scale": 3.0}), task)
    assert _score([fn]) == ({"scaled": [3.0, 3.0]}, [3.0, 3.0])
    with pytest.raises(RewardError, match=r"args \['scale'\] are not keyword parameters"):
        rewards.resolve(RewardSpec(function="scaled_rw:fixed", args={"scale": 3.0}), task)
    with pytest.raises(RewardError, match="names the trainer passes"):
        rewards.resolve(RewardSpec(function="scaled_rw:scaled", args={"answer": "7"}), task)
    with pytest.raises(RewardError, match="takes no args"):
        rewards.check_spec(RewardSpec(name="correct", args={"strict": True}))


def test_function_args_that_clash_with_a_column_fail(tmp_path, monkeypatch):
    module(tmp_path, monkeypatch, "scaled_rw2", SCALED)
    task = build(config.CountdownTaskConfig())  # rows carry `numbers` and `target`
    fn = rewards.resolve(RewardSpec(function="scaled_rw2:scaled", args={"target": 3}), task)
    ex = task.example(0)
    with pytest.raises(RewardError, match=r"args \['target'\].*clash"):
        rewards.score([fn], [ex.question], ["x"], [ex])


# ---------------------------------------------------------------------------- the CLI's working directory


@pytest.mark.slow
def test_the_cli_imports_a_reward_module_from_the_working_directory(tmp_path):
    exe = shutil.which("rlvr", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("no `rlvr` console script next to this Python")
    (tmp_path / "myrewards.py").write_text(CONSTANTS)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # an empty PYTHONPATH entry would be the cwd
    proc = subprocess.run([exe, "train", "--preset", "smoke", "steps=1", "eval.at_start=false", "eval.at_end=false",
                           "log.report_to=[]", "log.progress=false", "rewards=[{function: 'myrewards:half'}]"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert metrics(tmp_path / "runs" / "smoke")[0]["reward/half/mean"] == 0.5
