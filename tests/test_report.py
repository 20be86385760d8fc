"""`rlvr report`: report.md numbers on hand-built run folders, pipelines, several runs, old and broken runs,
the CLI hooks after train / pipeline run, and the page rendered in a real headless browser (Debian's chromium)."""

import json
import random
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from rlvr import cli
from rlvr.report import build
from rlvr.report.load import load
from rlvr.report import plots
from rlvr.report.summary import pass_curve

INJECTION = "<script>document.body.setAttribute('data-pwned', '1')</script> so 7"
N_PLOTS = 9  # plots.ALL; the synthetic run logs every key, so every one is drawn


def _jsonl(path: Path, rows) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_run(folder: Path, *, steps=40, jump_at=21, budget_change=False, clip_rise=False, eval_steps=(0, 20, 40)):
    """A GRPO run folder with realistic numbers: accuracy climbing, and at `jump_at` (None: never) length and
    reflection stepping up (30 -> 60 tokens), the R1-Zero-like case the report must recognise."""
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"name: {folder.name}\nsteps: {steps}\ngeneration:\n  max_new_tokens: 128\n"
                                        "eval:\n  samples: 8\n  max_new_tokens: null\noptim:\n  lr: 1.0e-05\n")
    rows = []
    rng = random.Random(0)  # noise, fixed: the numbers below stay hand-checkable
    for s in range(1, steps + 1):
        after = jump_at is not None and s >= jump_at
        mean = (60.0 if after else 30.0) + rng.gauss(0, 1.0)
        acc = 0.2 + 0.01 * s + rng.gauss(0, 0.02)  # a steady climb: not a change point
        rows.append({
            "step": s, "reward/mean": acc, "accuracy": acc, "completion_length/mean": mean,
            "completion_length/median": mean - 2, "completion_length/p90": mean + 15,
            "completion_length/correct_mean": 50.0 if after else 25.0,
            "completion_length/incorrect_mean": 70.0 if after else 35.0,
            "completion_length/stopped_mean": mean - 1,
            "truncated_fraction": 0.45 if (clip_rise and after) else 0.05,
            "max_new_tokens": 64 if (budget_change and not after) else 128,
            "reflection/r1_words/per_1k": 6.0 if after else 2.0,
            "reflection/r1_words/per_1k_correct": 7.0 if after else 2.0,
            "reflection/r1_words/per_1k_incorrect": 5.0 if after else 2.0,
            "reflection/reexamination/per_1k": 1.5 if after else 0.5,
            "reflection/reexamination/per_1k_correct": 2.0 if after else 0.5,
            "reflection/reexamination/per_1k_incorrect": 1.0 if after else 0.5,
            "behaviour/verification": 0.3 if after else 0.1, "behaviour/backtracking": 0.05,
            "behaviour/subgoal_setting": 0.2, "behaviour/enumeration": 0.1,
            "language/off_script_share": 0.01, "diversity/distinct_1": 0.5, "diversity/distinct_2": 0.7,
            "diversity/distinct_answers": 3.0 - s / steps, "entropy": 1.5 - 0.01 * s, "kl": 0.001 * s,
            "lr": 1e-5, "completion_length/by_solve_rate/solved": 20.0, "completion_length/by_solve_rate/easy": 30.0,
            "completion_length/by_solve_rate/hard": 40.0, "completion_length/by_solve_rate/unsolved": 100.0,
        })
    _jsonl(folder / "metrics.jsonl", rows)
    # held-out evaluations: 10 problems x 8 samples; counts chosen so pass@1 = 20/80 -> 34/80, pass@8 = 6/10 -> 9/10
    counts = {0: [0, 0, 1, 2, 4, 8, 0, 2, 3, 0], 20: [0, 1, 2, 3, 5, 8, 1, 1, 4, 0], 40: [1, 2, 3, 4, 8, 8, 2, 1, 5, 0]}
    ev = {0: (0.25, 24.0, 0.04, (20, 25, 30)), 20: (0.40, 30.0, 0.05, (25, 30, 40)), 40: (0.55, 48.0, 0.06, (30, 45, 70))}
    evals = []
    for s in eval_steps:
        acc, correct_len, clip, levels = ev[s]
        if jump_at is None:  # no jump: correct completions keep their length (24 -> 25 tokens)
            correct_len = 24.0 if s < 40 else 25.0
        evals.append({"step": s, "eval/problems": 10, "eval/accuracy": acc, "eval/completion_length/correct_mean": correct_len,
                      "eval/truncated_fraction": (0.5 if s == 40 else 0.3 if s else 0.04) if clip_rise else clip,
                      **{f"eval/completion_length/by_level/{i + 1}": v for i, v in enumerate(levels)},
                      "eval/samples_per_problem": 8, "eval/correct_counts": counts[s],
                      "eval/pass@1": sum(counts[s]) / 80, "eval/pass@8": sum(c > 0 for c in counts[s]) / 10})
    _jsonl(folder / "eval.jsonl", evals)
    probes = []
    for s in range(0, steps + 1, 5):
        for i in range(4):
            long = jump_at is not None and s >= jump_at
            text = (f"{i} plus {i}: first {i}, then add {i}. Wait, let me verify: {2 * i}." if long else f"{2 * i}")
            if s == steps and i == 3:
                text = INJECTION
            probes.append({"step": s, "prompt": f"What is {i} + {i}?", "answer": str(2 * i), "completion": text,
                           "correct": s >= 10, "length": 40 if long else 3, "truncated": False})
    _jsonl(folder / "probes.jsonl", probes)
    _jsonl(folder / "events.jsonl", [{"step": 0, "event": "start", "time": "2026-11-28T08:00:00+00:00"}])
    return folder


