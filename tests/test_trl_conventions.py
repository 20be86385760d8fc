"""TRL's conventions work unchanged: datasets as people store them, conversational data, reward functions called
as TRL calls them, and open-r1's eight reward functions (tests/open_r1) on a conversational parquet dataset."""

import asyncio
import json
import math

import numpy as np
import pytest
import torch

import rlvr
from rlvr import models, prompts, rewards, tasks
from rlvr.config import JsonlTaskConfig
from rlvr.tasks.jsonl import DatasetError, JsonlTask, read_rows

datasets = pytest.importorskip("datasets")

ROWS = [{"question": f"What is {i} + {i}?", "answer": str(2 * i), "level": i % 3} for i in range(6)]


def chat_rows(n=6):
    """TRL's conversational format: a per-row system message, then the user's question; open-r1's `solution`."""
    return [{"prompt": [{"role": "system", "content": f"Be brief ({i})."}, {"role": "user", "content": f"What is {i} + {i}?"}],
             "solution": f"So the sum is $\\boxed{{{2 * i}}}$."} for i in range(n)]


def task_for(path, **kw):
    return JsonlTask(JsonlTaskConfig(path=str(path), held_out=2, **kw))


# --------------------------------------------------------------------------------------------- datasets


def test_parquet_json_arrays_and_dataset_folders_are_read(tmp_path):
    ds = datasets.Dataset.from_list(ROWS)
    ds.to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.json").write_text(json.dumps(ROWS))  # a JSON array, not JSON Lines
    ds.save_to_disk(str(tmp_path / "saved"))
    datasets.DatasetDict({"train": ds, "test": ds.select(range(3))}).save_to_disk(str(tmp_path / "dict"))
    ds.to_parquet(str(tmp_path / "hub" / "data" / "train-00000-of-00001.parquet"))  # a hub dataset's layout
    ds.to_json(str(tmp_path / "d.jsonl.gz"), compression="gzip")
    for source in ["d.parquet", "d.json", "saved", "dict", "hub", "d.jsonl.gz"]:
        task = task_for(tmp_path / source)
        assert [ex.question for ex in task.train + task.eval] == [r["question"] for r in ROWS], source
        assert task.eval[0].answer == "8" and task.eval[0].columns == {"level": 1}, source
    assert len(task_for(tmp_path / "dict", split="test").train) == 1


def test_a_dataset_object_or_rows_from_python():
    for source in [datasets.Dataset.from_list(ROWS), ROWS]:
        task = JsonlTask(JsonlTaskConfig(path="<python>", held_out=2), rows=source)
        assert [ex.answer for ex in task.train] == ["0", "2", "4", "6"]


def test_bad_datasets_name_the_file_and_the_row_or_column(tmp_path):
    ds = datasets.Dataset.from_list([{"prompt": [{"role": "user", "content": "hi"}], "answer": "1"},
                                     {"prompt": [{"content": "no role"}], "answer": "2"}])
    ds.to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(DatasetError, match=r"bad\.parquet, row 1: field 'prompt', message 0: no 'role'"):
        read_rows(tmp_path / "bad.parquet")
    datasets.Dataset.from_list(chat_rows()).to_parquet(str(tmp_path / "chat.parquet"))
    with pytest.raises(DatasetError, match=r"chat\.parquet: no column 'answer' \(columns: prompt, solution\); set task.answer_field"):
        read_rows(tmp_path / "chat.parquet")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(DatasetError, match="empty_folder: a folder that is neither a `datasets.save_to_disk` folder"):
        read_rows(tmp_path / "empty_folder")
    with pytest.raises(DatasetError, match="no split 'validation' \\(splits: train\\)"):
        read_rows(datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS)}), split="validation")
    with pytest.raises(DatasetError, match="the dataset passed from Python, row 0: missing field 'prompt' or 'question'"):
        read_rows([{"text": "x", "answer": "1"}])


