"""The Ray backend: the roles of a GRPO step as Ray actors, driven by the trainer's unchanged phase loop.

    driver ──prompt shards──────────────> RolloutWorker x rollout_workers   engine over its prompts
           <─Generation shards─────────   (ids, masks, texts, behaviour log-probs), concatenated in order
           ──sample shards──────────────> RewardWorker x reward_workers     reward functions and verifiers
           <─Scores shards─────────────
           advantages (in the driver's loop)
           ──the batch, put once────────> LearnerWorker x learners          torch.distributed: gloo / NCCL
           <─statistics────────────────   learner 0's weights, put once, ──> every RolloutWorker (`sync`)

Rollouts are seeded per sample (rollout.py), so shards give the same tokens as one engine would, and the run
can be compared with the local backend token for token. Learner 0 runs on the driver's node and writes the
checkpoints into the run folder there.

Faults. A rollout or reward call whose worker dies (RayActorError) or that outlasts `worker_timeout_s` (a
hung worker: killed first) is logged with the worker's name and pid; a new actor replaces the worker, is
brought to the weights the call was made with, and the call is retried, so the retried shard returns exactly
what the lost one would have. A rollout shard that fails 3 times stops the run with the reasons. A reward
shard that fails twice is scored one sample at a time, and a sample that still kills or hangs its worker
scores 0, with the reason in rollouts.jsonl (`reward_error`). Learners are not replaced: a learner that dies
stops the run, and `--resume` continues from the last checkpoint, as after a driver crash.
"""

from __future__ import annotations

import datetime
import math
import os
import socket
import sys
import time
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as e:  # pragma: no cover - rlvr.cluster.check names the fix before this is imported
    raise ImportError("cluster.backend=ray needs Ray: pip install 'rlvr[ray]'") from e

from rlvr import config as config_mod, rewards as rewards_mod, rollout, tasks
from rlvr.cluster import Workers
from rlvr.learner import Learner, check_fsdp

ROLLOUT_ATTEMPTS = 3  # a rollout shard is tried this often before the run stops
REWARD_ATTEMPTS = 2  # a reward shard is tried this often before it is scored one sample at a time
REWARD_GIVE_UP = 3  # samples failing alone, none scored yet: the rest of the step's failed shards score 0


def _cfg(data: dict):
    return config_mod.TrainConfig.model_validate(data)


def _worker_setup(threads: int, cwd: str | None) -> None:
    """What every actor process does first: its torch threads, no per-file progress bars from transformers
    (the driver shows the run's own), and the driver's working directory where this node has it: Ray starts
    workers in the directory Ray was started from (`ray start` elsewhere, a notebook that changed directory),
    while the run's relative paths (output_dir, a local model folder, data files) mean the driver's."""
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(threads)
    hf_logging.disable_progress_bar()
    if cwd and os.path.isdir(cwd):
        os.chdir(cwd)


def _threads(cpus: float) -> int:
    return max(1, int(cpus))


# --------------------------------------------------------------------------------------------- actors


class RolloutWorker:
    """An engine (the `generation.backend` one) over its own copy of the policy, refreshed by `sync`."""

    def __init__(self, cfg_data: dict, threads: int, cwd: str | None = None):
        from rlvr import policy
        from rlvr.models import pick_device, pick_dtype

        _worker_setup(threads, cwd)
        cfg = _cfg(cfg_data)
        device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        # built like the learner's policy (LoRA adapters included), so the learner's parameter names match
        self.model, tokenizer = policy.build(cfg, device, pick_dtype(cfg.dtype, device))
        self.model.requires_grad_(False)
        self.params = dict(self.model.named_parameters())
        self.engine = rollout.build(cfg.generation, self.model, tokenizer,
                                    weights_dtype=torch.bfloat16 if cfg.bf16_autocast else None)

    def pid(self) -> int:
        return os.getpid()

    @torch.no_grad()
    def sync(self, weights: dict) -> None:
        for name, value in _unpack(weights).items():
            self.params[name].copy_(value)
        self.engine.sync(self.model)

    def generate(self, prompts: list[str], *, n: int, sampling, seed: int, first_prompt: int):
        gen = self.engine.generate(prompts, n=n, sampling=sampling, seed=seed, first_prompt=first_prompt)
        return replace(gen, **{f.name: getattr(gen, f.name).cpu() for f in fields(gen)
                               if isinstance(getattr(gen, f.name), torch.Tensor)})


