"""Runs that are never silently wrong: the run-folder lock, verified checkpoints, NaN/inf guards, a failing
reward that keeps what was learned, the no-signal warning, a full disk, failed starts, TensorBoard after a resume."""

import errno
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console

import rlvr
from rlvr import algos, checkpoint, config, runs, trainer
from rlvr.learner import Learner, NonFiniteUpdate
from conftest import rlvr_env


def tiny(tmp_path, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", "eval.at_start=false",
                                                  "eval.at_end=false", "log.report_to=[]", "generation.max_new_tokens=8",
                                                  *overrides])


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def comparable(records):
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in records]


def captured():
    buf = io.StringIO()
    return buf, Console(file=buf, width=400)


def names(folder):
    return sorted(p.name for p in Path(folder).iterdir())


# --------------------------------------------------------------------------------------------- the lock


def test_a_folder_locked_by_another_process_is_refused_naming_it(tmp_path):
    run = tmp_path / "busy"
    run.mkdir()
    (run / "config.yaml").write_text("steps: 4\n")
    # another process holding the lock as a training run does: flock on RUN/.lock, its PID inside
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, sys, time\n"
                               "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\n"
                               "os.write(fd, str(os.getpid()).encode())\nprint('held', flush=True)\ntime.sleep(120)",
                               str(run / runs.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        cfg = tiny(tmp_path)
        for resume in (False, True):  # a second start of the same name, and a resume of a run still training
            with pytest.raises(runs.RunLocked, match=f"in use by process {holder.pid}"):
                runs.open_run(cfg, path=run, resume=resume, command="train")
        assert (run / "config.yaml").read_text() == "steps: 4\n"  # refused before writing anything
    finally:
        holder.kill()  # SIGKILL: the OS drops the lock with the process
        holder.wait()
    opened = runs.open_run(cfg, path=run, resume=True, command="train")
    assert (run / runs.LOCK).read_text().strip() == str(os.getpid())
    opened.release()


@pytest.mark.slow
def test_a_second_start_and_a_resume_fail_while_the_run_trains(tmp_path):
    common = ["--preset", "smoke", f"output_dir={tmp_path}", "name=busy", "steps=500", "checkpoint.save_every=1",
              "eval.at_start=false", "log.report_to=[]", "rewards=[{function: 'rlvr_test_helpers:slow_digit_share'}]"]
    first = subprocess.Popen([sys.executable, "-m", "rlvr", "train", *common], cwd=tmp_path, env=rlvr_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "busy" / "metrics.jsonl"
    others = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not metrics.exists() or not metrics.read_text().strip()):
            time.sleep(0.05)
        # a second start of the same name, and a resume of the run while it trains, side by side
        for args in (common, ["--resume", str(tmp_path / "busy")]):
            others.append(subprocess.Popen([sys.executable, "-m", "rlvr", "train", *args], cwd=tmp_path, env=rlvr_env(),
                                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        results = [(p.wait(timeout=120), p.communicate()[1]) for p in others]
        assert first.poll() is None, "the first run stopped"
    finally:
        for proc in (first, *others):  # without the lock the others would train on: stop every one
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    for code, err in results:
        assert code == 1, err
        assert f"in use by process {first.pid}" in err
    steps = [m["step"] for m in read_jsonl(metrics)]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no step logged twice


# --------------------------------------------------------------------------------------------- checksums


def fake_checkpoint(folder: Path, step: int, *, manifest: bool = True) -> Path:
    ckpt = folder / f"step-{step:06d}"
    (ckpt / "adapter").mkdir(parents=True)
    (ckpt / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    (ckpt / "adapter" / "adapter_model.safetensors").write_bytes(b"adapter %d" % step)
    (ckpt / checkpoint.STATE).write_bytes(b"state %d" % step * 100)
    if manifest:
        checkpoint.write_manifest(ckpt)
    return ckpt


@pytest.mark.parametrize("damage, why", [
    (lambda c: _overwrite(c / "model.safetensors", 1000, b"\xff" * 16), "model.safetensors does not match its checksum"),
    (lambda c: _truncate(c / checkpoint.STATE), "trainer_state.pt does not match its checksum"),
    (lambda c: (c / "adapter" / "adapter_model.safetensors").unlink(), "adapter/adapter_model.safetensors is missing"),
])
def test_a_damaged_latest_checkpoint_is_skipped_and_named(tmp_path, damage, why):
    folder = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        fake_checkpoint(folder, step)
    damage(folder / "step-000003")
    said = []
    assert checkpoint.latest(folder, report=said.append) == folder / "step-000002"
    assert len(said) == 1 and "step-000003" in said[0] and why in said[0]
    # moved aside: not resumed from again, and not counted (or pruned) by keep_last
    assert names(folder) == ["step-000001", "step-000002", "step-000003.corrupt"]
    assert checkpoint.complete(folder) == [folder / "step-000001", folder / "step-000002"]


def _overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_no_intact_checkpoint_is_a_clear_error_and_old_ones_are_accepted(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (1, 2):
        _truncate(fake_checkpoint(folder, step) / "model.safetensors")
    with pytest.raises(checkpoint.CorruptCheckpoint, match="no intact checkpoint.*step-000002.*step-000001"):
        checkpoint.latest(folder)
    assert names(folder) == ["step-000001", "step-000002"]  # nothing moved: a retry says the same
    old = fake_checkpoint(tmp_path / "old", 5, manifest=False)  # written before checksums were kept
    assert checkpoint.latest(tmp_path / "old") == old


@pytest.mark.slow
def test_resume_falls_back_past_a_corrupt_checkpoint_and_replays_exactly(tmp_path, capsys):
    from rlvr_test_helpers import digit_share

    cfg = tiny(tmp_path, "name=straight", "steps=3", "checkpoint.save_every=1", "checkpoint.keep_last=3")
    straight = trainer.train(cfg, reward_funcs=[digit_share])
    # a run killed after its step-2 checkpoint, whose step-2 weights were damaged since
    damaged = tmp_path / "damaged"
    shutil.copytree(straight, damaged)
    shutil.rmtree(damaged / "checkpoints" / "step-000003")
    weights = damaged / "checkpoints" / "step-000002" / "model.safetensors"
    _overwrite(weights, weights.stat().st_size // 2, b"\xff" * 64)  # NaNs inside a tensor
    capsys.readouterr()
    trainer.train(cfg, resume=damaged, reward_funcs=[digit_share])
    said = capsys.readouterr().err
    assert "step-000002" in said and "model.safetensors does not match its checksum" in said
    assert "resuming from step-000001" in said
    for name in ("metrics.jsonl", "rollouts.jsonl"):  # logs cut back to step 1, steps 2 and 3 replayed
        assert comparable(read_jsonl(damaged / name)) == comparable(read_jsonl(straight / name)), name
    assert checkpoint.damage(damaged / "checkpoints" / "step-000003") is None


# --------------------------------------------------------------------------------------------- non-finite


def one_batch(cfg):
    """A learner and one scored batch of the smoke task."""
    import functools

    from rlvr import rewards, tasks
    from rlvr.rollout import TransformersEngine
    from rlvr_test_helpers import digit_share

    learner = Learner(cfg)
    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(cfg.grpo.prompts_per_step)]
    gen = trainer.rollout(TransformersEngine(learner.model, learner.tokenizer), learner.tokenizer, cfg, examples, 0).result()
    score = functools.partial(rewards.score_samples, [rewards.Reward("d", digit_share)], task)
    return learner, trainer.advantage(trainer.reward(score, examples, gen, 1, cfg.grpo.samples_per_prompt), cfg)


@pytest.mark.parametrize("fault", ["nan loss", "inf gradient norm"])
def test_a_non_finite_update_is_refused_before_the_optimizer_step(tmp_path, monkeypatch, fault):
    learner, batch = one_batch(tiny(tmp_path, "grpo.skip_zero_signal_groups=false"))
    if fault == "nan loss":
        real = algos.grpo_loss
        monkeypatch.setattr(algos, "grpo_loss", lambda *a, **k: (lambda out: (out[0] * float("nan"), out[1]))(real(*a, **k)))
    else:
        monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", lambda params, max_norm: torch.tensor(float("inf")))
    before = [p.detach().clone() for p in learner.model.parameters()]
    with pytest.raises(NonFiniteUpdate, match="nan" if fault == "nan loss" else "gradient norm inf"):
        learner.update(batch)
    assert all(torch.equal(a, p) for a, p in zip(before, learner.model.parameters()))
    assert not learner.optimizer.state  # Adam never stepped


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from rlvr import cli

    updates = []
    real_update, real_loss = Learner.update, algos.grpo_loss
    monkeypatch.setattr(Learner, "update", lambda self, batch: updates.append(1) or real_update(self, batch))
    monkeypatch.setattr(algos, "grpo_loss", lambda *a, **k: (lambda out: (
        out[0] * float("nan") if len(updates) >= 3 else out[0], out[1]))(real_loss(*a, **k)))
    code = cli.main(["train", "--preset", "smoke", f"output_dir={tmp_path}", "name=nan", "steps=4", "log.progress=false",
                     "checkpoint.save_every=1", "grpo.skip_zero_signal_groups=false", "eval.at_start=false",
                     "log.report_to=[]", "generation.max_new_tokens=8"])
    err = capsys.readouterr().err
    assert code == 1 and "rlvr: error: step 3: the loss is nan" in err
    run = tmp_path / "nan"
    assert names(run / "checkpoints") == ["step-000001", "step-000002"]
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2]
    assert "last good checkpoint is step-000002" in err and f"rlvr train --resume {run}" in err


class Blob(torch.nn.Module):
    """A stand-in model whose checkpoint is one tensor file of `numel` floats (written by torch.save, which is
    how a full disk showed up as `[enforce fail at inline_container.cc]`)."""

    def __init__(self, numel: int):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(numel))

    def save_pretrained(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        torch.save(self.state_dict(), Path(folder) / "model.bin")


class Tokenizer:
    def save_pretrained(self, folder):
        (Path(folder) / "tokenizer.json").write_text("{}")


def save_blob(folder, step, model):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return checkpoint.save(folder, step=step, model=model, tokenizer=Tokenizer(), optimizer=opt,
                           scheduler=torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0), data_position=0, keep_last=3)


def test_weights_holding_nan_are_never_saved(tmp_path):
    model = Blob(8)
    save_blob(tmp_path, 1, model)
    with torch.no_grad():
        model.w[3] = float("inf")
    with pytest.raises(checkpoint.NonFiniteWeights, match="parameter w"):
        save_blob(tmp_path, 2, model)
    assert names(tmp_path) == ["step-000001"]


# --------------------------------------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}); test_a_save_that_hits_enospc_... covers it")
    yield disk
    # lazily: the failed torch.save's file may still be open (its writer is freed with the traceback)
    subprocess.run(["umount", "--lazy", str(disk)], check=True)


def test_a_full_disk_says_so_and_removes_the_partial_checkpoint(small_disk):
    folder = small_disk / "run" / "checkpoints"
    model = Blob(300_000)  # 1.2 MB: the first checkpoint fits on the 2 MB disk, the second does not
    save_blob(folder, 1, model)
    with pytest.raises(OSError, match=f"no space left on device saving checkpoint step 2 in {folder}") as err:
        save_blob(folder, 2, model)
    assert err.value.errno == errno.ENOSPC and isinstance(err.value, RuntimeError)  # `rlvr`: an error, exit 1
    assert names(folder) == ["step-000001"]  # the partial step-000002.tmp is gone
    assert checkpoint.damage(folder / "step-000001") is None


def test_a_save_that_hits_enospc_in_any_writer_is_reported_and_cleaned(tmp_path, monkeypatch):
    def full(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Blob, "save_pretrained", full)
    with pytest.raises(OSError, match=f"no space left on device saving checkpoint step 1 in {tmp_path}"):
        save_blob(tmp_path, 1, Blob(4))
    assert names(tmp_path) == []


# --------------------------------------------------------------------------------------------- failures mid-run


@pytest.mark.slow
def test_a_reward_that_raises_saves_the_last_step_and_the_run_resumes(tmp_path, monkeypatch):
    from rlvr_test_helpers import raise_on_call

    monkeypatch.setenv("RLVR_TEST_CALLS", str(tmp_path / "calls"))
    cfg = tiny(tmp_path, "name=straight", "steps=4", "checkpoint.save_every=0")
    straight = trainer.train(cfg, reward_funcs=[raise_on_call])  # RLVR_TEST_RAISE_AT unset: never raises
    (tmp_path / "calls").unlink()
    monkeypatch.setenv("RLVR_TEST_RAISE_AT", "3")  # the third call: step 3
    cfg = tiny(tmp_path, "name=failing", "steps=4", "checkpoint.save_every=0")
    buf, console = captured()
    with pytest.raises(Exception, match="the grader went away"):
        trainer.train(cfg, reward_funcs=[raise_on_call], console=console)
    run = tmp_path / "failing"
    assert names(run / "checkpoints") == ["step-000002"]
    assert f"saved at {run / 'checkpoints' / 'step-000002'}" in buf.getvalue()
    assert f"rlvr train --resume {run}" in buf.getvalue()
    trainer.train(cfg, resume=run, reward_funcs=[raise_on_call])  # the counter is past 3 now: the reward is "fixed"
    for name in ("metrics.jsonl", "rollouts.jsonl"):
        assert comparable(read_jsonl(run / name)) == comparable(read_jsonl(straight / name)), name


def constant(prompts, completions, **kwargs):
    return [1.0] * len(completions)


@pytest.mark.slow
def test_steps_without_signal_warn_once_per_streak(tmp_path):
    buf, console = captured()
    trainer.train(tiny(tmp_path, "steps=4", "checkpoint.save_every=0"), reward_funcs=[constant], console=console)
    out = buf.getvalue()
    assert out.count("WARNING: no learning signal") == 1  # a streak of 4 warns once, at its third step
    assert "for 3 steps running (steps 1-3)" in out and "all samples got the same reward" in out


def fake_batch(cfg, per_reward: dict, totals: list):
    batch = trainer.Rollouts(1, [], None, per_reward, torch.tensor(totals), torch.zeros(len(totals)))
    return trainer.advantage(batch, cfg)


def test_what_counts_as_no_signal(tmp_path):
    cfg = tiny(tmp_path, "grpo.samples_per_prompt=2")
    nan = float("nan")
    assert trainer.no_signal(fake_batch(cfg, {"r": [nan] * 4, "s": [nan] * 4}, [0.0] * 4)) == \
        "every reward function returned None for every sample"
    assert "same reward" in trainer.no_signal(fake_batch(cfg, {"r": [1.0, 1.0, nan, nan]}, [1.0, 1.0, 0.0, 0.0]))
    # one group with signal (or one reward that is not None) is enough
    assert trainer.no_signal(fake_batch(cfg, {"r": [0.0, 1.0, nan, 1.0]}, [0.0, 1.0, 0.0, 1.0])) is None
    assert trainer.no_signal(fake_batch(cfg, {"r": [nan, nan, nan, 1.0], "s": [nan] * 4}, [0.0, 0.0, 0.0, 1.0])) is None


# --------------------------------------------------------------------------------------------- failed starts


@pytest.mark.parametrize("fault", ["model", "eval", "reward"])
def test_a_failed_start_leaves_no_run_folder(tmp_path, monkeypatch, fault):
    from rlvr import evaluate

    from rlvr_test_helpers import raise_on_call

    overrides = {"model": ["model=/nonexistent/model"], "eval": ["eval.at_start=true"], "reward": []}[fault]
    if fault == "eval":  # e.g. a held-out set too small for eval.problems, found when the first eval runs
        monkeypatch.setattr(evaluate, "evaluate", lambda *a, **k: (_ for _ in ()).throw(ValueError("held-out too small")))
    monkeypatch.setenv("RLVR_TEST_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("RLVR_TEST_RAISE_AT", "1")  # "reward": the very first reward call fails
    cfg = tiny(tmp_path / "runs", "name=fails", *overrides)
    with pytest.raises(Exception):
        trainer.train(cfg, reward_funcs=[raise_on_call])
    assert not (tmp_path / "runs" / "fails").exists()
    # a resumed run's folder is never removed, whatever fails
    (tmp_path / "calls").unlink(missing_ok=True)
    run = tmp_path / "runs" / "earlier"
    run.mkdir(parents=True)
    (run / "eval.jsonl").write_text('{"step": 0}\n')
    with pytest.raises(Exception):
        trainer.train(cfg, resume=run, reward_funcs=[raise_on_call])
    assert {"config.yaml", "eval.jsonl"} <= set(names(run))


# --------------------------------------------------------------------------------------------- TensorBoard


@pytest.mark.slow
def test_tensorboard_shows_each_step_once_after_a_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from rlvr_test_helpers import digit_share

    cfg = tiny(tmp_path, "name=straight", "steps=3", "checkpoint.save_every=1", "log.report_to=[tensorboard]")
    straight = trainer.train(cfg, reward_funcs=[digit_share])
    # killed after logging step 3 but before its checkpoint: the resume replays step 3
    killed = tmp_path / "killed"
    shutil.copytree(straight, killed)
    shutil.rmtree(killed / "checkpoints" / "step-000003")
    trainer.train(cfg, resume=killed, reward_funcs=[digit_share])

    def scalars(run):
        acc = EventAccumulator(str(run / "tensorboard"))
        acc.Reload()
        return [(e.step, e.value) for e in acc.Scalars("reward/mean")]

    assert [s for s, _ in scalars(killed)] == [1, 2, 3]
    assert scalars(killed) == scalars(straight)


@pytest.mark.parametrize("command", ["sft", "rm", "sample"])
def test_a_failed_start_of_sft_rm_or_sample_leaves_no_run_folder(tmp_path, command):
    """The model cannot load: the command fails and leaves no runs/NAME/ behind to collide with the retry."""
    from rlvr import cli

    out = tmp_path / "runs"
    code = None
    try:
        code = cli.main([command, f"output_dir={out}", "name=broken", f"model={tmp_path}/no-such-model", "progress=false"]
                        if command != "sample" else
                        [command, f"output_dir={out}", "name=broken", f"model={tmp_path}/no-such-model"])
    except Exception:
        pass
    assert code != 0
    assert not (out / "broken").exists()