def test_answer_column_is_configurable_and_a_prompt_only_dataset_has_no_gold(tmp_path):
    datasets.Dataset.from_list(chat_rows()).to_parquet(str(tmp_path / "chat.parquet"))
    task = task_for(tmp_path / "chat.parquet", answer_field="solution")
    ex = task.train[1]
    assert ex.answer == "2" and ex.columns == {"solution": "So the sum is $\\boxed{2}$."}  # kept as stored, by name
    assert task.conversational and task.check("it is 2", ex).correct is True
    bare = task_for(tmp_path / "chat.parquet", answer_field=None)
    assert bare.train[0].answer is None and bare.check("2", bare.train[0]).correct is None  # nothing to verify
    seen = {}

    def no_gold(prompts, completions, **kw):
        seen.update(kw)
        return [1.0] * len(completions)

    per, _ = rewards.score([rewards.Reward("r", no_gold)], [ex.question for ex in bare.train], ["a"] * 4, bare.train)
    assert "answer" not in seen and seen["solution"][0].startswith("So the sum")  # TRL passes only real columns
    with pytest.raises(DatasetError, match="reward 'correct' needs a gold answer"):
        tasks.jsonl.check_fit(bare, "chat", [rewards.Reward("correct", rewards.task_reward(bare))])
    with pytest.raises(DatasetError, match="set prompt.template=chat"):
        tasks.jsonl.check_fit(bare, "r1_zero", [])


# --------------------------------------------------------------------------------------------- conversations


def test_chat_messages_are_rendered_through_the_chat_template():
    tok = models.byte_tokenizer()
    messages = chat_rows()[3]["prompt"]
    text = prompts.render(messages, template="chat", tokenizer=tok, system_prompt="ignored: the row has one")
    assert text == tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert "Be brief (3)." in text and "ignored" not in text and text.endswith("<|im_start|>assistant\n")
    user_only = [{"role": "user", "content": "hi"}]
    assert "<|im_start|>system\nS<|im_end|>" in prompts.render(user_only, template="chat", tokenizer=tok, system_prompt="S")
    with pytest.raises(prompts.PromptError, match="set prompt.template=chat"):
        prompts.render(messages, template="r1_zero", tokenizer=tok)


def test_rewards_receive_prompts_and_completions_as_trl_passes_them():
    task = JsonlTask(JsonlTaskConfig(path="<python>", held_out=1),
                     rows=[{"prompt": r["prompt"], "answer": str(2 * i)} for i, r in enumerate(chat_rows(3))])
    rows = task.train  # questions 0 + 0 and 1 + 1, as chat messages
    got = {}

    def spy(prompts, completions, **kw):
        got.update(prompts=prompts, completions=completions)
        return [0.0] * len(completions)

    texts = ["<think>1+1</think> <answer>0</answer>", "<think>1+1</think> <answer>2</answer>"]
    correct = rewards.Reward("correct", rewards.task_reward(task))
    per, _ = rewards.score([rewards.Reward("spy", spy), rewards.Reward("math", rewards.math_answer),
                            rewards.Reward("format", rewards.BUILTIN["format"]), correct], [r.question for r in rows], texts, rows)
    assert got["prompts"] == [r.question for r in rows]  # the message lists, as the dataset holds them
    assert got["completions"] == [[{"role": "assistant", "content": t}] for t in texts]
    assert per["math"] == [1.0, 1.0] and per["format"] == [1.0, 1.0] and per["correct"] == [1.0, 1.0]
    per, _ = rewards.score([rewards.Reward("spy", spy)], ["q"], ["plain text"], [tasks.Example("q", "1")])
    assert got["prompts"] == ["q"] and got["completions"] == ["plain text"]  # text data: text


# --------------------------------------------------------------------------------------------- reward calls