class RewardWorker:
    """The run's reward functions and its task's checker, over a shard of samples."""

    def __init__(self, cfg_data: dict, functions: list | None, threads: int, cwd: str | None = None):
        _worker_setup(threads, cwd)  # a reward model (the `preference` reward) computes with these
        cfg = _cfg(cfg_data)
        self.task = tasks.build(cfg.task)
        self.rewards = functions if functions is not None else [rewards_mod.resolve(s, self.task) for s in cfg.rewards]

    def pid(self) -> int:
        return os.getpid()

    def score(self, examples, completions, completion_ids, state=None):
        return rewards_mod.score_samples(self.rewards, self.task, examples, completions, completion_ids, state)


class LearnerWorker:
    """One rank of the data-parallel learner group."""

    def __init__(self, cfg_data: dict, rank: int, world: int, threads: int, cwd: str | None = None):
        _worker_setup(threads, cwd)
        self.cfg, self.rank, self.world = _cfg(cfg_data), rank, world
        self.learner: Learner | None = None

    def pid(self) -> int:
        return os.getpid()

    def rendezvous(self) -> str:
        """A TCP address on this node for the process group (asked of rank 0)."""
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        return f"tcp://{ray.util.get_node_ip_address()}:{port}"

    def setup(self, init_method: str, checkpoint: str | None) -> dict:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() and self.cfg.cluster.gpus_per_learner > 0 else "gloo"
        # a learner that hangs leaves the others waiting in a collective: they give up after worker_timeout_s
        # (instead of the 30-minute default) and the run stops with the error; resume from the last checkpoint
        dist.init_process_group(backend, init_method=init_method, rank=self.rank, world_size=self.world,
                                timeout=datetime.timedelta(seconds=self.cfg.cluster.worker_timeout_s))
        self.learner = Learner(self.cfg, checkpoint=Path(checkpoint) if checkpoint else None, group=dist.group.WORLD)
        return self.learner.state

    def tokenizer(self):
        return self.learner.tokenizer

    def update(self, batch) -> tuple[dict, float]:
        stats = self.learner.update(batch)
        return stats, self.learner.lr()

    def lr(self) -> float:
        return self.learner.lr()

    def weights(self) -> dict:
        return _pack(self.learner.weights())

    def save(self, folder: str, step: int, data_position: int, extra) -> str | None:
        path = self.learner.save(Path(folder), step=step, data_position=data_position, extra=extra)
        return None if path is None else str(path)  # None: an FSDP learner other than 0


def _pack(weights: dict) -> dict:
    """Tensors as numpy arrays (bf16 and other dtypes numpy lacks as same-width integers, with their dtype):
    Ray stores numpy arrays with one copy and hands them to readers without another, where a pickled tensor
    is copied on both sides. For the embedded model (540 MB) this took learner-to-worker from ~3.3 s to ~0.3 s a step."""
    out = {}
    for name, t in weights.items():
        t = t.detach().contiguous()
        if t.dtype in (torch.bfloat16, torch.float16):
            out[name] = (t.view(torch.int16).numpy(), str(t.dtype))
        else:
            out[name] = (t.numpy(), None)
    return out


def _unpack(packed: dict) -> dict:
    import warnings

    out = {}
    with warnings.catch_warnings():  # the arrays live read-only in Ray's store: they are only read (copied from)
        warnings.simplefilter("ignore", UserWarning)
        for name, (array, dtype) in packed.items():
            t = torch.from_numpy(array)
            out[name] = t.view(getattr(torch, dtype.removeprefix("torch."))) if dtype else t
    return out


# --------------------------------------------------------------------------------------------- fault handling


@dataclass
class Job:
    worker: int  # index of the worker slot
    method: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    weights: Any = None  # rollout jobs: the weights (object ref) the call must run on
    actor: Any = None  # the actor it was sent to
    ref: Any = None
    started: float = 0.0
    attempts: int = 0
    failures: list = field(default_factory=list)


@dataclass
class Failed:
    reasons: list[str]


