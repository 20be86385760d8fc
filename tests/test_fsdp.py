"""cluster.fsdp: learners that shard the policy with FSDP2 make the plain learner's update, save checkpoints
that transformers loads and that resume (into FSDP or plain learners), and refuse what they do not support."""

import functools
import io
import json
import socket

import pytest
import torch

from rlvr import config, rewards, tasks, trainer
from rlvr.learner import Learner, check_fsdp, fsdp_micro_batches

FSDP = ["cluster.backend=ray", "cluster.fsdp=true", "cluster.learners=2"]


def tiny(tmp_path, *overrides):
    return config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", "log.report_to=[]",
                                                  "eval.at_start=false", *overrides])


# ----------------------------------------------------------------------------------- planning (no processes)


def _shares(prompt_ids, idx):
    return len(idx) > 1 and len(torch.unique(prompt_ids[idx], dim=0)) < len(idx)


@pytest.mark.parametrize("rows,size", [(list(range(9)), 2), (list(range(9)), 4), ([0, 1, 2, 5, 8], 1), ([3], 2),
                                       (list(range(12)), 3)])
@pytest.mark.parametrize("world", [2, 3])
def test_every_rank_plans_the_same_model_calls_and_each_row_is_trained_once(rows, size, world):
    """Rows of 4 prompts x 3 samples. Same number of micro-batches on every rank, the same shared-prompt
    decision (two model calls or one) at each position, and the live rows of all ranks are the trained rows."""
    prompt_ids = torch.arange(4).repeat_interleave(3)[:, None].repeat(1, 5)  # [12, 5]: row r has prompt r // 3
    rows = torch.tensor(rows)
    plans = [fsdp_micro_batches(rows, prompt_ids, world, r, size, may_share=True) for r in range(world)]
    counts = {len(micro) for micro, _ in plans}
    assert len(counts) == 1
    for j in range(counts.pop()):
        assert len({_shares(prompt_ids, micro[j]) for micro, _ in plans}) == 1, j
    live = torch.cat([torch.cat([m[f] for m, f in zip(micro, flags)]) for micro, flags in plans])
    assert torch.equal(live, rows)
    padding = torch.cat([torch.cat([m[~f] for m, f in zip(micro, flags)]) for micro, flags in plans])
    assert set(padding.tolist()) <= set(rows.tolist())
    # with gradient checkpointing (one model call per micro-batch whatever the prompts) nothing is copied
    for r in range(world):
        micro, flags = fsdp_micro_batches(rows, prompt_ids, world, r, size, may_share=False)
        assert all(len(m) <= size for m in micro)


def test_fsdp_refuses_the_local_backend_lora_and_a_learner_without_a_group(tmp_path):
    with pytest.raises(ValueError, match="cluster.fsdp=true needs cluster.backend=ray"):
        check_fsdp(tiny(tmp_path, "cluster.fsdp=true"))
    with pytest.raises(ValueError, match="lora.enabled=true"):
        check_fsdp(tiny(tmp_path, *FSDP, "lora.enabled=true"))
    with pytest.raises(ValueError, match="cluster.fsdp=true needs cluster.backend=ray"):
        Learner(tiny(tmp_path, "cluster.fsdp=true"))
    with pytest.raises(ValueError, match="needs a learner group"):
        Learner(tiny(tmp_path, *FSDP))
    check_fsdp(tiny(tmp_path, *FSDP, "gradient_checkpointing=true", "bf16_autocast=true"))  # supported


# ----------------------------------------------------------------------------------- 2 FSDP ranks on Ray

try:
    import ray
except ImportError:  # the planning and refusal tests above still run
    ray = None


