"""Attacks on the Ray backend: configurations and faults a user of verl/OpenRLHF would try, each of which once
misbehaved (hung, or left things behind). On a local Ray shared by the module, like tests/test_cluster.py."""

import io
import os
import threading

import pytest
import torch

from rlvr import config, trainer
from conftest import TESTS

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

CPUS = 4  # the module's Ray: logical CPUs, whatever the machine has


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Started from a folder of its own: Ray's workers start where Ray was started, not where a run is."""
    threads, here = torch.get_num_threads(), os.getcwd()
    os.chdir(tmp_path_factory.mktemp("where-ray-started"))
    try:
        ray.init(num_cpus=CPUS, num_gpus=0, include_dashboard=False, logging_level="ERROR",
                 runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    finally:
        os.chdir(here)
    yield
    ray.shutdown()
    torch.set_num_threads(threads)


def tiny(output_dir, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={output_dir}", "log.progress=false", "steps=1",
                                                  "eval.at_start=false", "eval.at_end=false", "log.report_to=[]",
                                                  "cluster.backend=ray", *overrides])


def train_within(cfg, seconds: float):
    """trainer.train in a thread: (finished in time, the exception it raised or None). A run that waits for
    actors Ray cannot place never returns, so the test must not wait on it forever."""
    from rich.console import Console
    from rlvr_test_helpers import digit_share

    got = {}

    def go():
        try:
            trainer.train(cfg, reward_funcs=[digit_share], console=Console(file=io.StringIO()))
            got["error"] = None
        except BaseException as e:  # noqa: BLE001 - handed to the test
            got["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), got.get("error")


@pytest.mark.parametrize("overrides, names", [
    # 1 learner + 1 rollout worker + CPUS reward workers: two CPUs more than the cluster has
    ([f"cluster.reward_workers={CPUS}"], [f"{CPUS + 2:g} CPUs (it has {CPUS})", f"reward_workers={CPUS}"]),
    # a GPU learner on a cluster without GPUs (a verl habit: one GPU per learner)
    (["cluster.gpus_per_learner=1"], ["1 GPUs (it has 0)", "gpus_per_learner=1"]),
])
def test_a_cluster_too_small_for_the_actors_is_an_error_not_a_hang(tmp_path, cluster, overrides, names):
    """Ray keeps an actor it cannot place pending forever: the run used to wait on it without a word."""
    finished, error = train_within(tiny(tmp_path, *overrides), seconds=60)
    assert finished, "the run waited for actors the cluster cannot place"
    assert isinstance(error, ValueError), error
    for name in names:
        assert name in str(error), str(error)


def test_relative_paths_mean_the_drivers_folder_not_the_one_ray_was_started_from(tmp_path, cluster, monkeypatch):
    """`ray start` in one folder, `rlvr train cluster.address=auto` from another with the default relative
    output_dir: learner 0 wrote the checkpoints under the folder Ray was started from, so the run folder had
    none and `--resume` started over."""
    monkeypatch.chdir(tmp_path)
    finished, error = train_within(tiny("runs", "name=rel"), seconds=240)
    assert finished and error is None, error
    assert (tmp_path / "runs" / "rel" / "checkpoints" / "step-000001").is_dir()