class Pool:
    """Worker slots of one role. `make(name)` starts an actor. A failed job is retried on a new actor in its
    slot; `prepare(actor, job)` runs before the retry is sent and `settle(actor, job)` after."""

    def __init__(self, role: str, make, size: int, *, timeout_s: float, console):
        self.role, self.make, self.timeout_s, self.console = role, make, timeout_s, console
        self.prepare = self.settle = None  # hooks around a retried job on a replacement: (actor, job) -> None
        self.names = [f"{role}-{i}" for i in range(size)]
        self.actors = [make(name) for name in self.names]
        self.replacements = 0
        self.pids = ray.get([a.pid.remote() for a in self.actors])

    def submit(self, jobs: list[Job]) -> list[Job]:
        for job in jobs:
            self._send(job)
        return jobs

    def _send(self, job: Job) -> None:
        job.actor = self.actors[job.worker]
        job.ref = getattr(job.actor, job.method).remote(*job.args, **job.kwargs)
        job.started, job.attempts = time.monotonic(), job.attempts + 1

    def gather(self, jobs: list[Job], *, attempts: int) -> list:
        """Each job's result, or `Failed` once a job has failed `attempts` times (death or timeout)."""
        results: dict[int, Any] = {}
        while len(results) < len(jobs):
            waiting = [k for k in range(len(jobs)) if k not in results]
            now = time.monotonic()
            wait_s = max(0.0, min(jobs[k].started + self.timeout_s for k in waiting) - now)
            ready, _ = ray.wait([jobs[k].ref for k in waiting], num_returns=1, timeout=wait_s)
            ready = set(ready)
            for k in waiting:
                job = jobs[k]
                if job.ref in ready:
                    try:
                        results[k] = ray.get(job.ref)
                        continue
                    except RayActorError as e:
                        reason = f"died ({type(e).__name__})"
                elif time.monotonic() - job.started >= self.timeout_s:
                    reason = f"did not answer within {self.timeout_s:g} s"
                    ray.kill(job.actor, no_restart=True)
                else:
                    continue
                results.update(self._retry(k, job, reason, attempts))
        return [results[k] for k in range(len(jobs))]

    def _retry(self, k: int, job: Job, reason: str, attempts: int) -> dict:
        slot = job.worker
        name, pid = self.names[slot], self.pids[slot]
        job.failures.append(f"{name} (pid {pid}) {reason}")
        if self.actors[slot] is job.actor:  # not yet replaced by another job's failure on the same worker
            self.replacements += 1
            self.names[slot] = f"{self.role}-{slot}-r{self.replacements}"
            self.actors[slot] = self.make(self.names[slot])
            try:
                self.pids[slot] = ray.get(self.actors[slot].pid.remote(), timeout=self.timeout_s)
            except (GetTimeoutError, RayActorError):
                self.pids[slot] = None
            self.console.print(f"[yellow]{self.role} worker {name} (pid {pid}) {reason}: replaced by "
                               f"{self.names[slot]} (pid {self.pids[slot]})[/yellow]")
        if job.attempts >= attempts:
            return {k: Failed(job.failures)}
        if self.prepare is not None:
            self.prepare(self.actors[slot], job)
        self._send(job)
        if self.settle is not None:
            self.settle(self.actors[slot], job)
        return {}


# --------------------------------------------------------------------------------------------- driver side


class RayEngine:
    """The engine contract over a pool of rollout workers: a call's prompts are split into contiguous shards,
    one per worker, and the shards' generations concatenated in order."""

    def __init__(self, pool: Pool, pad_id: int):
        self.pool, self.pad_id, self.weights = pool, pad_id, None
        pool.prepare, pool.settle = self._prepare, self._settle

    def _prepare(self, actor, job: Job) -> None:
        """A replacement first takes the weights the job was made with (in asynchronous mode, older than the
        latest); its later calls run on the latest. An actor runs its calls in the order they were sent."""
        if job.weights is not None:
            actor.sync.remote(job.weights)

    def _settle(self, actor, job: Job) -> None:
        if self.weights is not None and self.weights is not job.weights:
            actor.sync.remote(self.weights)

    def sync(self, weights) -> None:
        """`weights`: an object ref of learner 0's weights, sent to every worker once."""
        self.weights = weights
        for actor in self.pool.actors:
            actor.sync.remote(weights)

    def submit(self, prompts: list[str], *, n: int, sampling, seed: int, first_prompt: int = 0) -> "PendingGeneration":
        bounds = _split(len(prompts), len(self.pool.actors))
        jobs = [Job(i, "generate", (prompts[a:b],), dict(n=n, sampling=sampling, seed=seed, first_prompt=first_prompt + a),
                    weights=self.weights) for i, (a, b) in enumerate(bounds) if b > a]
        return PendingGeneration(self, self.pool.submit(jobs))

    def generate(self, prompts: list[str], *, n: int, sampling, seed: int, first_prompt: int = 0):
        return self.submit(prompts, n=n, sampling=sampling, seed=seed, first_prompt=first_prompt).result()


class PendingGeneration:
    def __init__(self, engine: RayEngine, jobs: list[Job]):
        self.engine, self.jobs, self.value = engine, jobs, None

    def result(self):
        if self.value is None:
            parts = self.engine.pool.gather(self.jobs, attempts=ROLLOUT_ATTEMPTS)
            failed = [p for p in parts if isinstance(p, Failed)]
            if failed:
                raise RuntimeError("rollout shard failed on every try: " + "; ".join(r for f in failed for r in f.reasons))
            self.value = rollout.Generation.cat(parts, pad_id=self.engine.pad_id)
        return self.value