def _table(md: str) -> dict[str, list[str]]:
    out = {}
    for line in md.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] if line.startswith("| ") else []
        if len(cells) >= 2:
            out[cells[0]] = cells[1:]
    return out


def _changepoints_available() -> bool:
    try:
        from rlvr import changepoints  # noqa: F401
    except ImportError:
        return False
    return True


def test_summary_numbers_hand_checked(tmp_path):
    run = make_run(tmp_path / "alpha")
    page = build([run])
    assert page == run / "report.html" and page.exists()
    md = (run / "report.md").read_text()
    t = _table(md)
    assert t["held-out accuracy (start → end)"] == ["0.250 → 0.550 (+0.300) [eval, steps 0→40], 10 problems"]
    assert t["pass@1"] == ["0.250 → 0.425"]  # 20/80 -> 34/80 correct samples
    assert t["pass@8"] == ["0.600 → 0.900"]  # 6 -> 9 of 10 problems with a correct sample
    assert t["mean length of correct completions (tokens)"] == ["24.0 → 48.0 (2.00×) [eval, steps 0→40]"]
    assert t["clip ratio (share cut at max_new_tokens)"] == ["0.04 → 0.06 [eval, steps 0→40]"]
    assert t["max_new_tokens (train; eval)"] == ["128 → 128; 128 → 128"]
    # no eval reflection keys: training steps 1-4 (2 + 0.5 per 1k) against 37-40 (6 + 1.5)
    assert t["reflection per 1k tokens (all families)"] == ["2.50 → 7.50 [train, steps 1–4 → 37–40]"]
    assert t["length by difficulty (tokens)"] == ["1: 20.0 → 30.0, 2: 25.0 → 45.0, 3: 30.0 → 70.0 [by level]"]
    assert t["R1-Zero signature"] == ["appeared"]
    assert "The R1-Zero signature appeared" in md
    if _changepoints_available():
        flags = load(run).flags
        assert any(f["metric"] == "completion_length/mean" and abs(f["step"] - 21) <= 1 for f in flags), flags
        html = page.read_text()
        # the probes either side of the flagged step: same prompts at steps 15 and 20 (probe step 20 is the model
        # that sampled metrics step 21)
        assert "step 15 (before)" in html and "step 20 (after)" in html