class FSDPRank:
    """One rank of a 2-rank gloo group (a Ray actor); builds FSDP learners on demand."""

    def __init__(self, rank, world, init_method):
        import torch.distributed as dist

        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=init_method, rank=rank, world_size=world)
        self.rank = rank

    def update(self, cfg_data, batch):
        """Weights (full, on rank 0) and statistics after one update with SGD(lr=1): the update is the
        (clipped) gradient itself."""
        import torch.distributed as dist

        learner = Learner(config.TrainConfig.model_validate(cfg_data), group=dist.group.WORLD)
        sgd(learner)
        stats = learner.update(batch)
        return learner.weights(), stats

    def resumed_optimizer(self, cfg_data, checkpoint):
        """A learner resumed from `checkpoint`: its optimizer state gathered back (rank 0) and its shard sizes."""
        import torch.distributed as dist
        from pathlib import Path

        learner = Learner(config.TrainConfig.model_validate(cfg_data), checkpoint=Path(checkpoint), group=dist.group.WORLD)
        local = sum(p.to_local().numel() for p in learner.model.parameters())
        return learner.full_optimizer.state_dict(), local, learner.lr()


def sgd(learner):
    learner.optimizer = torch.optim.SGD([p for p in learner.model.parameters() if p.requires_grad], lr=1.0)
    learner.scheduler = torch.optim.lr_scheduler.LambdaLR(learner.optimizer, lambda s: 1.0)