def test_trainer_state_and_the_logging_hooks():
    state = rewards.TrainerState(global_step=7, max_steps=10, epoch=0.5)
    exs = [tasks.Example("q", "1", {"source": s}) for s in ("a", "b", "a")]

    def logger(prompts, completions, trainer_state, log_metric, log_extra, **kw):
        log_metric("progress", trainer_state.global_step / trainer_state.max_steps)
        log_extra("length", [np.int64(len(c)) for c in completions])
        return [1.0] * len(completions)

    log = rewards.RewardLog()
    routed = rewards.Reward("routed", logger, sources=("a",))
    rewards.score([routed], ["q"] * 3, ["x", "yy", "zzz"], exs, state=state, log=log)
    assert log.metrics == {"progress": [0.7]}
    assert log.extra == {"length": [1, None, 3]}  # routed: the rows it was called on; numpy ints as JSON numbers
    a = rewards.Scores({"r": [1.0]}, [1.0], [1.0], [None], rewards.RewardLog({"m": [1.0]}, {"c": ["x"]}))
    b = rewards.Scores({"r": [2.0]}, [2.0], [0.0], [None], rewards.RewardLog({"m": [3.0]}, {}))
    both = rewards.Scores.cat([a, b])
    assert both.log.metrics == {"m": [1.0, 3.0]} and both.log.extra == {"c": ["x", None]}


def test_async_rewards_are_awaited_together():
    # Each waits for the other to have started: run one after the other, they would time out.
    started = {}

    def make(me, other):
        async def f(prompts, completions, **kw):
            started.setdefault(me, asyncio.Event()).set()
            await asyncio.wait_for(started.setdefault(other, asyncio.Event()).wait(), timeout=5)
            return [0.5] * len(completions)

        f.__name__ = me
        return f

    ex = [tasks.Example("q", "1")]
    per, totals = rewards.score([rewards.Reward("a", make("a", "b")), rewards.Reward("b", make("b", "a"), weight=2.0)],
                                ["q"], ["c"], ex)
    assert per == {"a": [0.5], "b": [0.5]} and totals == [1.5]

    async def boom(prompts, completions, **kw):
        raise ValueError("no")

    with pytest.raises(rewards.RewardError, match="reward 'boom' raised ValueError: no\n  on sample 0"):
        rewards.score([rewards.Reward("boom", boom)], ["q"], ["c"], ex)


def test_numpy_and_torch_scalars_are_rewards_and_nan_is_still_an_error():
    ex = [tasks.Example("q", "1")] * 3
    fns = [rewards.Reward("np", lambda prompts, completions, **k: [np.float32(0.5), np.int64(1), np.bool_(True)]),
           rewards.Reward("torch", lambda prompts, completions, **k: torch.tensor([0.25, 0.5, 1.0])),
           rewards.Reward("arr", lambda prompts, completions, **k: np.array([1.0, 2.0, 3.0]))]
    per, totals = rewards.score(fns, ["q"] * 3, ["a", "b", "c"], ex)
    assert per == {"np": [0.5, 1.0, 1.0], "torch": [0.25, 0.5, 1.0], "arr": [1.0, 2.0, 3.0]}
    assert totals == [1.75, 3.5, 5.0]
    for bad, message in [(np.float64("nan"), "returned nan for sample 0"), (torch.tensor(float("inf")), "returned inf"),
                         (np.str_("1"), "returned str_ for sample 0, expected float or None")]:
        with pytest.raises(rewards.RewardError, match=message):
            rewards.score([rewards.Reward("bad", lambda prompts, completions, **k: [bad])], ["q"], ["a"], ex[:1])


# --------------------------------------------------------------------------------------------- runs


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


SMOKE = dict(preset="smoke", steps=2, eval__at_start=False, eval__at_end=False, log__progress=False,
             checkpoint__save_every=0, log__report_to=[], generation__max_new_tokens=8)

seen_steps = []


def progress_reward(prompts, completions, trainer_state, log_metric, log_extra, **kw):
    """1 per sample; logs the step it saw and each completion's length."""
    seen_steps.append(trainer_state.global_step)
    log_metric("seen_step", trainer_state.global_step)
    log_extra("chars", [len(c[0]["content"]) for c in completions])
    return np.ones(len(completions), dtype=np.float32)


