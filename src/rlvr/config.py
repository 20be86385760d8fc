"""Typed configs. One model per command; every option is documented here, once (`rlvr config` prints them).

Resolution order: built-in preset (`--preset`, default `default`) < `--config FILE` < `dotted.key=value`
overrides. Unknown keys and bad values fail here, before any model loads, naming the key.

One meaning for a config, from the command line and from Python (`from_python`): what it sets, over the
preset. A YAML file, a `TrainConfig` built in Python (`TrainConfig(steps=3)` sets only `steps`) and keyword
overrides all mean the same keys over the same preset; a config that `load` resolved (or a run's
`config.yaml`) sets every key, so it is taken as it is. Resuming a run puts its recorded `config.yaml` where
the preset was (`resumed`).
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PRESETS = Path(__file__).parent / "presets"


class ConfigError(ValueError):
    pass


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def doc(default: Any, text: str, **kw) -> Any:
    return Field(default, description=text, **kw)


# --------------------------------------------------------------------------------------------- tasks


class ArithmeticTaskConfig(Strict):
    kind: Literal["arithmetic"] = doc("arithmetic", "Procedural integer arithmetic with exact answers.")
    operations: list[Literal["add", "sub", "mul", "div"]] = doc(["mul"], "Operations drawn uniformly per slot.")
    digits: int = doc(1, "Digits per operand (1: 0-9, 2: 10-99, ...).", ge=1, le=6)
    level: int | list[int] = doc(1, "Difficulty: number of operations in the expression (1: `a * b`); a list draws "
                                 "each problem's level uniformly from it (examples carry a `level` column).")

    @field_validator("level")
    @classmethod
    def _levels_in_range(cls, v):
        levels = [v] if isinstance(v, int) else v
        if not levels or any(not 1 <= x <= 4 for x in levels):
            raise ValueError(f"level must be 1..4 or a non-empty list of them, got {v!r}")
        return v
    question: str = doc("What is {expr}?", "Question text; `{expr}` is replaced by the expression.")
    held_out_percent: int = doc(25, "Share of the problem space (by hash) reserved for evaluation.", ge=1, le=90)
    seed: int = doc(0, "Seed of the problem stream and the held-out draw.")


class CountdownTaskConfig(Strict):
    kind: Literal["countdown"] = doc("countdown", "Reach a target with given numbers, each used exactly once.")
    count: int = doc(3, "How many numbers are given.", ge=2, le=6)
    max_number: int = doc(20, "Numbers are drawn from 1..max_number.", ge=2)
    max_target: int = doc(100, "Targets lie in 1..max_target.", ge=1)
    question: str = doc(
        "Using the numbers {numbers}, each exactly once, and + - * / with parentheses, write an expression "
        "equal to {target}. Put the expression in <answer></answer>.",
        "Question text; `{numbers}` and `{target}` are filled in.",
    )
    held_out_percent: int = doc(10, "Share of the problem space (by hash) reserved for evaluation.", ge=1, le=90)
    seed: int = doc(0, "Seed of the problem stream and the held-out draw.")


class JsonlTaskConfig(Strict):
    kind: Literal["jsonl"] = doc("jsonl", "A dataset with a prompt and a gold answer per row: JSONL, JSON, parquet, CSV or "
                                 "Arrow files, a `datasets.save_to_disk` folder, or a folder of data files (read by `datasets`).")
    path: str = doc(..., "Training data (a file or folder). GSM8K `#### N` answers are reduced to N, a worked "
                    "solution with `\\boxed{}` to its last box.")
    eval_path: str | None = doc(None, "Held-out data; if unset, the last `held_out` rows of `path` are used.")
    prompt_field: str | None = doc(None, "Column with the prompt: text, or a list of chat messages {role, content} "
                                   "(rendered through the chat template; needs `prompt.template: chat`). None: `prompt`, else `question`.")
    answer_field: str | None = doc("answer", "Column with the gold answer (open-r1: `solution`); rewards receive it as "
                                   "`answer` (and under its own name). null: a dataset without gold answers, for rewards "
                                   "that need none.")
    split: str = doc("train", "Split to read from a folder holding several (a DatasetDict).")
    held_out: int = doc(100, "Rows split off the end of `path` for evaluation when `eval_path` is unset.", ge=1)
    fallback_last_number: bool = doc(True, "Take the last number as the answer when no explicit answer is found.")
    seed: int = doc(0, "Seed of the per-epoch shuffle.")


class GeneralTaskConfig(Strict):
    kind: Literal["general"] = doc("general", "Built-in general chat questions with no verifiable answer "
                                   "(capitals, opposites, colours, plurals, animal sounds); scored by preference rewards.")
    seed: int = doc(0, "Seed of the question stream.")


BaseTaskConfig = Annotated[
    Union[ArithmeticTaskConfig, CountdownTaskConfig, JsonlTaskConfig, GeneralTaskConfig], Field(discriminator="kind")
]


class MixturePart(Strict):
    name: str = doc(..., "Source name; examples carry it in the `source` column and `rewards[].sources` route by it.")
    weight: float = doc(1.0, "Relative share of this part in the prompt stream.", gt=0)
    task: BaseTaskConfig = doc(..., "The part's task (any kind but mixture).")


class MixtureTaskConfig(Strict):
    kind: Literal["mixture"] = doc("mixture", "Several tasks in one prompt stream, each example tagged with its part's name.")
    parts: list[MixturePart] = doc(..., "The parts, drawn per example by weight.", min_length=1)
    seed: int = doc(0, "Seed of the per-example draw of a part.")

    @model_validator(mode="after")
    def _unique(self):
        names = [p.name for p in self.parts]
        if len(set(names)) != len(names):
            raise ValueError(f"mixture part names must be unique, got {names}")
        return self


TaskConfig = Annotated[
    Union[ArithmeticTaskConfig, CountdownTaskConfig, JsonlTaskConfig, GeneralTaskConfig, MixtureTaskConfig],
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------------------------- sections


class LoraConfig(Strict):
    enabled: bool = doc(False, "Train LoRA adapters (peft) instead of all weights.")
    rank: int = doc(16, "LoRA rank r.", ge=1)
    alpha: float = doc(32.0, "LoRA scaling alpha (update scaled by alpha / rank).")
    dropout: float = doc(0.0, "Dropout on the LoRA input.", ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = doc("all-linear", "Modules that get adapters.")


class PromptConfig(Strict):
    template: Literal["chat", "r1_zero", "plain"] = doc(
        "chat",
        "`chat`: the model's chat template; `r1_zero`: the R1-Zero text template asking for "
        "<think>…</think><answer>…</answer>; `plain`: the question as is.",
    )
    system_prompt: str | None = doc(None, "System message for `chat` (None: the template's default).")


class RewardSpec(Strict):
    name: str | None = doc(None, "Built-in reward: `correct` (the task's checker), `math_verifier`, `code_verifier` (column `tests`), "
        "`proof_verifier` (columns `statement`, `preamble`), `math_answer`, "
        "`format`, `language_consistency`, `overlong_penalty`, `cosine_length` (wraps `correct`), `preference` (a reward model).")
    function: str | None = doc(None, "A Python callable `module:attr` with TRL's reward signature.")
    weight: float = doc(1.0, "Weight in the summed reward.")
    args: dict = doc({}, "Keyword arguments for built-in reward factories: `language_consistency` (script), "
                     "`overlong_penalty` (max_tokens, buffer_tokens), `cosine_length` (max_tokens, ...), "
                     "`preference` (model: a reward-model folder from `rlvr rm`, batch_size).")
    sources: list[str] | None = doc(None, "Route: score only examples whose `source` column (mixture part name) is "
                                    "listed; others get None, which leaves them out of this reward (None: all examples).")

    @model_validator(mode="after")
    def _one_source(self):
        if not self.name and not self.function:
            raise ValueError("a reward needs `name` (built-in) or `function` (module:attr)")
        return self


class GenerationConfig(Strict):
    backend: Literal["transformers"] = doc("transformers", "Rollout engine.")
    max_new_tokens: int = doc(64, "Completion budget in tokens; longer completions are truncated.", ge=1)
    temperature: float = doc(1.0, "Sampling temperature for rollouts (0: greedy).", ge=0)
    top_p: float = doc(1.0, "Nucleus sampling mass.", gt=0, le=1)
    top_k: int = doc(0, "Keep only the k most likely tokens (0: off).", ge=0)
    min_p: float = doc(0.0, "Keep only tokens whose probability is at least min_p times the most likely token's "
                       "(after temperature; 0: off).", ge=0, le=1)
    repetition_penalty: float = doc(1.0, "Divide the positive logits (multiply the negative ones) of every token already "
                                    "in the prompt or the completion by this (CTRL's penalty; 1: off). The behaviour "
                                    "log-probs stay those of the raw logits.", gt=0)


class GRPOConfig(Strict):
    prompts_per_step: int = doc(8, "Distinct prompts per training step.", ge=1)
    samples_per_prompt: int = doc(8, "Completions sampled per prompt (the group size).", ge=1)
    advantage: Literal["grpo", "dr_grpo", "rloo"] = doc(
        "grpo", "`grpo`: (r - mean) / std per group; `dr_grpo`: r - mean; `rloo`: leave-one-out baseline."
    )
    scale_rewards: Literal["group", "batch", "none"] = doc(
        "group", "What `grpo` advantages divide r - group mean by: the group's std (`group`), the std of every reward "
        "in the step's batch (`batch`), or nothing (`none`, which is `dr_grpo`).")
    policy_loss: Literal["clip", "gspo", "cispo", "sapo"] = doc(
        "clip", "`clip`: token-level clipped surrogate; `gspo`: sequence-level importance ratio (GSPO); `cispo`: "
        "the capped importance weight (no gradient) times A times log-prob, so every token keeps its gradient "
        "(CISPO, MiniMax-M1); `sapo`: a smooth sigmoid gate instead of the hard clip (SAPO).")
    cispo_cap: float = doc(5.0, "`cispo`: the importance weight pi / pi_old is capped at this (TRL: `epsilon_high` "
                           "with `loss_type: cispo`).", gt=0)
    sapo_temperature_pos: float = doc(1.0, "`sapo`: gate temperature for tokens with positive advantage.", gt=0)
    sapo_temperature_neg: float = doc(1.05, "`sapo`: gate temperature for tokens with zero or negative advantage.", gt=0)
    loss_aggregation: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = doc(
        "token_mean",
        "`token_mean` (DAPO), `seq_mean_token_mean` (original GRPO), `seq_mean_token_sum_norm` (Dr. GRPO).",
    )
    clip_low: float = doc(0.2, "Lower clip range: ratio >= 1 - clip_low.", ge=0, lt=1)
    clip_high: float = doc(0.28, "Upper clip range: ratio <= 1 + clip_high (DAPO clip-higher > clip_low).", ge=0)
    updates_per_batch: int = doc(1, "Passes over each batch of rollouts (old log-probs taken first); TRL's "
                                 "`num_iterations`.", ge=1)
    mini_batches: int = doc(1, "Optimizer steps per pass: the batch is split into this many contiguous mini-batches "
                            "(whole rows, in order), each normalised on its own; TRL's `steps_per_generation`. "
                            "The learning-rate schedule still advances once per training step.", ge=1)
    entropy_coef: float = doc(0.0, "Entropy bonus: the loss gets -entropy_coef times each token's entropy, "
                              "aggregated like the surrogate.", ge=0)
    kl_coef: float = doc(0.0, "Weight of KL(policy || reference) in the loss; 0: no reference model at all.", ge=0)
    kl_estimator: Literal["k1", "k2", "k3"] = doc("k3", "Per-token KL estimator.")
    skip_zero_signal_groups: bool = doc(True, "Leave groups whose rewards are all equal out of the backward pass, "
                                        "where that changes nothing but the work (their advantage is 0; no KL or "
                                        "entropy term): the loss keeps the normalisers of the whole batch.")
    dynamic_sampling: bool = doc(False, "DAPO's dynamic sampling: sample further prompts (next in the data stream) "
                                 "until `prompts_per_step` groups with signal (rewards not all equal) are found; the "
                                 "step trains on those only.")
    dynamic_sampling_max_rounds: int = doc(4, "Generation rounds per step at most with `dynamic_sampling` (the first "
                                           "included); a step still short of groups then trains on the ones it has.", ge=1)
    mask_truncated: bool = doc(False, "Leave completions that hit max_new_tokens out of the loss.")
    adv_eps: float = doc(1e-4, "Added to the group std in `grpo` advantages.", gt=0)
    tis_cap: float = doc(2.0, "Truncated importance sampling cap C for rollouts from lagging weights "
                         "(`cluster.async_steps: 1`): each token's surrogate is weighted by min(pi_old / pi_behaviour, C). "
                         "0: no correction.", ge=0)


class OptimConfig(Strict):
    lr: float = doc(1e-5, "Peak learning rate (AdamW).", gt=0)
    weight_decay: float = doc(0.0, "AdamW weight decay.", ge=0)
    betas: tuple[float, float] = doc((0.9, 0.99), "AdamW betas.")
    schedule: Literal["constant", "linear", "cosine"] = doc("constant", "Decay after warm-up, over `steps`.")
    warmup_steps: int = doc(0, "Linear warm-up steps from 0 to `lr`.", ge=0)
    max_grad_norm: float = doc(1.0, "Gradient clipping by global norm (0: off).", ge=0)
    micro_batch_size: int = doc(8, "Sequences per forward/backward; gradients accumulate across micro-batches.", ge=1)


class EvalConfig(Strict):
    problems: int = doc(64, "Held-out problems evaluated.", ge=1)
    samples: int = doc(0, "Sampled completions per problem for pass@k and maj@k (0: greedy accuracy only).", ge=0)
    k: list[int] = doc([1, 4], "The k values reported for pass@k and maj@k (each <= samples).")
    temperature: float = doc(1.0, "Sampling temperature for pass@k samples.", gt=0)
    max_new_tokens: int | None = doc(None, "Completion budget for evaluation (None: generation.max_new_tokens).")
    batch_size: int = doc(64, "Completions generated together.", ge=1)
    at_start: bool = doc(True, "Evaluate before the first training step.")
    at_end: bool = doc(True, "Evaluate after the last training step.")


class BehaviourJudgeConfig(Strict):
    kind: Literal["none", "hf", "openai"] = doc(
        "none", "`none`: off. `hf`: a local Hugging Face chat model (`model`: a path or hub id already on disk). "
        "`openai`: an OpenAI-compatible endpoint (POST `base_url`/chat/completions).")
    model: str | None = doc(None, "The judge model (a path / hub id for `hf`, a model name for `openai`).")
    base_url: str = doc("http://localhost:8000/v1", "OpenAI-compatible endpoint, up to and including `/v1`.")
    api_key_env: str | None = doc("OPENAI_API_KEY", "Environment variable holding the endpoint's API key (unset: none sent).")
    samples: int = doc(8, "Completions judged per judged step (the step's first ones).", ge=1)
    every: int = doc(10, "Judge every N steps.", ge=1)
    timeout_s: float = doc(60.0, "Seconds one judge call may take.", gt=0)

    @model_validator(mode="after")
    def _needs_model(self):
        if self.kind != "none" and not self.model:
            raise ValueError(f"behaviour_judge.kind={self.kind} needs behaviour_judge.model")
        return self


class LogConfig(Strict):
    report_to: list[Literal["tensorboard", "wandb"]] = doc([], "Extra loggers; metrics.jsonl is always written.")
    wandb_project: str = doc("rlvr", "W&B project name (with report_to: [wandb]).")
    progress: bool = doc(True, "Show a progress bar.")
    reflection_lexicon: dict[str, list[str]] = doc(
        {"r1_words": ["wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check"],
         "reexamination": ["recheck", "rethink", "re-evaluate", "try again", "double-check", "reconsider", "let me verify"]},
        "Reflection families: name -> words and phrases, counted as whole words (case-insensitive) per 1,000 "
        "completion tokens as `reflection/<name>/per_1k` (also for correct and incorrect completions apart).")
    target_script: Literal["latin", "cjk", "chinese", "cyrillic", "greek", "arabic", "devanagari"] = doc(
        "latin", "The reasoning's expected script; `language/off_script_share` is the share of its letters outside it.")
    probe_every: int = doc(5, "Every N steps (and at step 0 and the last step) the trainer writes greedy completions "
                           "of the first `probe_prompts` held-out prompts to probes.jsonl (0: only at the start and end).", ge=0)
    probe_prompts: int = doc(4, "Held-out prompts probed (0: no probes.jsonl).", ge=0)
    behaviour_judge: BehaviourJudgeConfig = doc(BehaviourJudgeConfig(), "Optional model that classifies behaviours "
                                                "(`behaviour_judge/<name>`), beside the pattern proxy `behaviour/<name>`.")
    rollouts_per_step: int = doc(-1, "Rollouts written to rollouts.jsonl per step (-1: all).", ge=-1)

    @model_validator(mode="before")
    @classmethod
    def _old_phrases(cls, data):
        # a run folder from before the lexicon families (config.yaml with log.reflection_phrases) still loads and
        # resumes: its phrase list becomes one family, `reflection_phrases`, counted as whole phrases
        if isinstance(data, dict) and "reflection_phrases" in data:
            data = dict(data)
            data.setdefault("reflection_lexicon", {"reflection_phrases": data.pop("reflection_phrases")})
            data.pop("reflection_phrases", None)
        return data

    @model_validator(mode="after")
    def _lexicon_terms(self):
        bad = [f for f in self.reflection_lexicon if not f.strip() or "/" in f]
        if bad:  # the name becomes a metric key `reflection/<name>/per_1k`, which the report splits on "/"
            raise ValueError(f"reflection_lexicon: family name {bad[0]!r} must be non-empty and without '/'")
        empty = [f for f, terms in self.reflection_lexicon.items() if not any(t.strip() for t in terms)]
        if empty:
            raise ValueError(f"reflection_lexicon: family {empty[0]!r} has no terms")
        return self


class CheckpointConfig(Strict):
    save_every: int = doc(0, "Save a checkpoint every N steps (0: only at the end and on Ctrl-C).", ge=0)
    keep_last: int = doc(2, "Checkpoints kept on disk (older ones are deleted).", ge=1)


class ClusterConfig(Strict):
    backend: Literal["local", "ray"] = doc(
        "local", "`local`: everything in this process. `ray`: rollout workers, reward workers and data-parallel "
        "learners as Ray actors (`pip install 'rlvr[ray]'`).")
    address: str | None = doc(None, "Ray cluster: None starts a local Ray in this process; `auto` joins the one "
                              "`ray start` runs on this machine; or `host:port` of its head.")
    rollout_workers: int = doc(1, "Ray actors that sample rollouts, each on a contiguous shard of the step's prompts.", ge=1)
    reward_workers: int = doc(1, "Ray actors that run reward functions and verifiers, each on a shard of the samples.", ge=1)
    learners: int = doc(1, "Data-parallel learners (a torch.distributed group: gloo on CPU, NCCL on GPU); gradients "
                        "are summed, so the update equals one learner's.", ge=1)
    cpus_per_rollout_worker: float = doc(1.0, "CPUs Ray reserves for each rollout worker (also its torch threads).", gt=0)
    cpus_per_reward_worker: float = doc(1.0, "CPUs Ray reserves for each reward worker.", gt=0)
    cpus_per_learner: float = doc(1.0, "CPUs Ray reserves for each learner (also its torch threads).", gt=0)
    gpus_per_rollout_worker: float = doc(0.0, "GPUs for each rollout worker (fractions share one GPU).", ge=0)
    gpus_per_learner: float = doc(0.0, "GPUs for each learner.", ge=0)
    fsdp: bool = doc(False, "Shard each learner's parameters, gradients and optimizer state across the learners "
                     "with FSDP2 (`fully_shard`), for models that do not fit one device (ray backend, full fine-tuning).")
    async_steps: int = doc(0, "0: a step's rollouts come from the weights it trains. 1: rollouts for step t+1 are "
                           "sampled while step t trains (on Ray, at the same time), so they lag one update and the loss "
                           "corrects for it (`grpo.tis_cap`). Locally the order is the same, without the overlap.", ge=0, le=1)
    worker_timeout_s: float = doc(600.0, "A rollout or reward call that takes longer is a hung worker: it is named in "
                                  "the log, killed and replaced, and the call is retried.", gt=0)


class TrainConfig(Strict):
    name: str | None = doc(None, "Run name; the run writes to `output_dir/name` (default: preset and time).")
    output_dir: str = doc("runs", "Folder that holds the runs.")
    seed: int = doc(0, "Seed for sampling and initialisation.")
    steps: int = doc(20, "Training steps (one batch of rollouts and its updates each).", ge=0)
    model: str = doc(
        "embedded:smollm2-135m-instruct",
        "`embedded:smollm2-135m-instruct`, a local HF model folder, `tiny-random[:seed]`, or a hub id.",
    )
    device: str = doc("auto", "`auto` (cuda if present), `cpu`, `cuda`, `cuda:1`, ...")
    dtype: Literal["auto", "float32", "bfloat16"] = doc("auto", "Weights' dtype. `auto`: fp32 on CPU, bf16 on CUDA.")
    bf16_autocast: bool | Literal["auto"] = doc(
        "auto",
        "Matrix products in bf16 under torch.autocast over fp32 weights, and rollouts from a bf16 copy of the "
        "weights refreshed after every update. Several times faster on CPUs with AMX-BF16 (`grep amx_bf16 "
        "/proc/cpuinfo`) and far slower on CPUs without bf16 units; with bf16 weights it changes nothing. "
        "`auto`: true on CUDA; on CPU, true when a matrix-product micro-benchmark of the model's shapes (under "
        "0.5 s, at model build, printed once) finds bf16 at least 10% faster than fp32 on the machine at hand.",
    )
    threads: int | None = doc(None, "CPU threads for torch (None: torch's default).", ge=1)
    gradient_checkpointing: bool = doc(False, "Recompute activations in backward to save memory.")
    lora: LoraConfig = LoraConfig()
    task: TaskConfig = ArithmeticTaskConfig()
    prompt: PromptConfig = PromptConfig()
    rewards: list[RewardSpec] = doc([RewardSpec(name="correct")], "Reward functions, summed with their weights.")
    generation: GenerationConfig = GenerationConfig()
    grpo: GRPOConfig = GRPOConfig()
    optim: OptimConfig = OptimConfig()
    eval: EvalConfig = EvalConfig()
    log: LogConfig = LogConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    cluster: ClusterConfig = ClusterConfig()

    @model_validator(mode="after")
    def _consistent(self):
        if self.cluster.fsdp and self.cluster.backend != "ray":
            raise ValueError("cluster.fsdp=true needs cluster.backend=ray: FSDP shards the model over the Ray learners")
        if self.cluster.fsdp and self.lora.enabled:
            raise ValueError("cluster.fsdp=true does not support lora.enabled=true (LoRA adapters are small enough to replicate)")
        if self.grpo.advantage == "rloo" and self.grpo.samples_per_prompt < 2:
            raise ValueError("grpo.advantage=rloo needs grpo.samples_per_prompt >= 2")
        if self.grpo.scale_rewards != "group" and self.grpo.advantage != "grpo":
            raise ValueError(f"grpo.scale_rewards={self.grpo.scale_rewards} applies to grpo.advantage=grpo "
                             f"(got grpo.advantage={self.grpo.advantage})")
        if self.grpo.dynamic_sampling and self.cluster.async_steps:
            raise ValueError("grpo.dynamic_sampling=true needs cluster.async_steps=0: the next step's prompts depend "
                             "on how many this step consumed")
        if self.grpo.mini_batches > self.grpo.prompts_per_step * self.grpo.samples_per_prompt:
            raise ValueError(f"grpo.mini_batches={self.grpo.mini_batches} is more than the "
                             f"{self.grpo.prompts_per_step * self.grpo.samples_per_prompt} rollouts of a step")
        if self.eval.samples and max(self.eval.k) > self.eval.samples:
            raise ValueError(f"eval.k={self.eval.k} needs eval.samples >= {max(self.eval.k)}")
        return self


class EvalCommandConfig(Strict):
    model: str = TrainConfig.model_fields["model"]
    device: str = TrainConfig.model_fields["device"]
    dtype: Literal["auto", "float32", "bfloat16"] = TrainConfig.model_fields["dtype"]  # eval: no autocast
    threads: int | None = TrainConfig.model_fields["threads"]
    seed: int = doc(0, "Seed for the pass@k samples.")
    task: TaskConfig = ArithmeticTaskConfig()
    prompt: PromptConfig = PromptConfig()
    generation: GenerationConfig = GenerationConfig()
    eval: EvalConfig = EvalConfig(samples=8)


# --------------------------------------------------------------------------------------------- loading


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS.glob("*.yaml"))


def read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def merge(base: dict, over: dict) -> dict:
    """Deep merge. A mapping whose `kind` changes is replaced, not merged: its old keys belong to another kind."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            if "kind" in value and value["kind"] != old.get("kind"):
                out[key] = dict(value)
            else:
                out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def parse_override(item: str) -> dict:
    """`a.b.c=value` -> {'a': {'b': {'c': value}}}; the value is read as YAML (numbers, lists, booleans)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {item!r} is not of the form dotted.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return nest(key.strip(), value)


def load(model_cls=TrainConfig, *, preset: str | None = None, file: str | Path | None = None, overrides=()):
    data: dict = {}
    if preset:
        path = PRESETS / f"{preset}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown preset {preset!r}; presets: {', '.join(preset_names())}")
        data = read_yaml(path)
    if file:
        data = merge(data, read_yaml(Path(file)))
    for item in overrides:  # `a.b=value` text (values read as YAML), or mappings whose values keep their types
        data = merge(data, item if isinstance(item, dict) else parse_override(item))
    return validate(model_cls, data)


def from_python(config=None, *, preset: str | None = None, overrides: dict | None = None,
                resume: str | Path | None = None) -> TrainConfig:
    """The config `rlvr.train` runs: what `rlvr train [--preset P] [--config FILE] [key=value ...]` resolves.

    `config`: None, a YAML path or a TrainConfig; each means the keys it sets, over the preset (`preset`,
    default `default`): a YAML file as `--config` merges it, a TrainConfig built in Python with the fields given
    to it or assigned (`TrainConfig(steps=3)` is `steps=3` over the preset, not the class defaults), a config
    from `load` or a run's config.yaml with all of them (so it is taken as it is). `overrides`:
    {"grpo__kl_coef": 0.01, ...} with `__` for dots, values kept as given, applied last.
    `resume`: a run folder; its recorded config.yaml takes the preset's place (as `rlvr train --resume RUN
    key=value` does), so the run keeps its model, steps and rewards unless `config`/`overrides` change them."""
    items = [nest(k.replace("__", "."), v) for k, v in (overrides or {}).items()]
    if config is not None and not isinstance(config, (TrainConfig, str, Path)):
        raise ConfigError(f"config must be a YAML path or a TrainConfig, got {type(config).__name__}")
    given = [explicit(config)] if isinstance(config, TrainConfig) else [read_yaml(Path(config))] if config else []
    if resume is not None:
        if preset is not None:
            raise ConfigError("resume takes its config from the run folder; a preset cannot be given with it")
        if config is not None and not (Path(resume) / "config.yaml").exists():  # a folder killed before it had one
            return load(preset="default", overrides=[*given, *items])
        return resumed(resume, [*given, *items])
    return load(preset=preset or "default", overrides=[*given, *items])


def resumed(run: str | Path, overrides=()) -> TrainConfig:
    """The config a resumed run continues with: its recorded config.yaml, then `overrides` (as `load` takes them).
    The model cannot change: the checkpoint holds that model's weights."""
    path = Path(run) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{run} is not a run folder (no config.yaml)")
    recorded = read_yaml(path)
    cfg = load(file=path, overrides=overrides)
    if "model" in recorded and cfg.model != recorded["model"]:
        raise ConfigError(f"{run} was trained from model {recorded['model']!r}; resuming it cannot change the model "
                          f"to {cfg.model!r} (start a new run from a checkpoint folder instead)")
    return cfg


def explicit(model: BaseModel) -> dict:
    """The fields set on `model` (given to its constructor, assigned, or read from a file), as nested plain
    data: `TrainConfig(optim=OptimConfig(lr=1e-4))` -> {'optim': {'lr': 0.0001}}. A section's `kind` comes
    along with any field of it, so it merges into (or replaces) the same kind."""
    data = model.model_dump(mode="json")
    out = {}
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, BaseModel):
            inner = explicit(value)
            if inner or name in model.model_fields_set:
                out[name] = {"kind": data[name]["kind"], **inner} if "kind" in type(value).model_fields else inner
        elif name in model.model_fields_set:
            out[name] = data[name]
    return out


def nest(dotted: str, value) -> dict:
    """`nest("a.b", v)` -> {'a': {'b': v}}: an override from Python, its value kept as given."""
    node: Any = value
    for part in reversed(dotted.split(".")):
        node = {part: node}
    return node


def validate(model_cls, data: dict):
    if isinstance(data.get("task"), dict) and "kind" not in data["task"]:
        data = {**data, "task": {"kind": "arithmetic", **data["task"]}}  # the default task's kind
    try:
        # validated twice: the second time from the full dump, so every field counts as set (`explicit`): a
        # resolved config passed on to `from_python` means all of its values, not the preset's
        return model_cls.model_validate(model_cls.model_validate(data).model_dump())
    except ValidationError as e:
        lines = []
        for err in e.errors():
            loc = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key" + did_you_mean(model_cls, err["loc"])
            lines.append(f"  {loc or '(top level)'}: {msg}" + (f" (got {err['input']!r})" if err["type"] != "extra_forbidden" and not isinstance(err.get("input"), dict) else ""))
        raise ConfigError("invalid config:\n" + "\n".join(lines)) from None


# TRL GRPOConfig names (and the HF TrainingArguments ones GRPO users set) -> the rlvr key that does that job.
# The full mapping, with what is not supported, is in the README's "Moving from TRL" table.
TRL_NAMES = {
    "beta": "grpo.kl_coef", "num_generations": "grpo.samples_per_prompt", "epsilon": "grpo.clip_low",
    "epsilon_high": "grpo.clip_high", "max_completion_length": "generation.max_new_tokens",
    "learning_rate": "optim.lr", "loss_type": "grpo.loss_aggregation` or `grpo.policy_loss",
    "scale_rewards": "grpo.scale_rewards", "num_iterations": "grpo.updates_per_batch",
    "steps_per_generation": "grpo.mini_batches", "generation_batch_size": "grpo.prompts_per_step",
    "temperature": "generation.temperature", "top_p": "generation.top_p", "top_k": "generation.top_k",
    "min_p": "generation.min_p", "repetition_penalty": "generation.repetition_penalty",
    "mask_truncated_completions": "grpo.mask_truncated", "importance_sampling_level": "grpo.policy_loss",
    "sapo_temperature_pos": "grpo.sapo_temperature_pos", "sapo_temperature_neg": "grpo.sapo_temperature_neg",
    "vllm_importance_sampling_cap": "grpo.tis_cap", "reward_weights": "rewards[].weight",
    "max_steps": "steps", "num_train_epochs": "steps", "per_device_train_batch_size": "optim.micro_batch_size",
    "weight_decay": "optim.weight_decay", "warmup_steps": "optim.warmup_steps", "lr_scheduler_type": "optim.schedule",
    "max_grad_norm": "optim.max_grad_norm", "adam_beta1": "optim.betas", "adam_beta2": "optim.betas",
    "save_steps": "checkpoint.save_every", "save_total_limit": "checkpoint.keep_last", "report_to": "log.report_to",
    "bf16": "dtype", "model_name_or_path": "model", "per_device_eval_batch_size": "eval.batch_size",
}


def did_you_mean(model_cls, loc: tuple) -> str:
    """` (did you mean `key`?)` for an unknown key at `loc` (pydantic's path), or "": a TRL name, a valid key
    at another level (`temperature` at the top), or a close misspelling of either."""
    import difflib

    parts = [p for p in loc if not isinstance(p, int)]
    if len(parts) > 1 and parts[0] == "task" and isinstance(loc[1], str) and loc[1] != parts[-1]:
        parts.pop(1)  # the task kind pydantic puts in the path of a tagged union
    name, parent = str(parts[-1]), ".".join(str(p) for p in parts[:-1])
    written = {k.replace("[]", ""): k for k, _, _ in reference(model_cls)}  # path form -> as documented
    keys = list(written)
    leaf = {k.rsplit(".", 1)[-1]: k for k in reversed(keys)}  # a leaf name's key (the shallowest one)
    siblings = [k.rsplit(".", 1)[-1] for k in keys if k.rpartition(".")[0] == parent]
    guess = None
    if name in TRL_NAMES:
        guess = TRL_NAMES[name]
    elif name in leaf:
        guess = leaf[name]
    elif close := difflib.get_close_matches(name, siblings, n=1, cutoff=0.75):
        guess = f"{parent}.{close[0]}" if parent else close[0]
    elif close := difflib.get_close_matches(name, list(TRL_NAMES), n=1, cutoff=0.8):
        guess = TRL_NAMES[close[0]]
    elif close := difflib.get_close_matches(name, list(leaf), n=1, cutoff=0.8):
        guess = leaf[close[0]]
    return f" (did you mean `{written.get(guess, guess)}`?)" if guess else ""


def dump(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)


def reference(model_cls=TrainConfig, prefix: str = "", *, tasks: bool = True, defaults: BaseModel | None = None
              ) -> list[tuple[str, str, str]]:
    """(dotted key, default, description) for every option: the README's config reference. With
    tasks=False a task is one row pointing at `rlvr train`'s task options, where they are documented.
    `defaults`: the section's default instance, whose values can differ from its class's (sample's
    `generation` has its own `max_new_tokens`)."""
    rows = []
    for name, field in model_cls.model_fields.items():
        ann = field.annotation
        key = f"{prefix}{name}"
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        inner = args[0] if len(args) == 1 else None  # X | None, or list[X]
        value = getattr(defaults, name) if defaults is not None and not field.is_required() else field.default
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            rows.extend(reference(ann, key + ".", tasks=tasks, defaults=value if isinstance(value, BaseModel) else None))
        elif name == "task" and not tasks:
            kinds = ", ".join(c.model_fields["kind"].default for c in typing.get_args(ann))
            default = repr(value.model_dump(mode="json")) if not field.is_required() else "required"
            rows.append((key, default, f"{(field.description or 'A task').rstrip('.')}. Kinds: {kinds}; options as `task.*` of `rlvr train`."))
        elif name == "task":
            for cls in typing.get_args(ann):  # the task kinds this field accepts (a mixture's parts: not mixture)
                kind = cls.model_fields["kind"].default
                for k, default, text in reference(cls):
                    rows.append((f"{key}.{k}", default, text if k == "kind" else f"[{kind}] {text}"))
        elif name == "rewards":
            rows.append((key, "[{name: correct}]", field.description or ""))
            rows.extend((f"{key}[].{k}", d, t) for k, d, t in reference(RewardSpec))
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            is_list = typing.get_origin(ann) is list
            default = "required" if field.is_required() else ("None" if value is None else "see below")
            rows.append((key, default, field.description or ""))
            rows.extend(reference(inner, key + ("[]." if is_list else "."), tasks=tasks))
        else:
            default = "required" if field.is_required() else repr(value)
            rows.append((key, default, field.description or ""))
    return rows
