"""Emergence metrics (rlvr.emergence) against hand-computed values on fixed texts; the behaviour judge against a
local fake endpoint; the evaluation's pass@k curve and samples; and a tiny training run's new files and keys."""

import json
import math
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import torch

import rlvr
from rlvr import behaviour_judge, config, emergence, evaluate as evaluation, tasks
from rlvr.rollout import Generation

LEX = emergence.DEFAULT_LEXICON

# One group of 3 completions of one prompt. Token counts are given (as the tokenizer would count them).
GROUP = [
    "Wait, 3 + 4 = 7. Let me verify: 7 - 4 = 3. The answer is 7.",  # r1_words: Wait, verify (2); reexam: let me verify (1)
    "But the answer is 8. However, I should double-check. It is wrong.",  # r1: But, However, wrong (3; not the
    # "check" inside "double-check"); reexam: double-check (1)
    "The answer is 7",  # nothing
]
LENGTHS = [20, 40, 10]
TRUNCATED = [False, False, True]
CORRECT = [1.0, 0.0, 1.0]


def close(a, b):
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9


def test_reflection_per_1k_tokens_by_family_and_correctness():
    m = emergence.reflection_metrics(GROUP, LENGTHS, CORRECT, LEX)
    # r1_words: 2 + 3 + 0 = 5 matches over 20 + 40 + 10 = 70 tokens -> 1000 * 5 / 70
    assert close(m["reflection/r1_words/per_1k"], 1000 * 5 / 70)
    # correct rows 0 and 2: 2 matches over 30 tokens; incorrect row 1: 3 over 40
    assert close(m["reflection/r1_words/per_1k_correct"], 1000 * 2 / 30)
    assert close(m["reflection/r1_words/per_1k_incorrect"], 75.0)
    # reexamination: "let me verify" (row 0) and "double-check" (row 1)
    assert close(m["reflection/reexamination/per_1k"], 1000 * 2 / 70)
    assert close(m["reflection/reexamination/per_1k_correct"], 1000 / 30)
    assert close(m["reflection/reexamination/per_1k_incorrect"], 25.0)


def test_reflection_matches_whole_words_and_phrases_only():
    patterns = emergence.compile_lexicon(LEX)
    # no whole word of the lexicon: "Waiting", "butter", "checked", "errors", "evaluated", "rewrite"
    assert emergence.reflection_counts("Waiting for the butter, I checked errors and evaluated.", patterns) == \
        {"r1_words": 0, "reexamination": 0}
    # case-insensitive, punctuation around words, a phrase across a line break, each occurrence counted
    counts = emergence.reflection_counts("WAIT. wait! Let me\nverify, then try  again; but (but).", patterns)
    assert counts == {"r1_words": 5, "reexamination": 2}  # wait x2, verify, but x2 / let me verify, try again
    # a family's terms may overlap: the longest one counts, once
    assert emergence.reflection_counts("let me check", emergence.compile_lexicon({"f": ["check", "let me check"]})) == {"f": 1}
    with pytest.raises(ValueError, match="'empty' has no terms"):
        emergence.compile_lexicon({"empty": [" "]})


def test_reflection_family_is_configurable(tmp_path):
    cfg = config.load(preset="smoke", overrides=["log.reflection_lexicon={hedges: [perhaps, maybe]}"])
    m = emergence.reflection_metrics(["Perhaps 4, maybe 5"], [4], [0.0], cfg.log.reflection_lexicon)
    assert set(m) == {"reflection/hedges/per_1k", "reflection/hedges/per_1k_correct", "reflection/hedges/per_1k_incorrect"}
    assert m["reflection/hedges/per_1k"] == 500.0 and math.isnan(m["reflection/hedges/per_1k_correct"])
    with pytest.raises(config.ConfigError, match="reflection_lexicon"):
        config.load(preset="smoke", overrides=["log.reflection_lexicon={none: []}"])


def test_a_config_from_before_the_families_still_loads(tmp_path):
    import yaml

    old = config.load(preset="smoke").model_dump(mode="json")
    del old["log"]["reflection_lexicon"]
    old["log"]["reflection_phrases"] = ["wait", "let me check"]  # what runs recorded before the families
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(old))
    cfg = config.load(file=tmp_path / "config.yaml")
    assert cfg.log.reflection_lexicon == {"reflection_phrases": ["wait", "let me check"]}