class RayRewards:
    """The reward phase over a pool of reward workers."""

    def __init__(self, pool: Pool, names: list[str]):
        self.pool, self.names = pool, names

    def __call__(self, examples, completions, completion_ids, state=None):  # state: TRL's trainer_state
        bounds = [(a, b) for a, b in _split(len(completions), len(self.pool.actors)) if b > a]
        jobs = [Job(i, "score", (examples[a:b], completions[a:b], completion_ids[a:b], state)) for i, (a, b) in enumerate(bounds)]
        parts = self.pool.gather(self.pool.submit(jobs), attempts=REWARD_ATTEMPTS)
        tried = {"failed": 0, "scored": 0}  # over the step's one-at-a-time fallback
        for k, part in enumerate(parts):
            if isinstance(part, Failed):  # find the sample(s) that break the worker: one at a time
                a, b = bounds[k]
                parts[k] = rewards_mod.Scores.cat([self._one(i, examples, completions, completion_ids, state, tried)
                                                   for i in range(a, b)])
        return rewards_mod.Scores.cat(parts)

    def _one(self, i, examples, completions, completion_ids, state, tried: dict):
        if tried["failed"] >= REWARD_GIVE_UP and not tried["scored"]:
            # every sample tried alone failed too: the workers fail whatever the sample (a verifier service
            # down, say), and trying the rest one timeout each would stall the step for nothing
            return self._zero(f"not scored: the reward workers failed on each of the {tried['failed']} samples tried alone before it")
        job = Job(0, "score", (examples[i : i + 1], completions[i : i + 1], completion_ids[i : i + 1], state))
        (got,) = self.pool.gather(self.pool.submit([job]), attempts=1)
        if not isinstance(got, Failed):
            tried["scored"] += 1
            return got
        tried["failed"] += 1
        return self._zero("reward worker failed on this sample: " + "; ".join(got.reasons))

    def _zero(self, reason: str):
        return rewards_mod.Scores({name: [0.0] for name in self.names}, [0.0], [0.0], [reason])


class RayLearner:
    """The learner contract over the data-parallel group: the batch goes to every rank once (object store).

    `fsdp`: the learners shard the model (cluster.fsdp), so gathering the weights and saving are collective:
    every rank is called and learner 0's result is used."""

    def __init__(self, actors: list, state: dict, *, fsdp: bool = False):
        self.actors, self.state, self.fsdp = actors, state, fsdp
        self._lr = ray.get(actors[0].lr.remote())
        self._others: list = []  # the other ranks' part in the last weights gather (empty dicts): checked later

    def lr(self) -> float:
        return self._lr

    def update(self, batch) -> dict:
        self._settle()
        ref = ray.put(batch)
        results = ray.get([a.update.remote(ref) for a in self.actors])
        stats, self._lr = results[0]
        return stats

    def policy(self):
        """An object ref of learner 0's weights: rollout workers resolve it, the driver never copies it."""
        if not self.fsdp:
            return self.actors[0].weights.remote()
        self._settle()
        first, *self._others = [a.weights.remote() for a in self.actors]
        return first

    def save(self, folder: Path, *, step: int, data_position: int, extra: dict | None = None) -> Path:
        self._settle()
        actors = self.actors if self.fsdp else self.actors[:1]
        return Path(ray.get([a.save.remote(str(folder), step, data_position, extra) for a in actors])[0])

    def _settle(self) -> None:
        """Raise now if another rank failed in the last weights gather."""
        others, self._others = self._others, []
        ray.get(others)


def _split(n: int, parts: int) -> list[tuple[int, int]]:
    """Contiguous [a, b) bounds of n items over `parts` workers, sizes differing by at most one."""
    base, extra = divmod(n, parts)
    bounds, a = [], 0
    for i in range(parts):
        b = a + base + (i < extra)
        bounds.append((a, b))
        a = b
    return bounds


# --------------------------------------------------------------------------------------------- start


