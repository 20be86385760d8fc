"""Rollout generation behind a small interface: prompts in; token ids, masks and texts out.

Layout of a `Generation` (B = prompts * n rows, each prompt's n samples contiguous):
    prompt_ids      [B, P]  left-padded, so every completion starts at column P
    prompt_mask     [B, P]
    completion_ids  [B, T]  right-padded after the end-of-sequence token
    completion_mask [B, T]  1 on sampled tokens up to and including EOS
    truncated       [B]     True when no EOS came within max_new_tokens
    logprobs        [B, T]  float32 log-prob of each sampled token under the engine's weights, 0.0 on padding
The trainer re-scores these ids itself, so a faster engine (or vLLM) only has to fill the same record.
`logprobs` are the behaviour policy's: from the raw logits (temperature 1, no top-k/top-p), the way the learner
scores tokens, so learner minus behaviour measures only weight lag and numeric mismatch.

Sampling does not depend on how a step's prompts are split between calls (rollout workers each take a shard):
each row (global prompt p, sample j) gets its own counter-based stream of uniforms, a SplitMix64 sequence
seeded from (call seed, p, j), and draw t of that stream picks the token at completion position t. Rows share
no generator state, so `Generation.cat` of the shards' outputs equals one call over all the prompts.

The engine contract: an engine is built from the `generation` config section (`build`, the one factory every
caller uses), told when the policy's weights change (`sync`), and asked to `generate`. Nothing else reaches
into it, so an engine can hold its own copy of the weights: in another dtype here, in another process or on
another machine elsewhere.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor
from transformers.cache_utils import DynamicLayer


@dataclass
class Generation:
    prompt_ids: Tensor
    prompt_mask: Tensor
    completion_ids: Tensor
    completion_mask: Tensor
    truncated: Tensor
    texts: list[str]
    # last and optional so records built positionally by hand (fakes in tests) still work; engines fill it
    logprobs: Tensor | None = field(default=None)

    @property
    def lengths(self) -> Tensor:
        return self.completion_mask.sum(dim=1)

    @classmethod
    def cat(cls, parts: list["Generation"], pad_id: int) -> "Generation":
        """Shards in order -> one record: prompts re-padded on the left to the widest prompt, completions on
        the right to the widest completion, so every completion still starts at the same column. `logprobs`
        is None if any part has none. Tensors land on the first part's device."""
        if not parts:
            raise ValueError("Generation.cat needs at least one part")
        device = parts[0].prompt_ids.device
        P = max(g.prompt_ids.shape[1] for g in parts)
        T = max(g.completion_ids.shape[1] for g in parts)

        def pad(t: Tensor, width: int, value, left: bool) -> Tensor:  # [b, w] -> [b, width]
            t = t.to(device)
            extra = width - t.shape[1]
            return torch.nn.functional.pad(t, (extra, 0) if left else (0, extra), value=value)

        has_lp = all(g.logprobs is not None for g in parts)
        return cls(
            prompt_ids=torch.cat([pad(g.prompt_ids, P, pad_id, True) for g in parts]),
            prompt_mask=torch.cat([pad(g.prompt_mask, P, 0, True) for g in parts]),
            completion_ids=torch.cat([pad(g.completion_ids, T, pad_id, False) for g in parts]),
            completion_mask=torch.cat([pad(g.completion_mask, T, 0, False) for g in parts]),
            truncated=torch.cat([g.truncated.to(device) for g in parts]),
            texts=[t for g in parts for t in g.texts],
            logprobs=torch.cat([pad(g.logprobs, T, 0.0, False) for g in parts]) if has_lp else None,
        )


@dataclass(frozen=True)
class Sampling:
    max_new_tokens: int
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0  # 0: off
    repetition_penalty: float = 1.0  # 1: off

    @classmethod
    def of(cls, generation_cfg, **changes) -> "Sampling":
        """From a `generation` config section, with fields changed (`temperature=0.0` for greedy)."""
        g = generation_cfg
        fields = dict(max_new_tokens=g.max_new_tokens, temperature=g.temperature, top_p=g.top_p, top_k=g.top_k,
                      min_p=g.min_p, repetition_penalty=g.repetition_penalty)
        return cls(**{**fields, **changes})


class Ready:
    """A generation that is already done: what `submit` returns when sampling happens at once."""

    def __init__(self, value: Generation):
        self.value = value

    def result(self) -> Generation:
        return self.value