def test_length_metrics_of_one_group():
    m = emergence.length_metrics(LENGTHS, TRUNCATED, CORRECT, solve_rates=emergence.group_solve_rates(CORRECT, 3))
    assert close(m["completion_length/mean"], 70 / 3)
    assert m["completion_length/median"] == 20
    assert close(m["completion_length/p90"], 36.0)  # sorted 10, 20, 40: rank 0.9 * 2 = 1.8 -> 20 + 0.8 * 20
    assert m["completion_length/min"] == 10 and m["completion_length/max"] == 40
    assert m["completion_length/correct_mean"] == 15 and m["completion_length/incorrect_mean"] == 40
    assert m["completion_length/stopped_mean"] == 30  # rows 0 and 1 stopped; row 2 hit the budget
    assert close(m["truncated_fraction"], 1 / 3)
    # the group solved 2 of 3 -> easy (0.5, 1); the other buckets are logged, empty
    assert close(m["completion_length/by_solve_rate/easy"], 70 / 3)
    assert all(math.isnan(m[f"completion_length/by_solve_rate/{b}"]) for b in ("unsolved", "hard", "solved"))


def test_length_by_solve_rate_and_level_leave_unverifiable_rows_out():
    nan = math.nan
    # 4 groups of 2: solve rates 0, 0.5, 1, and nothing to verify
    correct = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, nan, nan]
    lengths = [5, 7, 9, 11, 2, 4, 100, 100]
    levels = [1, 1, 2, 2, 2, 2, None, None]
    rates = emergence.group_solve_rates(correct, 2)
    assert rates[:6] == [0.0, 0.0, 0.5, 0.5, 1.0, 1.0] and all(map(math.isnan, rates[6:]))
    m = emergence.length_metrics(lengths, [False] * 8, correct, solve_rates=rates, levels=levels)
    assert m["completion_length/by_solve_rate/unsolved"] == 6  # (5 + 7) / 2
    assert m["completion_length/by_solve_rate/hard"] == 10  # (9 + 11) / 2; 0.5 is hard
    assert m["completion_length/by_solve_rate/solved"] == 3
    assert math.isnan(m["completion_length/by_solve_rate/easy"])
    assert m["completion_length/correct_mean"] == 5  # rows 2, 4, 5: (9 + 2 + 4) / 3; the NaN rows in neither
    assert m["completion_length/incorrect_mean"] == 23 / 3  # rows 0, 1, 3: (5 + 7 + 11) / 3
    assert m["completion_length/by_level/1"] == 6 and m["completion_length/by_level/2"] == 6.5
    assert not any(k.endswith("/None") for k in m)
    assert emergence.solve_rate_bucket(0.75) == "easy" and emergence.solve_rate_bucket(0.5) == "hard"
    # no correct completion at all: NaN, not 0
    assert math.isnan(emergence.length_metrics([3], [False], [0.0])["completion_length/correct_mean"])
    with pytest.raises(ValueError, match="groups of 3"):
        emergence.group_solve_rates([1.0, 0.0], 3)
    assert emergence.level_of({"difficulty": "hard"}) == "hard" and emergence.level_of({"level": 3, "difficulty": 1}) == 3
    assert emergence.level_of({}) is None


def test_behaviour_proxies_on_fixed_texts():
    texts = {
        "verification": "6 * 7 = 42. Let me check: 42 / 7 = 6.",
        "backtracking": "6 * 7 = 48. That's wrong, 6 * 7 = 42.",
        "subgoal_setting": "First, we need to find 6 * 7. Then add 3.",
        "enumeration": "Case 1: x = 1 gives 3. Case 2: x = 2 gives 5.",
        None: "The answer is 42. I think this is the result, then.",  # none of them ("then" alone is not a plan)
    }
    for name, text in texts.items():
        shown = emergence.behaviours(text)
        assert [b for b, s in shown.items() if s] == ([name] if name else []), (name, shown)
    listed = "Candidates:\n- 2 + 3 = 5\n- 2 * 3 = 6\n"  # a list of candidate values
    assert emergence.behaviours(listed)["enumeration"] and not emergence.behaviours("- one item = 1\n")["enumeration"]
    m = emergence.behaviour_metrics(list(texts.values()))
    assert m == {f"behaviour/{b}": 1 / 5 for b in emergence.BEHAVIOURS}


