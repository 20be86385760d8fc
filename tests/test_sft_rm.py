"""SFT's assistant-only loss, the Bradley-Terry reward model, and the built-in R1 data."""

import math

import pytest
import torch
import torch.nn.functional as F

from rlvr import models, synthetic
from rlvr.config import ArithmeticTaskConfig, CountdownTaskConfig
from rlvr.rewards.format import is_r1_format
from rlvr.sft import IGNORE, ChatFormatError, batch_loss, encode_chat, labelled, pack, read_chat_jsonl
from rlvr.tasks import arithmetic, countdown


@pytest.fixture(scope="module")
def tiny():
    return models.load("tiny-random", device=torch.device("cpu"), dtype=torch.float32)


def test_sft_labels_only_the_assistant_turns(tiny):
    _, tok = tiny
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "ok"}, {"role": "user", "content": "more"},
                {"role": "assistant", "content": "yes"}]
    ids, labels = encode_chat(tok, messages, max_length=1000)
    assert len(ids) == len(labels)
    # Hand-checked against the ChatML template: each assistant turn is trained through its end marker.
    trained = [t for t, l in zip(ids, labels) if l != IGNORE]
    assert tok.decode(trained) == "ok<|im_end|>\nyes<|im_end|>\n"
    context = tok.decode([t for t, l in zip(ids, labels) if l == IGNORE])
    assert context == ("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
                       "<|im_start|>user\nmore<|im_end|>\n<|im_start|>assistant\n")
    assert all(l == t for t, l in zip(ids, labels) if l != IGNORE)
    assert tok.decode(ids) == tok.apply_chat_template(messages, tokenize=False)  # nothing lost or reordered


def test_sft_loss_is_the_mean_over_assistant_tokens_and_accumulates_exactly(tiny):
    model, tok = tiny
    items = [dict(zip(("ids", "labels"), encode_chat(tok, [{"role": "user", "content": q}, {"role": "assistant", "content": a}], 200)))
             for q, a in [("a", "bb"), ("what is 2*3?", "6"), ("x", "a longer answer here"), ("q", "z")]]
    loss, _ = batch_loss(model, items, tok.pad_token_id)
    manual = 0.0
    for it in items:  # one row at a time, no padding
        logits = model(input_ids=torch.tensor([it["ids"]])).logits[0, :-1]
        target = torch.tensor(it["labels"][1:])
        keep = target != IGNORE
        manual += float(F.cross_entropy(logits[keep], target[keep], reduction="sum").detach())
    assert math.isclose(loss.item(), manual, rel_tol=1e-5)
    # one batch of 4 equals 4 accumulated micro-batches of 1, both divided by the batch's labelled tokens
    units = labelled(items)
    model.zero_grad()
    (batch_loss(model, items, tok.pad_token_id)[0] / units).backward()
    whole = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    for it in items:
        (batch_loss(model, [it], tok.pad_token_id)[0] / units).backward()
    assert all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(whole, model.parameters()))


def test_packing_restarts_positions_and_keeps_every_label():
    items = [{"ids": [1, 2, 3], "labels": [IGNORE, 2, 3]}, {"ids": [4, 5], "labels": [IGNORE, 5]}, {"ids": [6] * 4, "labels": [6] * 4}]
    rows = pack(items, max_length=5)
    assert [r["positions"] for r in rows] == [[0, 1, 2, 0, 1], [0, 1, 2, 3]]
    assert sum((r["labels"] for r in rows), []) == [IGNORE, 2, 3, IGNORE, 5, 6, 6, 6, 6]


def test_chat_jsonl_errors_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'
                   '{"messages": [{"role": "user", "content": "q"}]}\n')
    with pytest.raises(ChatFormatError, match="bad.jsonl:2.*no assistant message"):
        read_chat_jsonl(bad)