def two_reward(prompts, completions, **kw):
    return [torch.tensor(2.0) for _ in completions]


@pytest.mark.slow
def test_a_dataset_object_with_weighted_rewards_from_python(tmp_path):
    seen_steps.clear()
    ds = datasets.Dataset.from_list(chat_rows(6))
    run = rlvr.train(train_dataset=ds, reward_funcs=[progress_reward, two_reward], reward_weights=[1.0, 0.5],
                     task__answer_field=None, task__held_out=2, output_dir=str(tmp_path), name="py", **SMOKE)
    assert sorted(set(seen_steps)) == [0, 1]  # TRL's global_step: updates done before the batch
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["seen_step"] for m in metrics] == [0.0, 1.0]
    assert all(m["reward/mean"] == pytest.approx(2.0) for m in metrics)  # 1 * 1 + 0.5 * 2
    roll = read_jsonl(run / "rollouts.jsonl")
    assert all(r["extra"]["chars"] == len(r["completion"]) for r in roll)
    assert isinstance(roll[0]["prompt"], list) and roll[0]["prompt"][0]["role"] == "system"
    # the run keeps the data it trained on, and config.yaml names it: `rlvr train --resume` reads it back
    cfg = rlvr.config.resumed(run)
    assert cfg.task.path == str(run / "data" / "train")
    assert [ex.question for ex in tasks.build(cfg.task).train] == [r["prompt"] for r in chat_rows(4)]
    rlvr.train(resume=run, steps=3)  # no dataset passed: the copy; the functions and weights as recorded
    assert [m["reward/mean"] for m in read_jsonl(run / "metrics.jsonl")] == pytest.approx([2.0] * 3)


@pytest.mark.slow
def test_open_r1_reward_functions_run_unchanged_on_a_conversational_parquet_dataset(tmp_path):
    from open_r1 import rewards as r1

    path = tmp_path / "math.parquet"
    datasets.Dataset.from_list(chat_rows(8)).to_parquet(str(path))
    funcs = [r1.accuracy_reward, r1.format_reward, r1.tag_count_reward, r1.reasoning_steps_reward, r1.len_reward,
             r1.get_cosine_scaled_reward(max_len=64), r1.get_repetition_penalty_reward(ngram_size=2, max_penalty=-1.0),
             r1.get_soft_overlong_punishment(max_completion_len=8, soft_punish_cache=4)]
    run = rlvr.train(reward_funcs=funcs, task={"kind": "jsonl", "path": str(path), "answer_field": "solution", "held_out": 2},
                     output_dir=str(tmp_path), name="r1", **SMOKE)
    metrics = read_jsonl(run / "metrics.jsonl")
    names = ["accuracy_reward", "format_reward", "tag_count_reward", "reasoning_steps_reward", "len_reward",
             "cosine_scaled_reward", "repetition_penalty_reward", "soft_overlong_punishment_reward"]
    assert len(metrics) == 2 and all(f"reward/{n}/mean" in metrics[-1] for n in names)
    for rec in read_jsonl(run / "rollouts.jsonl"):  # each per-sample value is what the function gives it alone
        c = [[{"role": "assistant", "content": rec["completion"]}]]
        i = int(rec["prompt"][1]["content"].split()[2])  # "What is i + i?"
        sol = [chat_rows(8)[i]["solution"]]
        alone = {f.__name__: f(completions=c, solution=sol, completion_ids=[[0] * rec["length"]])[0] for f in funcs}
        assert {k: rec["rewards"][k] for k in names if k != "len_reward"} == {k: v for k, v in alone.items() if k != "len_reward"}
        assert rec["rewards"]["accuracy_reward"] in (0.0, 1.0)  # the gold parses: a verdict for every sample
    for step in (1, 2):  # len_reward compares lengths across the call: the step's whole batch, as in TRL
        recs = [r for r in read_jsonl(run / "rollouts.jsonl") if r["step"] == step]
        sols = [chat_rows(8)[int(r["prompt"][1]["content"].split()[2])]["solution"] for r in recs]
        batch = r1.len_reward([[{"role": "assistant", "content": r["completion"]}] for r in recs], sols)
        assert [r["rewards"]["len_reward"] for r in recs] == batch


