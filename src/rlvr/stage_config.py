"""Typed configs of the R1 pipeline's other commands: `rlvr sft`, `rlvr sample`, `rlvr rm`, `rlvr pipeline`.

Shared sections (lora, optim, prompt, task) are the ones `rlvr train` uses, documented once in `config.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from rlvr.config import (ArithmeticTaskConfig, BaseTaskConfig, CheckpointConfig, GenerationConfig, LoraConfig,
                         OptimConfig, PromptConfig, Strict, TaskConfig, TrainConfig, doc)

_T = TrainConfig.model_fields


class RunFields(Strict):
    """What every command that writes a run folder has."""

    name: str | None = _T["name"]
    output_dir: str = _T["output_dir"]
    seed: int = _T["seed"]
    model: str = _T["model"]
    device: str = _T["device"]
    dtype: Literal["auto", "float32", "bfloat16"] = _T["dtype"]
    threads: int | None = _T["threads"]


class ChatDataConfig(Strict):
    path: str | None = doc(None, "Chat JSONL, one `{\"messages\": [{role, content}, ...]}` per line.")
    generate: Literal["traces", "general"] | None = doc(
        None, "Built-in data instead of `path`: `traces` (worked reasoning for `task`), `general` (short chat answers).")
    task: BaseTaskConfig = doc(ArithmeticTaskConfig(), "The task whose training problems `generate: traces` solves.")
    examples: int = doc(256, "How many examples `generate` writes.", ge=1)
    eval_examples: int = doc(32, "Examples held out (after a seeded shuffle) for the evaluation loss.", ge=0)
    max_length: int = doc(512, "Tokens per example; longer examples are cut.", ge=8)
    packing: bool = doc(False, "Pack several examples into one row up to max_length (positions restart per "
                        "example; attention is not blocked between them, as in classic packing).")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (self.generate is None):
            raise ValueError("give exactly one of data.path (a JSONL file) and data.generate (traces | general)")
        return self


class SFTConfig(RunFields):
    data: ChatDataConfig = ChatDataConfig(generate="traces")
    epochs: int = doc(2, "Passes over the training examples.", ge=1)
    batch_size: int = doc(16, "Examples per optimizer step (split into optim.micro_batch_size).", ge=1)
    lora: LoraConfig = LoraConfig()
    gradient_checkpointing: bool = _T["gradient_checkpointing"]
    optim: OptimConfig = OptimConfig(lr=2e-5, warmup_steps=2, schedule="cosine")
    eval_every: int = doc(0, "Evaluation loss every N steps (0: only before the first and after the last).", ge=0)
    checkpoint: CheckpointConfig = CheckpointConfig()
    progress: bool = doc(True, "Show a progress bar.")


class PreferenceDataConfig(Strict):
    path: str | None = doc(None, "Pairwise JSONL, one `{\"prompt\", \"chosen\", \"rejected\"}` per line.")
    generate: bool = doc(False, "Built-in pairs instead of `path`: a concise, on-topic answer over a rambling, "
                         "repetitive, off-topic or wrong one, for general chat questions.")
    examples: int = doc(256, "How many training pairs `generate` writes.", ge=1)
    eval_examples: int = doc(64, "Held-out pairs for accuracy (`generate`: from held-out questions; `path`: split off).", ge=1)
    max_length: int = doc(256, "Tokens per prompt + answer; longer ones are cut from the left.", ge=8)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.path is None) == (not self.generate):
            raise ValueError("give exactly one of data.path (a JSONL file) and data.generate: true")
        return self


class RMConfig(RunFields):
    data: PreferenceDataConfig = PreferenceDataConfig(generate=True)
    epochs: int = doc(1, "Passes over the training pairs.", ge=1)
    batch_size: int = doc(16, "Pairs per optimizer step.", ge=1)
    lora: LoraConfig = LoraConfig()
    gradient_checkpointing: bool = _T["gradient_checkpointing"]
    optim: OptimConfig = OptimConfig(lr=2e-5, warmup_steps=2, micro_batch_size=8)
    eval_every: int = doc(0, "Held-out accuracy every N steps (0: only before the first and after the last).", ge=0)
    checkpoint: CheckpointConfig = CheckpointConfig()
    progress: bool = doc(True, "Show a progress bar.")


class SampleFilters(Strict):
    require_format: bool = doc(True, "Keep only `<think>…</think><answer>…</answer>` completions, each tag once.")
    script: str = doc("latin", "Expected script of the reasoning (see `language_consistency`).")
    min_script_share: float = doc(1.0, "Minimum share of the reasoning's letters in `script` (1.0: no mixing).", ge=0, le=1)
    min_tokens: int = doc(8, "Shortest completion kept.", ge=0)
    max_tokens: int | None = doc(None, "Longest completion kept (None: any that ended before the budget).")
    max_repeated_ngram_share: float = doc(0.3, "Drop completions in which more than this share of word 4-grams "
                                          "repeat an earlier one (repetition loops).", gt=0, le=1)


class SampleConfig(RunFields):
    task: TaskConfig = ArithmeticTaskConfig()
    prompt: PromptConfig = PromptConfig()
    prompts: int = doc(128, "Training prompts drawn from the task (from its start).", ge=1)
    samples_per_prompt: int = doc(8, "Completions drawn per prompt (N).", ge=1)
    keep_per_prompt: int = doc(2, "At most this many accepted, distinct completions kept per prompt (K).", ge=1)
    generation: GenerationConfig = doc(GenerationConfig(max_new_tokens=128), "The rollout engine and sampling, as "
                                       "in `rlvr train`; completions that hit `max_new_tokens` are rejected.")
    batch_size: int = doc(64, "Completions generated together.", ge=1)
    filters: SampleFilters = SampleFilters()
    general: ChatDataConfig | None = doc(ChatDataConfig(generate="general", examples=64, eval_examples=0),
                                         "General (non-reasoning) chat data mixed in (None: none).")
    general_ratio: float = doc(0.3, "General examples per kept reasoning example (capped by what `general` holds).", ge=0)
    general_min: int = doc(0, "At least this many general examples, however few completions were kept.", ge=0)


class StageSpec(Strict):
    name: str = doc(..., "Stage name; its folder is `NN-name` under the pipeline's folder.", pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["sft", "grpo", "sample", "rm"] = doc(..., "Which command runs the stage.")
    model: str = doc("previous", "Start from `base` (the pipeline's model), `previous` (the last stage that made a "
                     "policy), or a stage name. For `rm`: its backbone.")
    config: dict = doc({}, "The stage command's config (keys as in its own YAML). String values `@stage` are "
                       "replaced by that stage's output: a model folder, or `sample`'s dataset file.")


class PipelineEvalConfig(Strict):
    task: BaseTaskConfig = doc(ArithmeticTaskConfig(), "Verifiable held-out set every stage's model is evaluated on.")
    prompt: PromptConfig = PromptConfig()
    problems: int = doc(64, "Held-out problems.", ge=1)
    samples: int = doc(4, "Samples per problem for pass@k (0: greedy only).", ge=0)
    k: list[int] = doc([1, 4], "pass@k values.")
    generation: GenerationConfig = doc(GenerationConfig(max_new_tokens=128), "The rollout engine, completion "
                                       "budget and the temperature of the pass@k samples (accuracy is greedy).")
    general_prompts: int = doc(32, "Held-out general prompts scored by the reward model (0: skip).", ge=0)
    reward_model: str | None = doc(None, "Stage whose reward model scores general prompts (default: the last `rm` stage).")
    batch_size: int = doc(64, "Completions generated together.", ge=1)


class PipelineConfig(RunFields):
    name: str = doc("r1", "Pipeline name; it writes to `output_dir/name`. `model`, `seed`, `device`, `dtype` and "
                    "`threads` are every stage's defaults (`model`: the base).")
    stages: list[StageSpec] = doc(..., "The stages, in order.", min_length=1)
    eval: PipelineEvalConfig = PipelineEvalConfig()
    seeds: list[int] = doc([], "Run the stages from `vary_from` on once per seed (as their `seed`), each seed in "
                           "`seed-N/` beside the stages before it, which run once and are shared; then `seeds.md` and "
                           "`seeds.json` give every comparison column per seed, with its mean and range. A seed "
                           "changes the stages' sampling, initialisation and shuffles, not their tasks' problem "
                           "streams (`task.seed`); the evaluation's own seed stays `seed`. Empty: one run.")
    vary_from: str | None = doc(None, "With `seeds`: the first stage run once per seed (default: the first stage, so "
                                "every stage runs per seed).")

    @model_validator(mode="after")
    def _names(self):
        seen: list[str] = []
        for s in self.stages:
            if s.name in seen:
                raise ValueError(f"stage name {s.name!r} is used twice")
            if s.model not in ("base", "previous") and s.model not in seen:
                raise ValueError(f"stage {s.name!r}: model {s.model!r} is not base, previous or an earlier stage")
            seen.append(s.name)
        if any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds {self.seeds}: seeds are non-negative integers")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds {self.seeds}: a seed is listed twice")
        if self.vary_from is not None and self.vary_from not in seen:
            raise ValueError(f"vary_from {self.vary_from!r} is not a stage; stages: {', '.join(seen)}")
        if self.vary_from is not None and not self.seeds:
            raise ValueError("vary_from applies only with seeds (e.g. seeds=[0,1,2])")
        rm = self.eval.reward_model
        if rm is not None and not any(s.name == rm and s.kind == "rm" for s in self.stages):
            raise ValueError(f"eval.reward_model {rm!r} is not the name of an `rm` stage")
        return self