def test_reward_model_loss_and_accuracy_on_a_separable_case():
    from rlvr.rm import encode, pair_loss, scores

    model, tok = models.load_scorer("tiny-random", device=torch.device("cpu"), dtype=torch.float32)
    pad = tok.pad_token_id
    pairs = [{"chosen_ids": encode(tok, f"q{i}", "good answer", 64), "rejected_ids": encode(tok, f"q{i}", "bad bad bad bad", 64)}
             for i in range(8)]
    loss, stats = pair_loss(model, pairs, pad)
    r = scores(model, [p["chosen_ids"] for p in pairs] + [p["rejected_ids"] for p in pairs], pad)
    margin = r[:8] - r[8:]
    assert math.isclose(float(loss), float(-F.logsigmoid(margin).sum()), rel_tol=1e-6)
    assert stats["accuracy"] == float((margin > 0).sum())
    # a score read at the last real token does not depend on how much padding follows
    alone = scores(model, [pairs[0]["chosen_ids"]], pad)
    assert torch.allclose(alone, r[:1], atol=1e-5)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(30):
        opt.zero_grad()
        (pair_loss(model, pairs, pad)[0] / len(pairs)).backward()
        opt.step()
    loss_after, stats_after = pair_loss(model, pairs, pad)
    assert stats_after["accuracy"] == 8 and float(loss_after) < 0.1 * float(loss)


def test_reasoning_traces_are_correct_and_well_formed():
    for cfg in (ArithmeticTaskConfig(level=2, operations=["add", "sub", "mul", "div"], digits=2), CountdownTaskConfig()):
        rows = synthetic.reasoning_traces(cfg, 20)
        assert len(rows) == 20 and len({r["messages"][0]["content"] for r in rows}) == 20
        from rlvr import tasks

        task = tasks.build(cfg)
        for i, r in enumerate(rows):
            answer = r["messages"][1]["content"]
            assert is_r1_format(answer) and "Let me verify" in answer, answer
        # every trace passes the task's own checker
        by_q = {task.example(i).question: task.example(i) for i in range(200)}
        checked = [task.check(r["messages"][1]["content"], by_q[r["messages"][0]["content"]]).correct
                   for r in rows if r["messages"][0]["content"] in by_q]
        assert checked and all(checked)


def test_preference_pairs_and_general_splits_are_disjoint():
    train_q = {p["prompt"] for p in synthetic.preference_pairs(300)}
    held_q = {p["prompt"] for p in synthetic.preference_pairs(100, held_out=True)}
    assert train_q and held_q and not train_q & held_q
    for p in synthetic.preference_pairs(20):
        assert p["chosen"] != p["rejected"]


@pytest.mark.slow  # a CLI subprocess
def test_sft_command_with_lora_writes_a_loadable_merged_model(tmp_path, run_rlvr):
    run_rlvr("sft", "model=tiny-random", f"output_dir={tmp_path}", "name=s", "data.generate=traces", "data.examples=12",
             "data.eval_examples=4", "epochs=2", "batch_size=4", "optim.micro_batch_size=2", "optim.lr=0.01",
             "lora.enabled=true", "progress=false")
    import json

    from transformers import AutoModelForCausalLM

    run = tmp_path / "s"
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    evals = [json.loads(l) for l in (run / "eval.jsonl").read_text().splitlines()]
    assert [e["step"] for e in evals] == [0, 4] and evals[1]["eval/loss"] < evals[0]["eval/loss"]
    model = AutoModelForCausalLM.from_pretrained(run / "model")  # merged: a plain model, no adapters needed
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert len((run / "train.jsonl").read_text().splitlines()) == 12


@pytest.mark.slow  # a CLI subprocess
def test_rm_command_rejects_a_bad_pair_file_naming_the_line(tmp_path, run_rlvr):
    bad = tmp_path / "pairs.jsonl"
    bad.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": 3, "rejected": "b"}\n')
    out = run_rlvr("rm", "model=tiny-random", f"output_dir={tmp_path}", f"data.path={bad}", check=False)
    assert out.returncode == 1 and "pairs.jsonl:2: field 'chosen' must be a string" in out.stderr
