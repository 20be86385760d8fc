"""`rlvr rm`: a Bradley-Terry reward model, and the `preference` reward that scores completions with one.

The model is a transformers backbone with a one-output sequence-scoring head (`AutoModelForSequenceClassification`,
num_labels=1). A pair's loss is -log sigmoid(r(chosen) - r(rejected)); held-out pairwise accuracy is the
share of pairs where r(chosen) > r(rejected). Both texts are rendered as the chat [user: prompt, assistant:
answer], so the reward model reads exactly what the policy writes. The score is read at each row's last
real token (right padding), independent of how the model's config treats padding.

Files in the run folder: `train_pairs.jsonl` and `eval_pairs.jsonl` (the pairs used), `config.yaml`,
`metrics.jsonl` (loss and pairwise accuracy per step), `eval.jsonl` (held-out `eval/loss` and `eval/accuracy`), and
`model/`, loadable with `AutoModelForSequenceClassification.from_pretrained`.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
import torch.nn.functional as F

from rlvr import supervised, synthetic
from rlvr.models import load_scorer, pick_device, pick_dtype
from rlvr.answers import completion_text
from rlvr.sft import write_jsonl


class PairFormatError(ValueError):
    pass


def read_pairs(path: str | Path) -> list[dict]:
    from rlvr.tasks.jsonl import iter_objects

    out = []
    for where, obj in iter_objects(str(path)):
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(obj.get(key), str):
                raise PairFormatError(f"{where}: field {key!r} must be a string")
        out.append({k: obj[k] for k in ("prompt", "chosen", "rejected")})
    return out


def encode(tokenizer, prompt: str, answer: str, max_length: int) -> list[int]:
    """The chat [user, assistant] as token ids, cut from the left so the answer's end is always kept."""
    messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False)
    else:
        text = f"{prompt}\n{answer}"
    return tokenizer(text, add_special_tokens=False).input_ids[-max_length:]


def scores(model, rows: list[list[int]], pad_id: int) -> torch.Tensor:
    """[len(rows)] scalar rewards, read from the head at each row's last token."""
    device = model.device
    L = max(len(r) for r in rows)
    ids = torch.full((len(rows), L), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), L), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
    hidden = model.base_model(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state  # [B, L, H]
    last = (mask.sum(dim=1) - 1).to(device)
    return model.score(hidden[torch.arange(len(rows), device=device), last]).squeeze(-1).float()


def pair_loss(model, pairs: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
    """Summed Bradley-Terry loss over the pairs, with the count of correctly ordered pairs."""
    r = scores(model, [p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs], pad_id)
    margin = r[: len(pairs)] - r[len(pairs) :]
    return -F.logsigmoid(margin).sum(), {"accuracy": float((margin > 0).sum())}


def train_rm(cfg, *, resume: str | Path | None = None, console=None) -> Path:
    """Train a reward model; return its folder."""
    return supervised.run(cfg, _train_rm, resume=resume, command="rm", console=console)


def _train_rm(cfg, run: Path, last: Path | None, console) -> Path:
    d = cfg.data
    if d.generate:
        train_pairs = synthetic.preference_pairs(d.examples, seed=cfg.seed)
        eval_pairs = synthetic.preference_pairs(d.eval_examples, seed=cfg.seed, held_out=True)
    else:
        pairs = read_pairs(d.path)
        random.Random(cfg.seed).shuffle(pairs)
        if len(pairs) <= d.eval_examples:
            raise PairFormatError(f"{d.path}: {len(pairs)} pairs, need more than data.eval_examples={d.eval_examples}")
        eval_pairs, train_pairs = pairs[: d.eval_examples], pairs[d.eval_examples :]
    write_jsonl(run / "train_pairs.jsonl", train_pairs)
    write_jsonl(run / "eval_pairs.jsonl", eval_pairs)

    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_scorer(str(last) if last is not None else cfg.model, device=device,
                                   dtype=pick_dtype(cfg.dtype, device), gradient_checkpointing=cfg.gradient_checkpointing)
    enc = lambda p: {"chosen_ids": encode(tokenizer, p["prompt"], p["chosen"], d.max_length),
                     "rejected_ids": encode(tokenizer, p["prompt"], p["rejected"], d.max_length)}
    train, held = [enc(p) for p in train_pairs], [enc(p) for p in eval_pairs]
    pad = tokenizer.pad_token_id
    objective = supervised.Objective(units=lambda b: float(len(b)), loss=lambda m, mb: pair_loss(m, mb, pad))
    return supervised.fit(cfg, run, model, tokenizer, train, held, objective, last=last, console=console)


class PreferenceReward:
    """A TRL-signature reward: the reward model's score of (prompt, completion). Loaded once, scored in batches."""

    __name__ = "preference"

    def __init__(self, model: str, batch_size: int = 16, device: str = "auto", max_length: int = 512):
        if not Path(model).exists() and not model.startswith(("tiny-random", "embedded:")):
            raise FileNotFoundError(f"reward model folder {model!r} does not exist (train one with `rlvr rm`)")
        dev = pick_device(device)
        self.model, self.tokenizer = load_scorer(model, device=dev, dtype=pick_dtype("auto", dev))
        self.model.eval().requires_grad_(False)
        self.batch_size, self.max_length = batch_size, max_length

    @torch.no_grad()
    def __call__(self, prompts, completions, **_) -> list[float]:
        rows = [encode(self.tokenizer, p, completion_text(c), self.max_length) for p, c in zip(prompts, completions)]
        out: list[float] = []
        for i in range(0, len(rows), self.batch_size):
            out += scores(self.model, rows[i : i + self.batch_size], self.tokenizer.pad_token_id).tolist()
        return out