def test_open_r1_reward_functions_by_hand():
    from open_r1 import rewards as r1

    good = "<think>\nStep 1: 2+3\nFinally, add.\n</think>\n<answer>\n$\\boxed{5}$\n</answer>"
    c = [[{"role": "assistant", "content": good}], [{"role": "assistant", "content": "it is 7 7 7 7"}]]
    sol = ["$5$", "$5$"]
    assert r1.accuracy_reward(c, sol) == [1.0, 0.0]
    assert r1.accuracy_reward(c[:1], ["no math here"]) == [None]
    assert r1.format_reward(c) == [1.0, 0.0] and r1.tag_count_reward(c) == [1.0, 0.0]
    assert r1.reasoning_steps_reward(c) == [pytest.approx(2 / 3), 0.0]
    assert r1.len_reward(c, sol) == [-0.5, 0.0]  # the correct one is the longest; the short one is wrong
    cos = r1.get_cosine_scaled_reward(max_len=len(good))(c, sol)
    assert cos[0] == pytest.approx(0.5)  # correct at max_len: the floor of the correct range
    # wrong: from -1.0 at length 0 (cosine 1) up to -0.5 at max_len; "it is 7 7 7 7" has 13 characters
    assert cos[1] == pytest.approx(-0.5 + 0.5 * (-1.0 + 0.5) * (1 + math.cos(13 / len(good) * math.pi)))
    assert r1.get_repetition_penalty_reward(2, -1.0)(c[1:]) == [pytest.approx(-2 / 5)]  # "7 7" thrice of 5 bigrams
    with pytest.raises(ValueError):
        r1.get_repetition_penalty_reward(2, 0.5)
    assert r1.get_soft_overlong_punishment(8, 4)([[0] * 4, [0] * 6, [0] * 9]) == [0.0, -0.5, -1.0]
    with pytest.raises(TypeError, match="string indices must be integers"):
        r1.format_reward(["plain text"])  # what rlvr used to pass


def test_ray_reward_workers_get_the_trainer_state_and_send_back_what_was_logged():
    """The Ray reward phase (RayRewards over RewardWorkers, each on a shard), run in-process with a stand-in pool."""
    ray_backend = pytest.importorskip("rlvr.cluster.ray_backend")
    cfg = rlvr.config.load(preset="smoke")

    def logs(prompts, completions, trainer_state, log_metric, log_extra, **kw):
        log_metric("step", trainer_state.global_step)
        log_extra("len", [len(c) for c in completions])
        return [1.0] * len(completions)

    threads = torch.get_num_threads()
    try:  # a worker sets its process's torch threads
        workers = [ray_backend.RewardWorker(cfg.model_dump(mode="json"), [rewards.Reward("logs", logs)], 1) for _ in range(2)]
    finally:
        torch.set_num_threads(threads)

    class InProcessPool:
        actors = workers

        def submit(self, jobs):
            return jobs

        def gather(self, jobs, attempts):
            return [getattr(self.actors[j.worker], j.method)(*j.args, **j.kwargs) for j in jobs]

    task = tasks.build(cfg.task)
    examples = [task.example(i) for i in range(4)]
    s = ray_backend.RayRewards(InProcessPool(), ["logs"])(examples, ["a", "bb", "ccc", "dddd"], [[1]] * 4,
                                                          rewards.TrainerState(global_step=3, max_steps=4))
    assert s.log.metrics == {"step": [3.0, 3.0]}  # one call per shard
    assert s.log.extra == {"len": [1, 2, 3, 4]} and s.totals == [1.0] * 4