def test_off_script_share_on_mixed_chinese_and_english():
    texts = ["<think>abc 你好</think> answer", "hello", "123 + 4"]
    # row 0: the think block's letters a b c 你 好 -> 2 of 5 off the Latin script; row 1: 0; row 2 has no letters
    assert close(emergence.off_script_share(texts, "latin"), (0.4 + 0.0) / 2)
    assert close(emergence.off_script_share(texts[:1], "chinese"), 0.6)
    assert math.isnan(emergence.off_script_share(["1 + 2 = 3"]))


def test_distinct_n_and_distinct_answers():
    # group 1: unigrams a b a a b c -> 3 distinct of 6; bigrams ab ba ab bc -> 3 of 4 ("A" is "a")
    assert emergence.distinct_n(["a b A", "a b c"], 1) == 0.5 and emergence.distinct_n(["a b A", "a b c"], 2) == 0.75
    # group 2: unigrams x y z -> 3 of 3; bigram xy -> 1 of 1; group 3 has no words, left out of distinct-n
    groups = [["a b A", "a b c"], ["x y", "z"], ["", ""]]
    answers = [["7", "7.0", "8", None], [None, None], ["x = 5", "x=5"]]  # 7 and 7.0 are one answer
    m = emergence.diversity_metrics(groups, answers)
    assert m["diversity/distinct_1"] == (0.5 + 1.0) / 2 and m["diversity/distinct_2"] == (0.75 + 1.0) / 2
    assert m["diversity/distinct_answers"] == (2 + 0 + 1) / 3
    assert emergence.final_answer("so \\boxed{12}") == "12" and emergence.final_answer("no idea") is None


def test_batch_metrics_has_every_key_of_the_spec():
    m = emergence.batch_metrics(GROUP, LENGTHS, TRUNCATED, CORRECT, group_size=3, lexicon=LEX, levels=[2, 2, 2])
    assert m["diversity/distinct_answers"] == 2  # 7, 8, 7
    assert m["completion_length/by_level/2"] == m["completion_length/mean"]
    # row 0 backtracks ("Wait") and verifies ("Let me verify"); row 1 verifies ("double-check")
    assert m["behaviour/backtracking"] == 1 / 3 and m["behaviour/verification"] == 2 / 3
    assert m["language/off_script_share"] == 0.0
    expected = {"completion_length/p90", "completion_length/stopped_mean", "truncated_fraction",
                "reflection/reexamination/per_1k_incorrect", "behaviour/enumeration", "diversity/distinct_2"}
    assert expected <= set(m)


# --------------------------------------------------------------------------------------------- the judge