@pytest.fixture(scope="module")
def ranks():
    from conftest import TESTS

    if ray is None:
        pytest.skip("Ray is not installed")
    threads = torch.get_num_threads()
    ray.init(num_cpus=8, include_dashboard=False, logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": str(TESTS)}})
    torch.set_num_threads(1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    actor = ray.remote(FSDPRank)
    pair = [actor.options(num_cpus=1).remote(r, 2, f"tcp://127.0.0.1:{port}") for r in range(2)]
    yield pair
    for a in pair:
        ray.kill(a)
    ray.shutdown()
    torch.set_num_threads(threads)


def one_batch(cfg, learner):
    from rlvr.rollout import TransformersEngine
    from rlvr_test_helpers import digit_share

    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(cfg.grpo.prompts_per_step)]
    gen = trainer.rollout(TransformersEngine(learner.model, learner.tokenizer), learner.tokenizer, cfg, examples, 0).result()
    score = functools.partial(rewards.score_samples, [rewards.Reward("d", digit_share)], task)
    return trainer.advantage(trainer.reward(score, examples, gen, 1, cfg.grpo.samples_per_prompt), cfg)


@pytest.mark.slow
@pytest.mark.parametrize("shape", [
    # 8 rows: 4 per rank, one micro-batch each
    ["grpo.prompts_per_step=2", "grpo.samples_per_prompt=4", "optim.micro_batch_size=4"],
    # 9 rows: 5 and 4 per rank, micro-batches of 2 -> 3 and 2; at positions 0 and 1 one rank's rows share a
    # prompt and the other's do not; rank 1 runs a padding micro-batch
    ["grpo.prompts_per_step=3", "grpo.samples_per_prompt=3", "optim.micro_batch_size=2"],
    # one model call per micro-batch (recomputed activations): no copied rows, only the padding micro-batch
    ["grpo.prompts_per_step=3", "grpo.samples_per_prompt=3", "optim.micro_batch_size=2", "gradient_checkpointing=true"],
    # two optimizer steps on the batch: old log-probs from forward passes without backward first
    ["grpo.prompts_per_step=3", "grpo.samples_per_prompt=3", "optim.micro_batch_size=2", "grpo.updates_per_batch=2"],
    # rollouts from lagging weights: truncated importance weights from old log-probs, masked like the loss
    ["grpo.prompts_per_step=3", "grpo.samples_per_prompt=3", "optim.micro_batch_size=2", "cluster.async_steps=1"],
    # two optimizer steps per pass (mini-batches of 5 and 4 rows, planned per mini-batch)
    ["grpo.prompts_per_step=3", "grpo.samples_per_prompt=3", "optim.micro_batch_size=2", "grpo.mini_batches=2"],
], ids=["equal", "unequal", "checkpointing", "two-updates", "async", "mini-batches"])
def test_two_fsdp_ranks_update_like_one_plain_learner(tmp_path, ranks, shape):
    common = [*shape, "grpo.skip_zero_signal_groups=false", "grpo.kl_coef=0.05", "optim.max_grad_norm=0.5"]
    plain_cfg = tiny(tmp_path, *common)
    plain = Learner(plain_cfg)
    batch = one_batch(plain_cfg, plain)
    sgd(plain)
    before = {n: p.detach().clone() for n, p in plain.model.named_parameters()}
    stats = plain.update(batch)
    assert stats["grad_norm"] > 0.5  # clipping binds: the norm the ranks clip by must be the global one
    fsdp_cfg = tiny(tmp_path, *common, *FSDP).model_dump(mode="json")
    # ranks whose model calls differed would wait on each other forever: a timeout makes that a failure
    (w0, s0), (w1, s1) = ray.get([r.update.remote(fsdp_cfg, batch) for r in ranks], timeout=300)
    assert w1 == {} and set(w0) == set(before)
    for name, p in plain.model.named_parameters():
        assert not torch.equal(p.detach(), before[name]), name  # every tensor moved
        assert torch.allclose(w0[name], p.detach(), atol=1e-6, rtol=1e-5), name
    assert s0 == s1
    keys = ["loss", "grad_norm", "entropy", "kl", "clip_low_fraction", "trained_fraction"]
    if "cluster.async_steps=1" in shape:
        keys += ["importance/mean", "importance/max", "importance/capped_fraction"]
    for key in keys:
        assert s0[key] == pytest.approx(stats[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_a_ray_fsdp_run_checkpoints_loads_with_transformers_and_resumes(tmp_path, ranks):
    from rich.console import Console
    from transformers import AutoModelForCausalLM

    from rlvr_test_helpers import digit_share

    def run(cfg, resume=None):
        return trainer.train(cfg, reward_funcs=[digit_share], console=Console(file=io.StringIO()), resume=resume)

    common = [*FSDP, "cluster.rollout_workers=1", "eval.at_end=false", "checkpoint.save_every=0"]  # saves the last step
    out = run(tiny(tmp_path, "name=fsdp", "steps=2", *common))
    ckpt = out / "checkpoints" / "step-000002"
    model = AutoModelForCausalLM.from_pretrained(ckpt)
    assert model.config.architectures == ["LlamaForCausalLM"]
    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    params = dict(model.named_parameters())
    opt = state["optimizer"]
    assert sorted(opt["state"]) == list(range(len(params)))  # the plain optimizer's layout, full tensors
    for p, (i, s) in zip(params.values(), sorted(opt["state"].items())):
        assert s["exp_avg"].shape == p.shape and float(s["step"]) == 2
    # an FSDP learner resumed from it holds half of the parameters and gives the same optimizer state back
    cfg_data = tiny(tmp_path, *common).model_dump(mode="json")
    (back, local0, lr), (_, local1, _) = ray.get([r.resumed_optimizer.remote(cfg_data, str(ckpt)) for r in ranks], timeout=300)
    total = sum(p.numel() for p in params.values())
    assert local0 + local1 == total and abs(local0 - local1) < total // 10
    for i, s in opt["state"].items():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(back["state"][i][key], s[key]), (i, key)
    assert lr == pytest.approx(state["scheduler"]["_last_lr"][0])
    # a plain learner loads it too
    plain = Learner(tiny(tmp_path, *common[3:]), checkpoint=ckpt)
    assert torch.equal(plain.optimizer.state_dict()["state"][0]["exp_avg"], opt["state"][0]["exp_avg"])
    # and the run resumes
    resumed = run(tiny(tmp_path, "name=fsdp", "steps=3", *common), resume=out)
    steps = [json.loads(line)["step"] for line in (resumed / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]
    assert (resumed / "checkpoints" / "step-000003" / "model.safetensors").exists()
