"""The `rlvr` command: train, eval, verify, sft, sample, rm, pipeline, report, config."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rlvr import config as config_mod


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rlvr", description="RL from verifiable rewards (GRPO, R1-Zero).")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a policy with GRPO")
    t.add_argument("--config", help="YAML config file (merged over the preset)")
    t.add_argument("--preset", help=f"built-in preset: {', '.join(config_mod.preset_names())} (default: default)")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    t.add_argument("--no-report", action="store_true", help="skip report.html/report.md at the end (rlvr report RUN later)")
    t.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. grpo.kl_coef=0.01")

    e = sub.add_parser("eval", help="evaluate a model on a task's held-out set")
    e.add_argument("--model", help="model spec or checkpoint folder")
    e.add_argument("--task", help="arithmetic | countdown | a .jsonl file")
    e.add_argument("--config", help="YAML config file")
    e.add_argument("--json", metavar="FILE", help="also write the result as JSON to FILE")
    e.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. eval.samples=16")

    v = sub.add_parser("verify", help="run a verifier on cases: one JSON result per input line, in order")
    v.add_argument("kind", choices=_verifier_kinds(), help="which verifier")
    v.add_argument("--file", help="JSONL cases, one per line: math {completion, answer}, code {completion, tests}, "
                                  "proof {completion, statement, preamble?, prover?}; - for stdin")
    v.add_argument("--completion", help="a single completion to check")
    v.add_argument("--answer", help="math: the gold answer for --completion")
    v.add_argument("--tests", help="code: the tests for --completion, as JSON")
    v.add_argument("--statement", help="proof: the theorem statement for --completion")
    v.add_argument("--preamble", default="", help="proof: definitions and imports the statement needs")
    v.add_argument("--prover", default="coq", help="proof: coq or lean")
    v.add_argument("--list", action="store_true", help="proof: list the provers found on this machine")
    v.add_argument("--timeout", type=float, default=None, help="hard wall-clock limit per check or program run, seconds")
    v.add_argument("--allow-unisolated", action="store_true",
                   help="code, proof: run checks that need bubblewrap under the weaker fallback sandbox anyway")

    for name, text in (("sft", "supervised fine-tuning on chat JSONL, loss on assistant tokens only"),
                       ("rm", "train a Bradley-Terry reward model on pairwise JSONL")):
        x = sub.add_parser(name, help=text)
        x.add_argument("--config", help="YAML config file")
        x.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its latest checkpoint")
        x.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. epochs=3")
    x = sub.add_parser("sample", help="rejection sampling: keep verified, readable completions as an SFT dataset")
    x.add_argument("--config", help="YAML config file")
    x.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. samples_per_prompt=16")

    pl = sub.add_parser("pipeline", help="multi-stage recipes (R1-Zero, R1) as one command")
    pl.add_argument("action", choices=["run", "show"], help="run: run the stages not yet done; show: print the resolved stages")
    pl.add_argument("--preset", help="built-in pipeline: " + ", ".join(_pipeline_presets()))
    pl.add_argument("--no-report", action="store_true", help="skip report.html/report.md at the end")
    pl.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage (its folder and later ones are deleted)")
    pl.add_argument("overrides", nargs="*", metavar="[PIPELINE.yaml] key=value",
                    help="a pipeline file (merged over the preset), then overrides such as name=my-r1 or "
                         "stages.reasoning-rl.config.steps=10")

    r = sub.add_parser("report", help="report.html (plots, example completions) and report.md (summary) of runs")
    r.add_argument("runs", nargs="+", metavar="RUN", help="a train run folder or a pipeline folder; several: side by side")
    r.add_argument("--out", metavar="DIR", help="where to write report.html and report.md (default: the run folder; "
                                                 "for several runs, a report-... folder beside the first)")

    c = sub.add_parser("config", help="print a resolved config, or the reference of every option")
    c.add_argument("--preset")
    c.add_argument("--config")
    c.add_argument("--reference", action="store_true", help="print every option with its default and meaning")
    c.add_argument("--command", dest="reference_of", default="train", choices=sorted(_command_configs()),
                   help="whose options --reference prints")
    c.add_argument("overrides", nargs="*", metavar="key=value")

    # `rewards: [{function: 'myrewards:f'}]` finds myrewards.py in the working directory, as `python -m` would
    # (appended, so a file there never shadows an installed package)
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    # Overrides may follow options that follow a positional (`pipeline run --preset r1 name=x`), which plain
    # parse_args rejects: hand such leftovers to the command's overrides; unknown options still fail.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides") or any(x.startswith("-") for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    try:
        return {"train": cmd_train, "eval": cmd_eval, "config": cmd_config, "verify": cmd_verify, "sft": cmd_sft,
                "rm": cmd_rm, "sample": cmd_sample, "pipeline": cmd_pipeline, "report": cmd_report}[args.command](args)
    except config_mod.ConfigError as err:
        print(f"rlvr: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as err:
        print(f"rlvr: error: {err}", file=sys.stderr)
        return 1


def _pipeline_presets() -> list[str]:
    from rlvr.pipeline import preset_names

    return preset_names()


def _verifier_kinds() -> list[str]:
    from rlvr.verifiers import VERIFIERS

    return sorted(VERIFIERS)


def _command_configs() -> dict:
    from rlvr import stage_config as sc

    return {"train": config_mod.TrainConfig, "eval": config_mod.EvalCommandConfig, "sft": sc.SFTConfig,
            "rm": sc.RMConfig, "sample": sc.SampleConfig, "pipeline": sc.PipelineConfig}


def _stage_config(args, kind: str):
    """The config of `rlvr sft|rm|sample`: a file and overrides, or (with --resume) the run's own config."""
    cls = _command_configs()[kind]
    if getattr(args, "resume", None):
        run = Path(args.resume)
        if not (run / "config.yaml").exists():
            raise config_mod.ConfigError(f"{run} is not a run folder (no config.yaml)")
        return config_mod.load(cls, file=run / "config.yaml", overrides=args.overrides)
    return config_mod.load(cls, file=args.config, overrides=args.overrides)


