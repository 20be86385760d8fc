"""`rlvr sft`: supervised fine-tuning on chat JSONL with the loss on assistant tokens only.

An example `{"messages": [...]}` is rendered with the model's chat template and cut into segments at each
assistant turn: the text the template puts before the turn (system, user, `<|im_start|>assistant\\n`) is
context with label -100; the turn itself up to and including the end-of-turn marker is trained, so the
model learns to stop. Segments are tokenized one by one and concatenated, so a label boundary never falls
inside a token.

Files in the run folder: `train.jsonl` (the examples used, generated ones included), `config.yaml`,
`metrics.jsonl` (loss per assistant token), `eval.jsonl` (held-out loss per assistant token, `eval/loss`), `model/` (the final model).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
import torch.nn.functional as F

from rlvr import policy, supervised, synthetic
from rlvr.models import pick_device, pick_dtype

IGNORE = -100


class ChatFormatError(ValueError):
    pass


def encode_chat(tokenizer, messages: list[dict], max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels): labels equal the ids on assistant turns and are -100 elsewhere."""
    if not getattr(tokenizer, "chat_template", None):
        raise ChatFormatError("the tokenizer has no chat template; SFT on chat data needs one")
    render = lambda msgs, gen=False: tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)
    full = render(messages)
    segments: list[tuple[str, bool]] = []
    done = 0  # characters of `full` already assigned to a segment
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before, through = render(messages[:i], gen=True), render(messages[: i + 1])
        if not (full.startswith(before) and full.startswith(through) and through.startswith(before)):
            raise ChatFormatError("the chat template does not render conversations as prefixes of each other; "
                                  "assistant-only loss needs a template like ChatML")
        segments += [(full[done : len(before)], False), (full[len(before) : len(through)], True)]
        done = len(through)
    segments.append((full[done:], False))
    ids: list[int] = []
    labels: list[int] = []
    for text, train in segments:
        if not text:
            continue
        piece = tokenizer(text, add_special_tokens=False).input_ids
        ids += piece
        labels += piece if train else [IGNORE] * len(piece)
    return ids[:max_length], labels[:max_length]


def read_chat_jsonl(path: str | Path) -> list[dict]:
    """Chat examples; a bad line fails naming the file and line."""
    from rlvr.tasks.jsonl import iter_objects

    out = []
    for where, obj in iter_objects(str(path)):
        msgs = obj.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise ChatFormatError(f"{where}: expected a non-empty \"messages\" list")
        for m in msgs:
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") or not isinstance(m.get("content"), str):
                raise ChatFormatError(f"{where}: each message needs a role (system, user, assistant) and string content")
        if not any(m["role"] == "assistant" for m in msgs):
            raise ChatFormatError(f"{where}: no assistant message, so nothing to train on")
        out.append({"messages": msgs})
    return out


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    tmp.replace(path)


def chat_examples(data, seed: int) -> list[dict]:
    """The examples a ChatDataConfig names: read from `path`, or generated."""
    if data.path is not None:
        return read_chat_jsonl(data.path)
    if data.generate == "traces":
        return synthetic.reasoning_traces(data.task, data.examples)
    return synthetic.general_chat(data.examples, seed=seed)


def pack(items: list[dict], max_length: int) -> list[dict]:
    """Greedy packing into rows of at most max_length tokens; positions restart at each example."""
    rows, cur = [], {"ids": [], "labels": [], "positions": []}
    for it in items:
        if cur["ids"] and len(cur["ids"]) + len(it["ids"]) > max_length:
            rows.append(cur)
            cur = {"ids": [], "labels": [], "positions": []}
        cur["ids"] += it["ids"]
        cur["labels"] += it["labels"]
        cur["positions"] += list(range(len(it["ids"])))
    if cur["ids"]:
        rows.append(cur)
    return rows


def batch_loss(model, items: list[dict], pad_id: int) -> tuple[torch.Tensor, dict]:
    """Summed next-token cross-entropy over labelled tokens of a right-padded micro-batch."""
    device = model.device
    L = max(len(it["ids"]) for it in items)
    ids = torch.full((len(items), L), pad_id, dtype=torch.long)
    labels = torch.full((len(items), L), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), L), dtype=torch.long)
    pos = torch.zeros((len(items), L), dtype=torch.long)
    for r, it in enumerate(items):
        n = len(it["ids"])
        ids[r, :n], labels[r, :n], mask[r, :n] = torch.tensor(it["ids"]), torch.tensor(it["labels"]), 1
        pos[r, :n] = torch.tensor(it.get("positions") or list(range(n)))
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos.to(device)).logits
    target = labels[:, 1:].to(device)
    loss = F.cross_entropy(logits[:, :-1].float().flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="sum")
    return loss, {}


def labelled(items: list[dict]) -> float:
    """Tokens that carry a loss: labels shifted by one, so a row's first label never counts."""
    return float(sum(sum(1 for t in it["labels"][1:] if t != IGNORE) for it in items))


def train_sft(cfg, *, resume: str | Path | None = None, console=None) -> Path:
    """Run SFT; return the final model folder."""
    return supervised.run(cfg, _train_sft, resume=resume, command="sft", console=console)


def _train_sft(cfg, run: Path, last: Path | None, console) -> Path:
    examples = chat_examples(cfg.data, cfg.seed)
    if len(examples) < 2:
        raise ChatFormatError(f"SFT needs at least 2 examples, the data has {len(examples)}"
                              + (f" ({cfg.data.path})" if cfg.data.path else ""))
    write_jsonl(run / "train.jsonl", examples)

    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model, tokenizer = policy.build(cfg, device, pick_dtype(cfg.dtype, device), checkpoint=last)
    items = [dict(zip(("ids", "labels"), encode_chat(tokenizer, ex["messages"], cfg.data.max_length))) for ex in examples]
    random.Random(cfg.seed).shuffle(items)
    n_eval = min(cfg.data.eval_examples, len(items) - 1)
    held, train = items[:n_eval], items[n_eval:]
    if cfg.data.packing:
        train = pack(train, cfg.data.max_length)
    pad = tokenizer.pad_token_id
    objective = supervised.Objective(units=labelled, loss=lambda m, mb: batch_loss(m, mb, pad))
    return supervised.fit(cfg, run, model, tokenizer, train, held, objective, last=last, console=console)