def connect(cfg) -> bool:
    """Join or start Ray; True when this process started it (and shuts it down at the end)."""
    if ray.is_initialized():  # a notebook or a test that manages Ray itself
        return False
    c = cfg.cluster
    # workers import what the driver imports: the driver's search path goes with them
    paths = [os.getcwd() if p == "" else p for p in sys.path]
    kwargs: dict = dict(address=c.address, include_dashboard=False, logging_level="WARNING",
                        runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in paths if Path(p).is_dir())}})
    if c.address is None:  # a local Ray: logical CPUs for every actor asked for, even beyond the cores here
        asked = (c.rollout_workers * c.cpus_per_rollout_worker + c.reward_workers * c.cpus_per_reward_worker
                 + c.learners * c.cpus_per_learner)
        kwargs["num_cpus"] = max(os.cpu_count() or 1, math.ceil(asked))
    ray.init(**kwargs)
    return True


def check_resources(cfg) -> None:
    """Fail, naming the settings, when the cluster has fewer CPUs or GPUs than the actors ask for: Ray would
    keep the actors it cannot place pending, and the run would wait for them forever without a word. (An
    autoscaling cluster is judged by the nodes it has now.)"""
    c = cfg.cluster
    asked = {"CPU": c.rollout_workers * c.cpus_per_rollout_worker + c.reward_workers * c.cpus_per_reward_worker
             + c.learners * c.cpus_per_learner,
             "GPU": c.rollout_workers * c.gpus_per_rollout_worker + c.learners * c.gpus_per_learner}
    have = ray.cluster_resources()
    short = [f"{asked[r]:g} {r}s (it has {have.get(r, 0):g})" for r in asked if asked[r] > have.get(r, 0) + 1e-9]
    if short:
        raise ValueError(
            "the Ray cluster is too small for cluster.*: the actors ask for " + " and ".join(short) + " "
            f"(rollout_workers={c.rollout_workers} x cpus/gpus_per_rollout_worker={c.cpus_per_rollout_worker:g}/"
            f"{c.gpus_per_rollout_worker:g}, reward_workers={c.reward_workers} x cpus_per_reward_worker="
            f"{c.cpus_per_reward_worker:g}, learners={c.learners} x cpus/gpus_per_learner={c.cpus_per_learner:g}/"
            f"{c.gpus_per_learner:g}): use fewer or smaller workers, or a bigger cluster")


def start(cfg, *, task, reward_fns, from_python, checkpoint, console) -> Workers:
    c = cfg.cluster
    check_fsdp(cfg)  # before any actor starts
    owned = connect(cfg)
    data, cwd = cfg.model_dump(mode="json"), os.getcwd()
    try:
        check_resources(cfg)
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        learner_cls = ray.remote(LearnerWorker)
        learners = [
            learner_cls.options(num_cpus=c.cpus_per_learner, num_gpus=c.gpus_per_learner,
                                scheduling_strategy=here if rank == 0 else "DEFAULT").remote(
                data, rank, c.learners, _threads(c.cpus_per_learner), cwd)
            for rank in range(c.learners)
        ]
        init = ray.get(learners[0].rendezvous.remote())
        states = ray.get([a.setup.remote(init, str(checkpoint) if checkpoint else None) for a in learners])
        learner = RayLearner(learners, states[0], fsdp=c.fsdp)
        tokenizer = ray.get(learners[0].tokenizer.remote())

        rollout_cls, reward_cls = ray.remote(RolloutWorker), ray.remote(RewardWorker)
        engine = RayEngine(Pool("rollout", lambda name: rollout_cls.options(
            name=name, num_cpus=c.cpus_per_rollout_worker, num_gpus=c.gpus_per_rollout_worker).remote(
            data, _threads(c.cpus_per_rollout_worker), cwd), c.rollout_workers, timeout_s=c.worker_timeout_s, console=console),
            pad_id=tokenizer.pad_token_id)
        engine.sync(learner.policy())  # the workers start from the learner's weights (a checkpoint's, on resume)
        # Python callables given to rlvr.train travel to the workers; configured rewards are built there.
        functions = list(reward_fns) if from_python else None
        score = RayRewards(Pool("reward", lambda name: reward_cls.options(name=name, num_cpus=c.cpus_per_reward_worker).remote(
            data, functions, _threads(c.cpus_per_reward_worker), cwd), c.reward_workers, timeout_s=c.worker_timeout_s, console=console), [r.name for r in reward_fns])
    except BaseException:
        if owned:
            ray.shutdown()
        raise
    console.print(f"ray: {c.rollout_workers} rollout, {c.reward_workers} reward worker(s), {c.learners} learner(s) "
                  f"on {ray.cluster_resources().get('CPU', 0):g} CPUs")

    def close():
        for actor in [*learners, *engine.pool.actors, *score.pool.actors]:
            ray.kill(actor, no_restart=True)
        if owned:
            ray.shutdown()

    return Workers(engine, score, learner, tokenizer, close)
