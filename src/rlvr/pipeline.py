"""`rlvr pipeline run`: multi-stage recipes (R1-Zero, R1) as one command, with every stage's files on disk.

    runs/<pipeline>/
        pipeline.yaml                 the resolved pipeline
        01-cold-start/ ... done       each stage's run folder; `done` (JSON) names the output it hands on
        eval/<model>.json             each model's held-out results
        comparison.md, comparison.json

A stage reads its inputs only from earlier stages' outputs (a model folder, a dataset file), named in its
config by `@stage`. Every stage's config is resolved and validated before the first stage runs, with the
paths outputs will have, so a typo in stage 4 fails in seconds, not after an hour. Re-running skips stages
with a `done` marker and resumes an interrupted stage from its last checkpoint; `--from STAGE` deletes that
stage's folder and every later one, and runs them again. A stage folder records what it was made from
(`inputs.json`: its resolved config and the `done` markers, each with a unique id, of the stages it reads
from); if that no longer matches, because such a stage re-ran or the config changed, the stage starts over
instead of resuming a checkpoint that belongs to other inputs.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from rlvr import config as config_mod
from rlvr.config import TrainConfig
from rlvr.progress import clock
from rlvr.stage_config import PipelineConfig, RMConfig, SampleConfig, SFTConfig

PRESETS = Path(__file__).parent / "presets" / "pipelines"
INPUTS = "inputs.json"  # a stage's resolved config and its upstream `done` markers, written when it starts


# ------------------------------------------------------------------------------------------ stage kinds


def _check_rewards(cfg) -> None:
    from rlvr import rewards

    for r in cfg.rewards:  # a misspelt reward fails at planning, before stage 1 runs
        try:
            rewards.check_spec(r)
        except rewards.RewardError as e:
            raise config_mod.ConfigError(str(e)) from None


def _run_grpo(cfg, folder: Path, console) -> None:
    from rlvr.trainer import train

    train(cfg, resume=folder, console=console)  # with no checkpoint in the folder yet, this starts from scratch


def _run_sft(cfg, folder: Path, console) -> None:
    from rlvr.sft import train_sft

    train_sft(cfg, resume=folder, console=console)


def _run_rm(cfg, folder: Path, console) -> None:
    from rlvr.rm import train_rm

    train_rm(cfg, resume=folder, console=console)


def _run_sample(cfg, folder: Path, console) -> None:
    from rlvr.sample import run_sample

    for p in folder.iterdir():  # sampling has no checkpoints: an interrupted one starts over
        if p.name != INPUTS:
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    run_sample(cfg, resume=folder, console=console)


@dataclass(frozen=True)
class StageKind:
    config: type  # the stage command's typed config
    run: Callable  # (cfg, folder, console): runs or resumes the stage in its folder
    output: Callable[[Path, object], Path]  # (folder, cfg) -> what the stage hands on
    makes: Literal["policy", "dataset", "reward_model"]  # a policy is a model later stages and the comparison use
    check: Callable | None = None  # checks beyond the config's own validation, run at planning (ConfigError)


# Every stage kind, declared once: adding one is a runner and an entry here (StageSpec.kind lists the names).
STAGE_KINDS: dict[str, StageKind] = {
    "sft": StageKind(SFTConfig, _run_sft, lambda folder, cfg: folder / "model", "policy"),
    "grpo": StageKind(TrainConfig, _run_grpo, lambda folder, cfg: folder / "checkpoints" / f"step-{cfg.steps:06d}",
                      "policy", _check_rewards),
    "sample": StageKind(SampleConfig, _run_sample, lambda folder, cfg: folder / "dataset.jsonl", "dataset"),
    "rm": StageKind(RMConfig, _run_rm, lambda folder, cfg: folder / "model", "reward_model"),
}


@dataclass
class Stage:
    index: int
    name: str
    kind: str
    folder: Path
    cfg: object  # the stage command's typed config
    output: Path  # what the stage hands on
    deps: tuple[str, ...] = ()  # the earlier stages whose outputs it reads
    source: str | None = None  # the stage whose model it starts from (None: the pipeline's base model)

    @property
    def makes(self) -> str:
        return STAGE_KINDS[self.kind].makes


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def load(*, preset: str | None = None, file: str | None = None, overrides=()) -> PipelineConfig:
    """Preset < file < overrides. `stages.NAME.key=value` reaches into the stage named NAME."""
    data: dict = {}
    if preset:
        path = PRESETS / f"{preset}.yaml"
        if not path.exists():
            raise config_mod.ConfigError(f"unknown pipeline preset {preset!r}; presets: {', '.join(preset_names())}")
        data = config_mod.read_yaml(path)
    if file:
        data = config_mod.merge(data, config_mod.read_yaml(Path(file)))
    stages = data.get("stages") or []
    if not isinstance(stages, list) or not all(isinstance(s, dict) and "name" in s for s in stages):
        raise config_mod.ConfigError("stages: expected a list of mappings, each with a name")
    by_name = {s["name"]: s for s in stages}
    for item in overrides:
        node = config_mod.parse_override(item)
        if "stages" in node:
            for name, change in node.pop("stages").items():
                if name not in by_name:
                    raise config_mod.ConfigError(f"override {item!r}: no stage named {name!r}; stages: {', '.join(by_name)}")
                by_name[name] = config_mod.merge(by_name[name], change)
        data = config_mod.merge(data, node)
    data["stages"] = list(by_name.values())
    return config_mod.validate(PipelineConfig, data)


def _substitute(value, outputs: dict[str, Path], where: str, used: set[str]):
    if isinstance(value, dict):
        return {k: _substitute(v, outputs, f"{where}.{k}", used) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, outputs, f"{where}[{i}]", used) for i, v in enumerate(value)]
    if isinstance(value, str) and value.startswith("@"):
        if value[1:] not in outputs:
            raise config_mod.ConfigError(f"{where}: {value!r} names no earlier stage; earlier: {', '.join(outputs) or 'none'}")
        used.add(value[1:])
        return str(outputs[value[1:]])
    return value


def seed_folder(root: Path, seed: int) -> Path:
    return root / f"seed-{seed}"


def first_varied(p: PipelineConfig) -> int:
    """Index (from 0) of the first stage that runs once per seed (`vary_from`); 0 without one."""
    return [s.name for s in p.stages].index(p.vary_from) if p.vary_from else 0


def plan(p: PipelineConfig, seed: int | None = None) -> list[Stage]:
    """Every stage's typed config, with the inputs it will read, validated before anything runs. `seed` (one of
    `p.seeds`): the stages from `vary_from` on get that seed and live in `seed-N/`; earlier ones stay shared."""
    root = Path(p.output_dir) / p.name
    varied = first_varied(p) if seed is not None else len(p.stages)
    outputs: dict[str, Path] = {}
    last_policy: str | None = None  # the name of the last stage that made a policy
    stages = []
    for i, spec in enumerate(p.stages, start=1):
        folder_name = f"{i:02d}-{spec.name}"
        deps: set[str] = set()
        data = _substitute(spec.config, outputs, f"stages.{spec.name}.config", deps)
        source = {"base": None, "previous": last_policy}.get(spec.model, spec.model)
        start = p.model if source is None else str(outputs[source])
        deps |= {source} - {None}
        defaults = {"model": start, "seed": p.seed, "device": p.device, "dtype": p.dtype, "threads": p.threads}
        where = root if i - 1 < varied else seed_folder(root, seed)
        data = {**defaults, **data, "output_dir": str(where), "name": folder_name}
        if i - 1 >= varied:
            data["seed"] = seed
        kind = STAGE_KINDS[spec.kind]
        try:
            cfg = config_mod.validate(kind.config, data)
            if kind.check is not None:
                kind.check(cfg)
        except config_mod.ConfigError as e:
            raise config_mod.ConfigError(f"stage {spec.name!r} ({spec.kind}): {e}") from None
        out = kind.output(where / folder_name, cfg)
        stages.append(Stage(i, spec.name, spec.kind, where / folder_name, cfg, out, tuple(sorted(deps)), source))
        outputs[spec.name] = out
        if kind.makes == "policy":
            last_policy = spec.name
    return stages


def read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def run_stage(stage: Stage, console) -> None:
    STAGE_KINDS[stage.kind].run(stage.cfg, stage.folder, console)
    if not stage.output.exists():
        raise RuntimeError(f"stage {stage.name!r} finished without writing {stage.output}")


def run(p: PipelineConfig, *, from_stage: str | None = None, console=None) -> Path:
    """Run the stages not yet done, then the comparison (once per seed with `p.seeds`); return the pipeline folder."""
    from rich.console import Console

    from transformers.utils import logging as hf_logging

    console = console or Console(stderr=True)
    hf_logging.disable_progress_bar()
    plans = {s: plan(p, s) for s in p.seeds} or {None: plan(p)}  # seed (None: a single run) -> its stages
    root = Path(p.output_dir) / p.name
    root.mkdir(parents=True, exist_ok=True)
    (root / "pipeline.yaml").write_text(config_mod.dump(p))
    if from_stage is not None:
        names = [s.name for s in p.stages]
        if from_stage not in names:
            raise config_mod.ConfigError(f"--from {from_stage!r}: no such stage; stages: {', '.join(names)}")
        for stages in plans.values():  # all of it before any stage runs: a shared stage must not go twice
            for s in stages[names.index(from_stage):]:
                _remove(s.folder)
        # (no need to clear eval/: a cached result names the `done` ids it was made from, which change)
    from rlvr.compare import compare

    for seed, stages in plans.items():
        where = root
        if seed is not None:
            where = seed_folder(root, seed)
            console.print(f"seed {seed} ({where})")
            _seed_view(p, stages, where, console)
        took = _run_stages(stages, console)
        t0 = time.perf_counter()
        compare(p, stages, where, console, shared=root if seed is not None else None)
        console.print("wall time: " + ", ".join(f"{name} {clock(t) if t is not None else 'skipped'}" for name, t in took.items())
                      + f", comparison {clock(time.perf_counter() - t0)}", markup=False, soft_wrap=True)
    if p.seeds:
        from rlvr.seeds import summarize

        console.print(summarize(p, root), soft_wrap=True, markup=False)
    return root


def _remove(folder: Path) -> None:
    if folder.is_symlink():
        folder.unlink()
    else:
        shutil.rmtree(folder, ignore_errors=True)


def _seed_view(p: PipelineConfig, stages: list[Stage], where: Path, console) -> None:
    """Make `seed-N/` a whole pipeline folder: its own stages, and links to the shared ones (for `rlvr report`)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "pipeline.yaml").write_text(config_mod.dump(p))
    for s in stages:  # (a layout from another `vary_from` is turned into this one's)
        link = where / s.folder.name
        if s.folder.parent == where:
            if link.is_symlink():
                link.unlink()
        elif not link.is_symlink():
            if link.exists():  # this seed's own stage from a run with a later `vary_from`: now shared
                console.print(f"{link}: the stage is shared now (vary_from={p.vary_from}); removing this seed's own copy",
                              markup=False, soft_wrap=True)
                _remove(link)
            link.symlink_to(Path("..") / s.folder.name, target_is_directory=True)