def test_pass_at_k_curve_unbiased():
    # n=8, c=1: pass@2 = 1 - C(7,2)/C(8,2) = 1 - 21/28 = 0.25; c=0 -> 0; c=8 -> 1
    curve = dict(pass_curve({"eval/correct_counts": [1, 0, 8], "eval/samples_per_problem": 8}, None))
    assert list(curve) == list(range(1, 9))
    assert curve[2] == pytest.approx((0.25 + 0 + 1) / 3)
    assert curve[1] == pytest.approx((1 / 8 + 0 + 1) / 3)
    assert curve[8] == pytest.approx(2 / 3)


@pytest.mark.parametrize("variant, why", [
    ({"budget_change": True}, "training max_new_tokens changed 64 → 128"),
    ({"clip_rise": True}, "clip ratio 0.04 → 0.50"),
    ({"jump_at": None}, "correct-completion length ≥1.5× (24.0 → 25.0 tokens, 1.04×)"),
])
def test_signature_not_claimed_for_truncation_budget_or_no_jump(tmp_path, variant, why):
    run = make_run(tmp_path / "r", **variant)
    build([run])
    md = (run / "report.md").read_text()
    assert _table(md)["R1-Zero signature"] == ["NOT shown"]
    assert "The R1-Zero signature did NOT appear" in md
    assert why in md
    if _changepoints_available() and "jump_at" not in variant:  # the flagged jump is tied to its cause
        assert "length jump at step 21 comes with: " in md
    # only the budget and truncation variants fail criterion 3 (the no-jump one fails criterion 2 alone)
    failed = md.split("did NOT appear. Not met: ")[1].split("\n")[0].split(". Met: ")[0]
    assert ("not from truncation or a budget change (" in failed) == ("jump_at" not in variant)
    assert ("correct-completion length" in failed) == ("jump_at" in variant)


def test_completion_text_is_escaped_and_page_is_self_contained(tmp_path):
    run = make_run(tmp_path / "r")
    html = build([run]).read_text()
    assert "&lt;script&gt;document.body.setAttribute" in html
    assert "<script>document.body" not in html
    assert html.count("<script>") == 1  # the page's own, allowed by hash in the CSP

    class Attrs(HTMLParser):
        urls: list = []

        def handle_starttag(self, tag, attrs):
            assert tag not in ("link", "iframe", "object", "embed")
            self.urls += [v for k, v in attrs if k in ("src", "href") and v]

    p = Attrs()
    p.urls = []
    p.feed(html)
    assert len(p.urls) == N_PLOTS and all(u.startswith("data:image/png;base64,") for u in p.urls)


def test_pipeline_stages_in_order(tmp_path):
    root = tmp_path / "pipe"
    root.mkdir()
    (root / "pipeline.yaml").write_text("name: pipe\n")
    sft = root / "01-cold-start"
    sft.mkdir()
    _jsonl(sft / "metrics.jsonl", [{"step": 1, "loss": 2.0}])
    (sft / "done").write_text(json.dumps({"output": "x", "kind": "sft", "id": "a", "seconds": 12.0}))
    make_run(root / "02-rl", steps=10, jump_at=None, eval_steps=(0,))
    (root / "02-rl" / "done").write_text(json.dumps({"output": "y", "kind": "grpo", "id": "b", "seconds": 30.0}))
    make_run(root / "03-rl-more", steps=10, jump_at=5, eval_steps=(20, 40))  # interrupted: no `done`
    (root / "comparison.md").write_text("| model | accuracy |\n|---|---|\n| base | 0.1 |\n")
    s = load(root)
    assert s.kind == "pipeline"
    assert [st["name"] for st in s.stages] == ["01-cold-start", "02-rl", "03-rl-more"]
    assert [st["kind"] for st in s.stages] == ["sft", "grpo", "grpo"]
    assert s.boundaries == [(0, "01-cold-start (sft)"), (0, "02-rl (grpo)"), (10, "03-rl-more (grpo)")]
    assert [r["step"] for r in s.metrics] == list(range(1, 21))  # stage 3's steps follow stage 2's
    assert [r["step"] for r in s.evals] == [0, 30, 50]
    page = build([root])
    assert page == root / "report.html"
    html = page.read_text()
    assert html.index("01-cold-start") < html.index("02-rl") < html.index("03-rl-more")
    assert "comparison.md" in html and "| base | 0.1 |" in html
    t = _table((root / "report.md").read_text())
    # start: the first RL stage's first eval; end: the last stage's last eval
    assert t["held-out accuracy (start → end)"] == ["0.250 → 0.550 (+0.300) [eval, steps 0→50], 10 problems"]
    if _changepoints_available():  # the jump at stage 3's step 5 sits at step 15 on the joined axis
        assert any(f["metric"] == "completion_length/mean" and abs(f["step"] - 15) <= 1 for f in s.flags), s.flags