def cmd_sft(args) -> int:
    cfg = _stage_config(args, "sft")
    from rlvr.sft import train_sft

    print(f"model: {train_sft(cfg, resume=args.resume)}")
    return 0


def cmd_rm(args) -> int:
    cfg = _stage_config(args, "rm")
    from rlvr.rm import train_rm

    print(f"reward model: {train_rm(cfg, resume=args.resume)}")
    return 0


def cmd_sample(args) -> int:
    cfg = _stage_config(args, "sample")
    from rlvr.sample import run_sample

    print(f"dataset: {run_sample(cfg)}")
    return 0


def cmd_pipeline(args) -> int:
    from rlvr import pipeline

    args.file = None
    if args.overrides and "=" not in args.overrides[0]:
        args.file, args.overrides = args.overrides[0], args.overrides[1:]
    if not args.preset and not args.file:
        raise config_mod.ConfigError("give a PIPELINE.yaml or --preset " + "|".join(pipeline.preset_names()))
    p = pipeline.load(preset=args.preset, file=args.file, overrides=args.overrides)
    stages = pipeline.plan(p, p.seeds[0] if p.seeds else None)  # every stage validated before anything runs
    if args.action == "show":
        for st in stages:
            print(f"# {st.index:02d}-{st.name} ({st.kind}) -> {st.output}")
            print(config_mod.dump(st.cfg))
        return 0
    root = pipeline.run(p, from_stage=args.from_stage)
    if p.seeds:  # the seeds side by side in one report, in the pipeline folder
        print(f"pipeline folder: {root}  (over seeds: {root / 'seeds.md'})")
        if not args.no_report:
            _report_after([pipeline.seed_folder(root, s) for s in p.seeds], out=root)
        return 0
    print(f"pipeline folder: {root}  (comparison: {root / 'comparison.md'})")
    if not args.no_report:
        _report_after(root)
    return 0


def cmd_report(args) -> int:
    from rlvr.report import build

    page = build(args.runs, out=args.out)
    print(f"report: {page}  (summary: {page.with_name('report.md')})")
    return 0


def _report_after(folder, out: Path | None = None) -> None:
    """The report at the end of `rlvr train` / `pipeline run` (`folder`: one run, or a list side by side): the
    run is already saved, so a report that fails only warns (`rlvr report FOLDER` retries it)."""
    folders = folder if isinstance(folder, list) else [folder]
    try:
        from rlvr.report import build

        print(f"report: {build(folders, out=out)}")
    except Exception as err:  # noqa: BLE001 -- never lose a finished run to its report
        print(f"rlvr: warning: the report could not be written ({type(err).__name__}: {err}); "
              f"retry with: rlvr report {' '.join(map(str, folders))}" + (f" --out {out}" if out else ""), file=sys.stderr)