def _run_stages(stages: list[Stage], console) -> dict[str, float | None]:
    """Run the stages not done yet; return {stage name: seconds it ran in this call, None if skipped as done}."""
    finished: dict[str, str] = {}  # stage name -> its `done` marker, which holds a unique id
    took: dict[str, float | None] = {}
    for s in stages:
        marker = s.folder / "done"
        inputs = {"config": config_mod.dump(s.cfg), "upstream": [finished[d] for d in s.deps]}
        if s.folder.exists() and read_json(s.folder / INPUTS) != inputs:
            # Made from other inputs (an earlier stage re-ran, or the config changed): resuming would mix runs.
            console.print(f"[{s.index:02d}] {s.name}: its folder was made from other inputs; starting it over")
            shutil.rmtree(s.folder)
        if marker.exists():
            console.print(f"[{s.index:02d}] {s.name}: done, skipped ({json.loads(marker.read_text())['output']})")
            took[s.name] = None
        else:
            console.print(f"[{s.index:02d}] {s.name} ({s.kind}){' resuming' if s.folder.exists() else ''}")
            t0 = time.perf_counter()
            if not s.folder.exists():
                s.folder.mkdir(parents=True)
                (s.folder / INPUTS).write_text(json.dumps(inputs) + "\n")
            run_stage(s, console)
            took[s.name] = time.perf_counter() - t0
            marker.write_text(json.dumps({"output": str(s.output), "kind": s.kind, "id": uuid.uuid4().hex,
                                          "seconds": took[s.name]}) + "\n")
            console.print(f"[{s.index:02d}] {s.name}: done in {clock(took[s.name])}", markup=False, soft_wrap=True)
        finished[s.name] = marker.read_text()
    return took