def test_two_runs_side_by_side(tmp_path):
    a, b = make_run(tmp_path / "alpha"), make_run(tmp_path / "beta", jump_at=None)
    page = build([a, b])
    assert page == tmp_path / "report-alpha-vs-beta" / "report.html"
    t = _table((page.parent / "report.md").read_text())
    assert t[""] == ["alpha", "beta"]
    assert t["R1-Zero signature"] == ["appeared", "NOT shown"]
    both = [load(a), load(b)]
    labels = plots.reward_accuracy(both).labels
    assert "alpha: reward/mean" in labels and "beta: reward/mean" in labels
    assert {"alpha: base (step 0)", "beta: trained (step 40)"} <= set(plots.pass_at_k_curves(both).labels)


def test_old_run_with_missing_files(tmp_path):
    run = tmp_path / "old"
    run.mkdir()
    (run / "config.yaml").write_text("steps: 3\ngeneration: {max_new_tokens: 48}\n")
    rows = [{"step": s, "reward/mean": 0.1 * s, "accuracy": 0.1 * s, "completion_length/mean": 20.0,
             "truncated_fraction": 0.1, "reflection_rate": 0.0, "entropy": 2.0, "kl": float("nan")} for s in (1, 2, 3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4, "rew')  # torn line
    build([run])
    md, html = (run / "report.md").read_text(), (run / "report.html").read_text()
    t = _table(md)
    assert t["held-out accuracy (start → end)"] == ["0.100 → 0.300 (+0.200) [train, step 1 → 3]"]
    assert t["pass@k"] == ["not logged"] and t["length by difficulty (tokens)"] == ["not logged"]
    assert "metrics.jsonl: 1 unreadable line(s) skipped" in md
    assert "did NOT appear" in md or "is NOT shown" in md
    assert "no data: probes.jsonl not logged" in html
    assert "no data: behaviour/" in html and "no data: eval/correct_counts not logged" in html


def test_garbage_values_do_not_break_the_report(tmp_path):
    """Files edited by hand or written by other tools: wrong types become "not logged", not a crash."""
    run = make_run(tmp_path / "r", steps=10, eval_steps=(0, 40))
    evals = [json.loads(x) for x in (run / "eval.jsonl").read_text().splitlines()]
    evals[0]["eval/correct_counts"] = ["3", None, 99]  # not counts out of 8
    evals[1]["eval/accuracy"] = "high"
    _jsonl(run / "eval.jsonl", evals)
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": "eleven", "accuracy": 1}) + "\n" + json.dumps([1, 2]) + "\n")
    with (run / "probes.jsonl").open("a") as f:
        f.write(json.dumps({"step": 10, "prompt": ["a", "list"], "completion": {"not": "text"}}) + "\n")
    build([run])
    md = (run / "report.md").read_text()
    assert "metrics.jsonl: 2 unreadable line(s) skipped" in md
    assert _table(md)["pass@1"] == ["0.250 → 0.425"]  # the logged points; the bad counts draw no curve
    assert _table(md)["held-out accuracy (start → end)"][0].endswith("[train, step 1 → 10], 10 problems")
    assert "[&#x27;a&#x27;, &#x27;list&#x27;]" in (run / "report.html").read_text()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.mkdir(), "is not a run folder"),
    (lambda p: p.write_text("x"), "is not a run folder (it is a file"),
    (lambda p: None, "no such run folder"),
])
def test_not_a_run_folder(tmp_path, capsys, make, message):
    target = tmp_path / "nothing"
    make(target)
    with pytest.raises((ValueError, FileNotFoundError), match=re.escape(message)):
        build([target])
    assert cli.main(["report", str(target)]) == 1
    assert message in capsys.readouterr().err


