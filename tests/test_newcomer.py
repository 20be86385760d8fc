"""A newcomer's path: the README's Python runs, Python overrides keep their types, bad configs leave nothing
behind, `rlvr eval` honours its generation section, long loops show the time remaining."""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rlvr
from rlvr import config, progress, trainer
from rlvr.rewards import RewardError
from conftest import rlvr_env

README = Path(__file__).parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_examples_run(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no Python example"
    for i, code in enumerate(blocks):
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=rlvr_env(), capture_output=True,
                              text=True, timeout=300)
        assert proc.returncode == 0, f"README Python block {i} failed:\n{code}\n{proc.stderr[-3000:]}"


def test_python_overrides_keep_their_types():
    cfg = config.from_python(preset="smoke", overrides={"name": "2024", "grpo__kl_coef": 0.5})
    assert cfg.name == "2024" and cfg.grpo.kl_coef == 0.5


def test_python_and_cli_resolve_a_yaml_file_the_same(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("steps: 3\ngrpo:\n  kl_coef: 0.02\n")
    cli = config.load(preset="default", file=path)  # what `rlvr train --config mine.yaml` runs
    assert config.from_python(str(path)) == cli
    assert config.from_python(cli, overrides={"steps": 5}).steps == 5  # overrides beside a config object apply


def test_a_misspelt_reward_fails_before_the_run_folder_exists(tmp_path):
    cfg = config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "name=x", "rewards=[{name: corect}]"])
    with pytest.raises(RewardError, match="unknown reward 'corect'"):
        trainer.train(cfg)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_eval_command_uses_its_generation_budget(run_rlvr):
    proc = run_rlvr("eval", "--model", "tiny-random", "--task", "countdown", "eval.problems=3", "eval.samples=0",
                    "generation.max_new_tokens=3")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert 0 < result["mean_length"] <= 3


def test_plain_progress_lines_show_the_time_remaining():
    from rich.console import Console

    out = io.StringIO()
    with progress.Bar(Console(file=out, force_terminal=False), "step", 3) as bar:
        for i in (1, 2, 3):
            bar.update(i, f"loss {i}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("step 1/3  loss 1  [") and "eta" in lines[1]


def test_evaluation_reports_progress(tmp_path):
    from rich.console import Console

    from rlvr import evaluate, models, tasks
    from rlvr.rollout import TransformersEngine

    cfg = config.load(preset="smoke", overrides=["eval.problems=2", "eval.samples=2", "eval.k=[1,2]"])
    model, tok = models.load("tiny-random", device=models.pick_device("cpu"), dtype=models.pick_dtype("float32", "cpu"))
    out = io.StringIO()
    result = evaluate.evaluate(TransformersEngine(model, tok), tok, tasks.build(cfg.task), eval_cfg=cfg.eval,
                               prompt_cfg=cfg.prompt, max_new_tokens=4, seed=0, console=Console(file=out))
    assert result["problems"] == 2 and re.search(r"^eval 4/4 .*eta", out.getvalue(), re.M)


@pytest.mark.slow
def test_the_built_wheel_runs_the_presets(tmp_path):
    """Build the wheel, install it (without dependencies) into a fresh venv that borrows this environment's
    third-party packages, and run the CLI from outside the source tree."""
    import site
    import venv

    import shutil

    root = Path(__file__).parents[1]
    src = tmp_path / "src-copy"  # a clean copy: a build/ folder left in the checkout would mask missing files
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(".venv", ".git", "build", "runs", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("rlvr-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    py = env_dir / "bin" / "python"
    own_site = Path(subprocess.check_output([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip())
    # a plain path line: third-party packages become importable, but this environment's editable rlvr does not
    (own_site / "borrowed.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(own_site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in rlvr_env().items() if k != "PYTHONPATH"}

    def run(*args):
        proc = subprocess.run([str(py), "-m", "rlvr", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"rlvr {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc

    where = subprocess.check_output([str(py), "-c", "import rlvr; print(rlvr.__file__)"], cwd=work, env=env, text=True)
    assert where.startswith(str(own_site)), where
    assert "reasoning-rl" in run("pipeline", "show", "--preset", "r1").stdout
    run("train", "--preset", "smoke", "eval.at_start=false", "log.report_to=[]")
    assert (work / "runs" / "smoke" / "metrics.jsonl").exists()