class Engine(Protocol):
    def sync(self, policy) -> None:
        """The policy's weights changed (an optimizer step): sample from the new ones from now on. `policy` is
        what the learner publishes: the model itself in this process, an object ref of its weights on Ray."""

    def generate(self, prompts: list[str], *, n: int, sampling: Sampling, seed: int, first_prompt: int = 0) -> Generation:
        """prompts[i] is the step's prompt `first_prompt + i`: a shard of a step draws what the whole would."""

    def submit(self, prompts: list[str], *, n: int, sampling: Sampling, seed: int, first_prompt: int = 0):
        """`generate` that may run while the caller goes on: returns a handle whose `.result()` is the
        Generation (an engine in this process samples at once and returns `Ready`)."""


def positions(mask: Tensor) -> Tensor:
    """Position ids that ignore left padding: 0 at each row's first real token."""
    return (mask.cumsum(dim=-1) - 1).clamp(min=0)


def _i64(x: int) -> int:
    """A 64-bit pattern as the signed int64 torch stores it (arithmetic below wraps mod 2**64)."""
    x &= (1 << 64) - 1
    return x - (1 << 64) if x >= 1 << 63 else x


_GAMMA = _i64(0x9E3779B97F4A7C15)  # SplitMix64's increment (2**64 / golden ratio, odd)
_M1, _M2 = _i64(0xBF58476D1CE4E5B9), _i64(0x94D049BB133111EB)


def _lsr(x: Tensor, k: int) -> Tensor:
    """Logical right shift of int64: `>>` is arithmetic (copies the sign bit), so mask the top k bits off."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _finalize(z: Tensor) -> Tensor:
    """SplitMix64's output function: a bijection of 64-bit words that scatters nearby inputs."""
    z = (z ^ _lsr(z, 30)) * _M1
    z = (z ^ _lsr(z, 27)) * _M2
    return z ^ _lsr(z, 31)


def row_seeds(seed: int, prompt: Tensor, sample: Tensor) -> Tensor:
    """[B] global prompt indices, [B] sample indices -> [B] int64 stream seeds.

    h = F(F(F(seed + G) + p + G) + j + G), F the SplitMix64 finaliser and G its increment. F is a bijection, so
    for a fixed call seed distinct prompts get distinct h before the sample level, and for a fixed prompt
    distinct samples get distinct seeds; unrelated (seed, p, j) collide with chance ~2**-64. The call seed
    already encodes the run seed and the step, so seeds differ across steps, prompts and samples."""
    h = _finalize(torch.full_like(prompt, _i64(seed)) + _GAMMA)
    h = _finalize(h + prompt + _GAMMA)
    return _finalize(h + sample + _GAMMA)


def uniforms(seeds: Tensor, t: int | Tensor) -> Tensor:
    """[B] int64 stream seeds, draw index t (an int, or int64 broadcasting with seeds) -> float64 in [0, 1).

    Counter-based: draw t of a stream is SplitMix64's (t+1)-th output, F(seed + (t + 1) G), so it depends on
    nothing but (seed, t); the top 53 bits become the float exactly. Vectorised int64 ops (multiplies wrap
    mod 2**64), the same on CPU and CUDA."""
    step = (t + 1) * _GAMMA if isinstance(t, Tensor) else _i64((t + 1) * _GAMMA)
    z = _finalize(seeds + step)
    return _lsr(z, 11).double() * 2.0**-53