def test_train_and_pipeline_write_the_report_and_a_failure_only_warns(tmp_path, monkeypatch, capsys):
    import rlvr.report
    import rlvr.trainer

    run = make_run(tmp_path / "trained")
    monkeypatch.setattr(rlvr.trainer, "train", lambda cfg, resume=None: run)
    assert cli.main(["train", "--preset", "smoke"]) == 0
    assert f"report: {run / 'report.html'}" in capsys.readouterr().out
    assert (run / "report.md").exists()

    def broken(paths, out=None):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rlvr.report, "build", broken)
    assert cli.main(["train", "--preset", "smoke"]) == 0  # the run is saved; the report only warns
    out = capsys.readouterr()
    assert f"run folder: {run}" in out.out
    assert "warning: the report could not be written (RuntimeError: disk on fire)" in out.err
    assert f"rlvr report {run}" in out.err
    assert cli.main(["train", "--preset", "smoke", "--no-report"]) == 0
    assert "report" not in capsys.readouterr().err

    import rlvr.pipeline

    monkeypatch.undo()
    root = tmp_path / "pipe"
    root.mkdir()
    (root / "pipeline.yaml").write_text("name: pipe\n")
    make_run(root / "01-rl", steps=5, eval_steps=(0,))
    monkeypatch.setattr(rlvr.pipeline, "run", lambda p, from_stage=None: root)
    assert cli.main(["pipeline", "run", "--preset", "r1-smoke"]) == 0
    assert f"report: {root / 'report.html'}" in capsys.readouterr().out
    assert "01-rl" in (root / "report.html").read_text()


@pytest.mark.slow
def test_real_smoke_run_writes_its_report(run_rlvr, tmp_path):
    proc = run_rlvr("train", "--preset", "smoke", "name=s", "steps=2", "eval.problems=4", "eval.samples=2",
                    "eval.k=[1,2]", "log.progress=false", timeout=600)
    assert "report: runs/s/report.html" in proc.stdout
    html = (tmp_path / "runs" / "s" / "report.html").read_text()
    assert html.count('class="plot"') >= 5  # reward, length, clip, reflection, entropy/KL at least
    assert "Start vs end" in html  # the probes of step 0 and the last step


# ---------------------------------------------------------------------------------------------- browser


def _chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("chromium is not installed (`make setup` installs Debian's chromium for this test)")
    return exe


def _browse(exe: str, page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--force-device-scale-factor=1", "--window-size=1280,6000", "--virtual-time-budget=5000",
                           f"--user-data-dir={tmp_path / 'profile'}", *args, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=180)


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    exe = _chromium()
    from PIL import Image

    page = build([make_run(tmp_path / "alpha")])
    dom = _browse(exe, page, tmp_path, "--dump-dom").stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body))
    # every plot image decoded (naturalWidth > 0), and the model's <script> did not run
    assert attrs.get("data-plots-total") == str(N_PLOTS) and attrs.get("data-plots-loaded") == str(N_PLOTS), attrs
    assert "data-pwned" not in body
    assert "&lt;script&gt;document.body.setAttribute" in dom  # shown as text
    rects = json.loads(attrs["data-plot-rects"].replace("&quot;", '"'))

    shot = tmp_path / "shot.png"
    _browse(exe, page, tmp_path, f"--screenshot={shot}")
    img = Image.open(shot).convert("L")
    assert img.size == (1280, 6000)
    for x, y, w, h in rects:
        assert w > 400 and h > 200 and y + h <= img.size[1], (x, y, w, h)  # laid out, inside the screenshot
        region = img.crop((x, y, x + w, y + h))
        dark = sum(region.histogram()[:200]) / (w * h)  # share of pixels clearly not white: axes, lines, text
        assert dark > 0.02, (x, y, w, h, dark)
    # outside the plots (the page's right margin) is white: the check above is not met by any pixel at all
    margin = img.crop((1270, 0, 1280, 600))
    assert sum(margin.histogram()[:200]) == 0
