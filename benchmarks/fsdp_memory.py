"""Per-learner memory of the trained state under cluster.fsdp: a plain learner against each of W FSDP learners.

After one update on the same batch, each learner reports the bytes of its parameters, gradients and AdamW
moments (its shard, under FSDP), of its reference model, its peak and current RSS, and the update's seconds.
FSDP learners are W processes in a gloo group on this machine, one torch thread each.

Run: `.venv/bin/python benchmarks/fsdp_memory.py MODEL W plain|fsdp [key=value ...]`, e.g.
`benchmarks/fsdp_memory.py embedded:smollm2-135m-instruct 2 plain` and `... 2 fsdp` (README: Scale out on Ray).
"""
import functools, pickle, resource, sys, tempfile, time
from pathlib import Path
import torch, torch.distributed as dist, torch.multiprocessing as mp
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from rlvr import config, trainer, rewards, tasks
from rlvr.learner import Learner
from rlvr.rollout import TransformersEngine
from rlvr_test_helpers import digit_share

MODEL, W = sys.argv[1], int(sys.argv[2])
OV = [f"output_dir={tempfile.gettempdir()}/rlvr-fsdp-memory", "log.progress=false", "grpo.skip_zero_signal_groups=false", f"model={MODEL}",
      "generation.max_new_tokens=16", "grpo.prompts_per_step=2", "grpo.samples_per_prompt=2", "optim.micro_batch_size=4", "grpo.kl_coef=0"] + sys.argv[4:]

def cfg_for(fsdp):
    return config.load(preset="smoke", overrides=OV + (["cluster.backend=ray", "cluster.fsdp=true", f"cluster.learners={W}"] if fsdp else []))

def local(t):
    return t.to_local() if hasattr(t, "to_local") else t

def footprint(l):
    mb = lambda ts: sum(local(t).numel() * local(t).element_size() for t in ts) / 2**20
    params = [p for g in l.optimizer.param_groups for p in g["params"]]
    ref = [] if l.ref is None else list(l.ref()[0].parameters())
    return dict(ref_MiB=mb(ref), params_MiB=mb(params), grads_MiB=mb([p.grad for p in params if p.grad is not None]),
                adam_MiB=mb([v for s in l.optimizer.state.values() for v in s.values() if torch.is_tensor(v) and v.dim() > 0]),
                peak_rss_MiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                rss_now_MiB=int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]) / 1024)

def run(l, batch):
    t = time.time(); l.update(batch); return time.time() - t

def worker(rank, batch, q):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29533", rank=rank, world_size=W)
    l = Learner(cfg_for(True), group=dist.group.WORLD)
    dt = run(l, batch)
    q.put(pickle.dumps((rank, footprint(l) | {"update_s": dt})))
    dist.barrier(); dist.destroy_process_group()

if __name__ == "__main__":
    torch.set_num_threads(1)
    cfg = cfg_for(False)
    plain = Learner(cfg)
    task = tasks.build(cfg.task)
    ex = [task.example(i) for i in range(2)]
    gen = trainer.rollout(TransformersEngine(plain.model, plain.tokenizer), plain.tokenizer, cfg, ex, 0).result()
    batch = trainer.advantage(trainer.reward(functools.partial(rewards.score_samples, [rewards.Reward("d", digit_share)], task), ex, gen, 1, 2), cfg)
    if sys.argv[3:4] == ["plain"]:
        dt = run(plain, batch); print("plain", footprint(plain) | {"update_s": dt}); sys.exit()
    del plain
    ctx = mp.get_context("spawn"); q = ctx.Queue()
    ps = [ctx.Process(target=worker, args=(r, batch, q)) for r in range(W)]
    [p.start() for p in ps]
    for _ in range(W):
        r, f = pickle.loads(q.get(timeout=900)); print(f"fsdp rank {r}/{W}", f)
    [p.join() for p in ps]