def cmd_config(args) -> int:
    if args.reference:
        print("| key | default | meaning |\n|---|---|---|")
        for key, default, text in config_mod.reference(_command_configs()[args.reference_of], tasks=args.reference_of == "train"):
            print(f"| `{key}` | `{default}` | {text} |")
        return 0
    cfg = config_mod.load(preset=args.preset or "default", file=args.config, overrides=args.overrides)
    print(config_mod.dump(cfg), end="")
    return 0


def read_cases(path: str, required: tuple[str, ...], check) -> list[dict]:
    """JSONL cases; a bad line fails naming the file and line, before anything is verified."""
    from rlvr.tasks.jsonl import iter_objects

    cases = []
    for where, case in iter_objects(path):
        missing = [k for k in required if k not in case]
        if missing:
            raise ValueError(f"{where}: missing field {missing[0]!r}")
        try:
            check(case)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None
        cases.append(case)
    return cases


def cmd_verify(args) -> int:
    from rlvr.verifiers import VERIFIERS
    from rlvr.verifiers.proof import available
    from rlvr.verifiers.sandbox import IsolationRequired

    if args.kind == "proof" and args.list:
        for prover, exe in available().items():
            print(f"{prover}: {exe or 'not available'}")
        return 0
    kind = VERIFIERS[args.kind]
    given = getattr(args, kind.reference)
    if args.file is not None and (args.completion is not None or given is not None):
        raise config_mod.ConfigError(f"give either --file or --completion/--{kind.reference}, not both")
    if args.file is not None:
        cases = read_cases(args.file, ("completion", kind.reference), kind.check_case)
    elif args.completion is not None and given is not None:
        try:
            case = {"completion": args.completion, kind.reference: kind.read_reference(given),
                    **{k: getattr(args, k) for k in kind.optional}}
            kind.check_case(case)
        except ValueError as e:
            raise config_mod.ConfigError(str(e)) from None
        cases = [case]
    else:
        raise config_mod.ConfigError(f"give --file CASES.jsonl, or --completion TEXT --{kind.reference} ...")
    verifier = kind(**kind.cli_options(timeout_s=args.timeout, allow_unisolated=args.allow_unisolated))
    try:
        results = verifier.verify_batch(cases)
    except IsolationRequired as e:
        raise config_mod.ConfigError(f"{e} (rlvr verify: --allow-unisolated)") from None
    finally:
        verifier.close()
    for result in results:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    return 0


def cmd_train(args) -> int:
    if args.resume:
        if args.preset or args.config:
            raise config_mod.ConfigError("--resume takes its config from the run folder; pass only key=value overrides")
        cfg = config_mod.resumed(args.resume, args.overrides)
        from rlvr import rewards

        rewards.check_recorded(cfg.rewards, args.resume)  # functions given to rlvr.train that cannot be imported
    else:
        cfg = config_mod.load(preset=args.preset or "default", file=args.config, overrides=args.overrides)
    from rlvr.trainer import train  # heavy imports only after the config is known to be valid

    run = train(cfg, resume=args.resume)
    print(f"run folder: {run}")
    if not args.no_report:
        _report_after(Path(run))
    return 0


def cmd_eval(args) -> int:
    overrides = list(args.overrides)
    if args.model:
        overrides.insert(0, f"model={args.model}")
    if args.task:
        if args.task.endswith(".jsonl"):
            overrides[:0] = ["task.kind=jsonl", f"task.path={args.task}"]
        else:
            overrides.insert(0, f"task.kind={args.task}")
    cfg = config_mod.load(config_mod.EvalCommandConfig, file=args.config, overrides=overrides)

    import torch
    from rich.console import Console
    from rich.table import Table

    from rlvr import models, tasks
    from rlvr.evaluate import evaluate
    from rlvr import rollout as engines

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = models.pick_device(cfg.device)
    model, tokenizer = models.load(cfg.model, device=device, dtype=models.pick_dtype(cfg.dtype, device))
    task = tasks.build(cfg.task)
    console = Console(stderr=True)
    result = evaluate(engines.build(cfg.generation, model, tokenizer), tokenizer, task, eval_cfg=cfg.eval, prompt_cfg=cfg.prompt,
                      max_new_tokens=cfg.generation.max_new_tokens, seed=cfg.seed, console=console)
    result = {"model": cfg.model, "task": cfg.task.kind, **result}
    table = Table(title=f"{cfg.model} on {cfg.task.kind} (held-out)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in result.items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)
    print(json.dumps(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