class _FakeJudge(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint answering canned verdicts: a completion containing "CHECK" is judged
    to verify, one containing "GARBLE" gets a reply that is not JSON."""

    seen: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, self.headers.get("Authorization"), body))
        prompt = body["messages"][0]["content"]
        answer = prompt.split("<<<ANSWER", 1)[1]
        verdict = {"verification": "CHECK" in answer, "backtracking": False, "subgoal_setting": True, "enumeration": False}
        content = "I am not sure." if "GARBLE" in answer else f"Here it is: {json.dumps(verdict)}"
        data = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_judge():
    server = HTTPServer(("127.0.0.1", 0), _FakeJudge)
    _FakeJudge.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def test_behaviour_judge_through_an_openai_compatible_endpoint(fake_judge, monkeypatch):
    monkeypatch.setenv("JUDGE_KEY", "sekrit")
    cfg = config.BehaviourJudgeConfig(kind="openai", model="judge-1", base_url=fake_judge, api_key_env="JUDGE_KEY")
    judge = behaviour_judge.build(cfg)
    m = judge.metrics(["I CHECK it.", "plain", "GARBLE"])
    # two replies parse: one verifies, both set subgoals; the garbled one is left out
    assert m == {"behaviour_judge/verification": 0.5, "behaviour_judge/backtracking": 0.0,
                 "behaviour_judge/subgoal_setting": 1.0, "behaviour_judge/enumeration": 0.0, "behaviour_judge/judged": 2}
    path, auth, body = _FakeJudge.seen[0]
    assert path == "/v1/chat/completions" and auth == "Bearer sekrit" and body["model"] == "judge-1"
    assert "I CHECK it." in body["messages"][0]["content"]


def test_an_unreachable_judge_costs_its_metric_not_the_run():
    cfg = config.BehaviourJudgeConfig(kind="openai", model="m", base_url="http://127.0.0.1:9/v1", timeout_s=2)
    m = behaviour_judge.build(cfg).metrics(["text"])
    assert m["behaviour_judge/judged"] == 0 and math.isnan(m["behaviour_judge/verification"])
    assert behaviour_judge.build(config.BehaviourJudgeConfig()) is None
    with pytest.raises(ValueError, match="needs behaviour_judge.model"):
        config.BehaviourJudgeConfig(kind="hf")


def test_behaviour_judge_with_a_local_hf_pipeline(monkeypatch):
    # the pipeline is faked: what is checked is how the judge calls it (chat messages, greedy) and reads its reply
    calls = []

    def fake_pipeline(model):
        assert model == "/models/judge"

        def pipe(messages, **kw):
            calls.append((messages, kw))
            reply = json.dumps({b: b == "enumeration" for b in emergence.BEHAVIOURS})
            return [{"generated_text": [*messages, {"role": "assistant", "content": reply}]}]

        return pipe

    monkeypatch.setattr(behaviour_judge, "hf_pipeline", fake_pipeline)
    judge = behaviour_judge.build(config.BehaviourJudgeConfig(kind="hf", model="/models/judge"))
    m = judge.metrics(["Case 1: ... Case 2: ..."])
    assert m["behaviour_judge/enumeration"] == 1.0 and m["behaviour_judge/verification"] == 0.0
    messages, kw = calls[0]
    assert messages[0]["role"] == "user" and "Case 1: ... Case 2: ..." in messages[0]["content"]
    assert kw["do_sample"] is False


def test_judge_reply_parsing():
    full = {b: True for b in emergence.BEHAVIOURS}
    assert behaviour_judge.parse("```json\n" + json.dumps(full) + "\n```") == full
    assert behaviour_judge.parse('{"verification": true}') is None  # incomplete
    assert behaviour_judge.parse('{"verification": "yes", "backtracking": 1, "subgoal_setting": true, '
                                 '"enumeration": false}') is None  # not booleans


# --------------------------------------------------------------------------------------------- evaluation


class FakeEngine:
    """Canned completions: greedy on problem i (in held-out order) is right iff i >= 2, i*10+10 tokens long,
    truncated for i = 0; of its 4 samples the first i are right, the others all answer gold + 1."""

    def __init__(self, examples):
        self.index = {ex.question: i for i, ex in enumerate(examples)}
        self.gold = {ex.question: int(ex.answer) for ex in examples}

    def generate(self, texts, n, sampling, seed):
        out, lengths, truncated = [], [], []
        for t in texts:
            i, gold = self.index[t], self.gold[t]
            if sampling.temperature == 0:
                out.append(f"The answer is {gold if i >= 2 else gold + 1}.")
                lengths.append(10 * (i + 1))
                truncated.append(i == 0)
            else:
                out += [f"The answer is {gold if j < i else gold + 1}." for j in range(n)]
                lengths += [5] * n
                truncated += [False] * n
        T = max(lengths)
        mask = torch.tensor([[1] * L + [0] * (T - L) for L in lengths])
        return Generation(torch.zeros(len(out), 1, dtype=torch.long), torch.ones(len(out), 1, dtype=torch.long),
                          torch.zeros_like(mask), mask, torch.tensor(truncated), out)


def test_evaluation_pass_at_k_curve_counts_and_samples():
    task = tasks.build(config.ArithmeticTaskConfig())
    examples = task.held_out(4)
    assert len(examples) == 4
    run = evaluation.run(FakeEngine(examples), None, task, eval_cfg=config.EvalConfig(problems=4, samples=4, k=[1, 3]),
                         prompt_cfg=config.PromptConfig(template="plain"), max_new_tokens=64, seed=0)
    r = run.metrics
    assert r["correct_counts"] == [0, 1, 2, 3] and r["samples_per_problem"] == 4
    assert close(r["pass@1"], 6 / 16)
    assert close(r["pass@2"], (0 + (1 - 3 / 6) + (1 - 1 / 6) + 1) / 4)  # 1 - C(4-c, 2) / C(4, 2)
    assert close(r["pass@3"], (0 + 0.75 + 1 + 1) / 4)  # 1 - C(4-c, 3) / C(4, 3)
    assert close(r["pass@4"], 3 / 4)
    assert {k for k in r if k.startswith("maj@")} == {"maj@1", "maj@3"}
    # greedy lengths 10, 20, 30, 40 grouped by the sampled pass rate 0, 1/4, 2/4, 3/4
    assert r["completion_length/by_solve_rate/unsolved"] == 10 and r["completion_length/by_solve_rate/hard"] == 25
    assert r["completion_length/by_solve_rate/easy"] == 40 and math.isnan(r["completion_length/by_solve_rate/solved"])
    assert r["completion_length/correct_mean"] == 35 and r["completion_length/incorrect_mean"] == 15
    assert r["completion_length/stopped_mean"] == 30 and r["truncated_fraction"] == 0.25
    assert r["diversity/distinct_answers"] == (1 + 2 + 2 + 2) / 4  # gold+1 alone, then gold and gold+1
    assert r["accuracy"] == 0.5 and "behaviour/verification" in r and "reflection/r1_words/per_1k" in r
    assert [s["correct"] for s in run.samples] == [False, False, True, True]
    assert run.samples[3] == {"prompt": examples[3].question, "answer": examples[3].answer,
                              "completion": f"The answer is {examples[3].answer}.", "correct": True, "length": 40}
    assert evaluation.pass_ks(6) == [1, 2, 4, 6] and evaluation.pass_ks(8, [3, 16]) == [1, 2, 3, 4, 8]


# --------------------------------------------------------------------------------------------- a training run


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


@pytest.mark.slow
def test_training_run_logs_the_metrics_probes_and_events_and_resumes_without_duplicates(tmp_path):
    cfg = config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", "name=emerge",
                                                 "steps=4", "checkpoint.save_every=2", "log.report_to=[]",
                                                 "log.probe_every=1", "log.probe_prompts=2", "eval.problems=4"])
    run = rlvr.train(cfg)
    metrics = read_jsonl(run / "metrics.jsonl")
    keys = {"completion_length/median", "completion_length/p90", "completion_length/correct_mean",
            "completion_length/stopped_mean", "completion_length/by_solve_rate/unsolved",
            "reflection/r1_words/per_1k_incorrect", "behaviour/subgoal_setting", "language/off_script_share",
            "diversity/distinct_1", "diversity/distinct_answers", "max_new_tokens"}
    assert keys <= set(metrics[0]) and metrics[0]["max_new_tokens"] == 16
    evals = read_jsonl(run / "eval.jsonl")
    assert {f"eval/{k}" for k in keys - {"max_new_tokens"}} <= set(evals[0])
    assert evals[0]["eval/samples_per_problem"] == 4 and len(evals[0]["eval/correct_counts"]) == 4
    assert {"eval/pass@1", "eval/pass@2", "eval/pass@4"} <= set(evals[0])
    assert [s["step"] for s in read_jsonl(run / "eval_samples.jsonl")] == [0] * 4 + [4] * 4
    probes = read_jsonl(run / "probes.jsonl")
    assert [p["step"] for p in probes] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert {"prompt", "answer", "completion", "correct", "length", "truncated"} <= set(probes[0])
    assert [p["prompt"] for p in probes[:2]] == [p["prompt"] for p in probes[-2:]]  # the same prompts each time
    assert [e["event"] for e in read_jsonl(run / "events.jsonl")] == ["start"]

    # a run killed after step 4 was logged but before its checkpoint: it resumes from step 2, replaying 3 and 4
    import shutil

    shutil.rmtree(run / "checkpoints" / "step-000004")
    before = {name: read_jsonl(run / name) for name in ("probes.jsonl", "eval_samples.jsonl")}
    rlvr.train(config.load(file=run / "config.yaml"), resume=run)
    events = read_jsonl(run / "events.jsonl")
    assert [(e["event"], e["step"]) for e in events] == [("start", 0), ("resume", 2)]
    assert [p["step"] for p in read_jsonl(run / "probes.jsonl")] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert read_jsonl(run / "probes.jsonl") == before["probes.jsonl"]  # replayed exactly
    assert read_jsonl(run / "eval_samples.jsonl") == before["eval_samples.jsonl"]
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl")] == [1, 2, 3, 4]


@pytest.mark.slow
def test_no_probes_file_when_probing_is_off(tmp_path):
    cfg = config.load(preset="smoke", overrides=[f"output_dir={tmp_path}", "log.progress=false", "name=quiet",
                                                 "steps=1", "log.report_to=[]", "log.probe_prompts=0",
                                                 "eval.at_start=false", "eval.at_end=false", "checkpoint.save_every=0"])
    run = rlvr.train(cfg)
    assert not (run / "probes.jsonl").exists() and not (run / "eval_samples.jsonl").exists()
    assert (run / "events.jsonl").exists()