def sample_next(logits: Tensor, s: Sampling, u: Tensor, seen: Tensor | None = None, lse: Tensor | None = None) -> Tensor:
    """[B, V] logits, [B] uniforms in [0, 1) -> [B] token ids. In order: the repetition penalty on the tokens
    `seen` ([B, V] bool: in the row's prompt or completion so far), then temperature (0: greedy), top-k, top-p
    and min-p filtering. Each row uses only its own logits, uniform and seen tokens. `lse`: the rows'
    logsumexp of `logits` if the caller has it; plain sampling (T=1, no filter) then needs no softmax."""
    if s.repetition_penalty != 1.0:
        if seen is None:
            raise ValueError("repetition_penalty needs the tokens seen so far")
        logits, lse = repetition_penalised(logits.float(), seen, s.repetition_penalty), None
    if s.temperature == 0:
        return logits.argmax(dim=-1)
    plain = s.temperature == 1.0 and not (s.top_k and s.top_k < logits.shape[-1]) and s.top_p >= 1.0 and s.min_p <= 0.0
    if plain and lse is not None:
        return sample_categorical((logits.float() - lse.view(-1, 1)).exp_(), u)
    logits = logits.float() / s.temperature if s.temperature != 1.0 else logits.float()
    if s.top_k and s.top_k < logits.shape[-1]:
        kth = torch.topk(logits, s.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if s.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cum - sorted_logits.softmax(dim=-1) > s.top_p  # keep the smallest prefix reaching top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    if s.min_p > 0.0:  # keep tokens at least min_p times as likely as the row's most likely one
        probs = probs.masked_fill(probs < s.min_p * probs.max(dim=-1, keepdim=True).values, 0.0)
    return sample_categorical(probs, u)


def repetition_penalised(logits: Tensor, seen: Tensor, penalty: float) -> Tensor:
    """CTRL's repetition penalty (as transformers and vLLM apply it): a seen token's logit is divided by
    `penalty` where positive and multiplied by it where negative, so penalty > 1 always makes it less likely."""
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def seen_tokens(ids: Tensor, mask: Tensor, vocab: int) -> Tensor:
    """[B, P] token ids and their mask -> [B, V] bool: which tokens occur in each row (padding left out)."""
    counts = torch.zeros(ids.shape[0], vocab, dtype=torch.int32, device=ids.device)
    return counts.scatter_add_(1, ids, mask.to(torch.int32)) > 0


def sample_categorical(probs: Tensor, u: Tensor) -> Tensor:
    """[B, V] probabilities, [B] float64 uniforms in [0, 1) -> [B] ids, by inverting the CDF at each row's u.

    `torch.multinomial` draws V exponentials per row (Gumbel trick): 14 ms for 16 x 49k on this CPU, 16% of
    all generation time. This needs B uniforms, a cumsum and a binary search. The cumsum is in float64 so a
    token's share of [0, total) is its probability to ~1e-16, and a zero-probability token (filtered by
    top-k/top-p) owns an empty interval and can never be drawn."""
    cdf = probs.double().cumsum(dim=-1)  # [B, V]
    u = u.to(device=probs.device, dtype=torch.float64).view(-1, 1) * cdf[:, -1:]
    ids = torch.searchsorted(cdf, u, right=True).squeeze(-1)  # first index whose cdf exceeds u
    # u can round up to the total (ids == V, rare); then the draw is the last token with non-zero probability.
    # Any other index is a token with probability > 0 (a zero one never raises the cdf), so only then look.
    over = ids >= probs.shape[-1]
    if bool(over.any()):
        last = probs.shape[-1] - 1 - (probs[over].flip(-1) > 0).to(torch.uint8).argmax(dim=-1)
        ids = ids.masked_scatter(over, last)
    return ids


class _GrowInPlace(DynamicLayer):
    """A DynamicLayer whose keys and values are views into buffers sized for the whole generation.

    DynamicLayer appends a token with torch.cat, copying the layer's cache every step: O(T^2) bytes over a
    generation, ~10% of decode time at 16 rows here. This writes the new token in place and widens the view.
    """

    def __init__(self, keys: Tensor, values: Tensor, extra: int):
        super().__init__()
        B, H, n, D = keys.shape
        self._k = keys.new_empty(B, H, n + extra, D)  # [B, kv_heads, prompt + max_new_tokens, head_dim]
        self._v = values.new_empty(B, values.shape[1], n + extra, values.shape[-1])
        self._k[:, :, :n], self._v[:, :, :n] = keys, values
        self.keys, self.values = self._k[:, :, :n], self._v[:, :, :n]
        self.device, self.is_initialized = keys.device, True

    def batch_select_indices(self, indices: Tensor) -> None:
        """Keep rows `indices` (finished rows dropped): copies only the filled part into smaller buffers."""
        B, H, n, D = self.keys.shape
        cap = max(self._k.shape[-2], n)  # (n > the buffers only after the fallback below grew past them)
        k = self._k.new_empty(len(indices), H, cap, D)
        v = self._v.new_empty(len(indices), self.values.shape[1], cap, self.values.shape[-1])
        k[:, :, :n].copy_(self.keys[indices])
        v[:, :, :n].copy_(self.values[indices])
        self._k, self._v = k, v
        self.keys, self.values = k[:, :, :n], v[:, :, :n]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        n, m = self.keys.shape[-2], self.keys.shape[-2] + key_states.shape[-2]
        if m > self._k.shape[-2]:  # past the planned length: fall back to growing by concatenation
            return super().update(key_states, value_states)
        self._k[:, :, n:m], self._v[:, :, n:m] = key_states, value_states
        self.keys, self.values = self._k[:, :, :m], self._v[:, :, :m]
        return self.keys, self.values


def preallocate(cache, extra_tokens: int) -> None:
    """Swap each plain DynamicLayer of a prefilled cache for one that grows in place (others stay as they are)."""
    for i, layer in enumerate(getattr(cache, "layers", [])):
        if type(layer) is DynamicLayer and layer.is_initialized and layer.keys is not None and layer.keys.numel():
            cache.layers[i] = _GrowInPlace(layer.keys, layer.values, extra_tokens)


class TransformersEngine:
    """KV-cached sampling with a transformers causal LM. The prompt is prefilled once per distinct prompt and
    its cache repeated for the n samples. Each row draws from its own counter-based stream seeded from (call
    seed, global prompt index, sample index) (see `row_seeds`), so a step's rollouts depend only on (weights,
    prompts, seed), resume reproduces them exactly, and splitting the prompts across calls with `first_prompt`
    changes nothing (up to float differences in the logits between batch shapes).

    `weights_dtype` (bf16 with `bf16_autocast`): sample from a copy of the policy in that dtype, refreshed by
    `sync` after every update, like an inference engine beside the trainer. The loss still scores every token
    with the policy itself, so old log-probs never come from the copy."""

    # Drop finished rows from the batch once they are at least this share of it (None: never). A drop copies
    # the live rows' KV cache (~46 KB per row and token for SmolLM2-135M); a dead row left in costs a full
    # row of every later forward pass (~3% of a decode step at 32 rows), so a few rows pay for a copy.
    drop_finished: float | None = 0.125

    def __init__(self, model, tokenizer, *, weights_dtype: torch.dtype | None = None):
        if weights_dtype is not None and weights_dtype != next(model.parameters()).dtype:
            model = copy.deepcopy(model).to(weights_dtype).eval()
            model.requires_grad_(False)
        self.model = model
        self.tokenizer = tokenizer
        eos = model.generation_config.eos_token_id if model.generation_config is not None else None
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        self.eos_ids = sorted(set(eos + [tokenizer.eos_token_id]) - {None})
        self.pad_id = tokenizer.pad_token_id

    @torch.no_grad()
    def sync(self, model) -> None:
        if self.model is not model:
            for dst, src in zip(self.model.parameters(), model.parameters()):
                dst.copy_(src)

    @torch.no_grad()
    def submit(self, prompts: list[str], *, n: int, sampling: Sampling, seed: int, first_prompt: int = 0) -> Ready:
        return Ready(self.generate(prompts, n=n, sampling=sampling, seed=seed, first_prompt=first_prompt))

    @torch.no_grad()
    def generate(self, prompts: list[str], *, n: int, sampling: Sampling, seed: int, first_prompt: int = 0) -> Generation:
        if first_prompt < 0:
            raise ValueError(f"first_prompt must be >= 0, got {first_prompt}")
        model, device = self.model, self.model.device
        was_training = model.training
        model.eval()
        try:
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
            ids, mask = enc.input_ids.to(device), enc.attention_mask.to(device)
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True, logits_to_keep=1)
            cache = out.cache
            if n > 1:
                cache.batch_repeat_interleave(n)
            preallocate(cache, sampling.max_new_tokens)
            prompt_ids, prompt_mask = ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
            logits = out.logits[:, -1].repeat_interleave(n, 0)
            # row r is sample r % n of global prompt first_prompt + r // n
            row = torch.arange(len(prompts) * n, device=device)
            seeds = row_seeds(seed, first_prompt + row // n, row % n)
            completion, logprobs = self._decode(logits, cache, prompt_mask, sampling, seeds, prompt_ids)
        finally:
            model.train(was_training)
        return self._record(prompt_ids, prompt_mask, completion, logprobs)

    def _decode(self, logits, cache, mask, s: Sampling, seeds: Tensor, prompt_ids: Tensor) -> tuple[Tensor, Tensor]:
        """-> completion ids [B, T] (pad after EOS) and their float32 log-probs under the raw logits [B, T].

        Finished rows leave the batch: once enough rows have sampled EOS (`drop_finished`), the cache, mask,
        positions and streams are cut down to the live rows, so a step's forward costs what its live rows
        cost. Each row keeps its own stream and draw index, so what it samples does not depend on who else
        is still in the batch (up to float differences in the logits between batch shapes)."""
        device = logits.device
        eos = torch.tensor(self.eos_ids, device=device)
        B, V = logits.shape
        T = s.max_new_tokens
        tokens = torch.full((B, T), self.pad_id, dtype=torch.long, device=device)
        logprobs = torch.zeros(B, T, dtype=torch.float32, device=device)
        rows = torch.arange(B, device=device)  # original row of each row still in the batch
        P = mask.shape[1]
        # [b, P + T] attention mask written once: a step passes a view, no torch.cat per token
        mask = torch.cat([mask, mask.new_ones(B, T)], dim=1)
        pos = positions(mask[:, :P])[:, -1:]
        done = torch.zeros(B, dtype=torch.bool, device=device)  # finished rows still in the batch
        # [b, V] tokens in each row's prompt and completion so far, for the repetition penalty
        seen = seen_tokens(prompt_ids, mask[:, :P], V) if s.repetition_penalty != 1.0 else None
        width = 0  # completion columns written
        for t in range(T):
            logits = logits.float()  # [b, V]; a no-op for fp32 weights, one copy for bf16 (sampling needs it too)
            # behaviour log-prob at temperature 1: the picked logit minus one logsumexp per row
            lse = torch.logsumexp(logits, dim=-1)
            nxt = sample_next(logits, s, uniforms(seeds, t), seen, lse=lse)
            lp = logits.gather(-1, nxt[:, None]).squeeze(-1) - lse
            live = ~done
            tokens[rows[live], t] = nxt[live]
            logprobs[rows[live], t] = lp[live]
            width = t + 1
            done = done | torch.isin(nxt, eos)
            n_done = int(done.sum())
            if n_done == len(rows) or t == T - 1:
                break
            if seen is not None:
                seen[torch.arange(len(rows), device=device), nxt] = True
            if n_done and self.drop_finished is not None and n_done >= self.drop_finished * len(rows):
                keep = (~done).nonzero().squeeze(-1)
                cache.batch_select_indices(keep)
                rows, mask, pos, seeds, nxt = rows[keep], mask[keep], pos[keep], seeds[keep], nxt[keep]
                seen = seen[keep] if seen is not None else None
                done = done[keep]
            pos = pos + 1
            out = self.model(input_ids=nxt[:, None], attention_mask=mask[:, : P + t + 1], position_ids=pos,
                             cache=cache, use_cache=True)
            logits, cache = out.logits[:, -1], out.cache
        return tokens[:, :width], logprobs[:, :width]

    def _record(self, prompt_ids, prompt_mask, completion: Tensor, logprobs: Tensor) -> Generation:
        eos = torch.tensor(self.eos_ids, device=completion.device)
        is_eos = torch.isin(completion, eos)
        # 1 up to and including the first EOS: the cumulative count of EOS before each position is 0
        before = is_eos.long().cumsum(dim=1) - is_eos.long()
        cmask = (before == 0).long()
        truncated = ~is_eos.any(dim=1)
        texts = [self._text(row, m) for row, m in zip(completion.tolist(), cmask.tolist())]
        return Generation(prompt_ids, prompt_mask, completion, cmask, truncated, texts, logprobs.masked_fill(cmask == 0, 0.0))

    def _text(self, row: list[int], mask: list[int]) -> str:
        ids = [t for t, m in zip(row, mask) if m and t not in self.eos_ids]
        # errors="replace" inside the tokenizer: a completion that is not valid UTF-8 still becomes text
        return self.tokenizer.decode(ids, skip_special_tokens=True)


ENGINES = {"transformers": TransformersEngine}  # `generation.backend` -> engine class


def build(generation_cfg, model, tokenizer, *, weights_dtype: torch.dtype | None = None) -> Engine:
    """The rollout engine that `generation.backend` names, sampling from `model`."""
    return ENGINES[generation_cfg.backend](model, tokenizer, weights_dtype=weights_dtype)
