"""Transformers backend: batched `generate` on CPU or GPU with a seed per (problem, sample).

Sampling is done by `SeededSampler`, a logits processor that applies the penalties, temperature, min-p,
top-k and top-p of `SamplingParams` (in vLLM's order) and draws each row's token from that row's own
`torch.Generator`; `generate` then runs greedy over the one-hot result. A sample's tokens therefore
depend only on its seed and the model, not on which other rows share its batch, so reruns and resumed
runs are reproducible.

Nothing comes from the model's `generation_config.json`: `generate()` fills every field a
GenerationConfig leaves unset from `model.generation_config` (`_prepare_generation_config`), which
would bring in e.g. a `repetition_penalty` or `no_repeat_ngram_size` the model ships. So the loaded
model's generation config is replaced by a neutral one, and each call passes a GenerationConfig with
every logits-processor field set to its neutral value. Only the end-of-turn token ids are kept from it,
as vLLM keeps them: generation stops on the tokenizer's EOS and on those ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from r1eval.backends.base import (
    GenerationRequest,
    GenerationResult,
    RegisteredBackend,
    completion_text,
    render_prompt,
)
from r1eval.errors import UsageError
from r1eval.models import ModelSpec, hf_model_dir, load_tokenizer
from r1eval.records import Completion, SamplingParams

MAX_BATCH_ROWS = 64
PLAN_WINDOW = 1024  # rows taken from the request plan at a time


def neutral_generation_config(params: SamplingParams, stop_token_ids: list[int], pad_token_id: int | None,
                              bos_token_id: int | None) -> Any:
    """A GenerationConfig built from scratch with every field that adds a logits processor, a warper or a
    stopping criterion set to its neutral value: greedy over `SeededSampler`'s one-hot scores, `max_tokens`
    new tokens, stop on `stop_token_ids` only. (`top_k` stays unset: with do_sample=False no warper runs,
    and transformers warns about any value but its inert default of 50.)"""
    from transformers import GenerationConfig

    return GenerationConfig(
        max_new_tokens=params.max_tokens, min_new_tokens=0, do_sample=False, num_beams=1,
        num_return_sequences=1, temperature=1.0, top_p=1.0, min_p=None, typical_p=1.0,
        epsilon_cutoff=0.0, eta_cutoff=0.0, repetition_penalty=1.0, encoder_repetition_penalty=1.0,
        no_repeat_ngram_size=0, encoder_no_repeat_ngram_size=0, length_penalty=1.0, bad_words_ids=None,
        sequence_bias=None, suppress_tokens=None, begin_suppress_tokens=None, forced_bos_token_id=None,
        forced_eos_token_id=None, exponential_decay_length_penalty=None, renormalize_logits=False,
        remove_invalid_values=False, guidance_scale=None, watermarking_config=None, stop_strings=None,
        max_time=None, eos_token_id=stop_token_ids, pad_token_id=pad_token_id, bos_token_id=bos_token_id)


class SeededSampler:
    """Logits processor: penalties, temperature, min-p, top-k, top-p (vLLM's order), then one draw per row from
    that row's generator. Filters at their neutral value are skipped, so they cost nothing.

    `prompt_lengths` are the rows' prompt lengths without the left padding (`prompt_width` tokens wide):
    the repetition penalty counts prompt and reply tokens (as vLLM and HF do), presence and frequency
    penalties the reply's only (OpenAI's definition), never padding."""

    def __init__(self, seeds: Sequence[int], params: SamplingParams, device: Any,
                 prompt_lengths: Sequence[int] = (), prompt_width: int = 0,
                 on_tokens: Callable[[int], None] | None = None, stop_token_ids: Sequence[int] = ()) -> None:
        import torch

        self.params = params
        # progress: tokens drawn by rows that have not stopped yet, reported at every step
        self.on_tokens, self.stop_token_ids = on_tokens, list(stop_token_ids)
        self.stopped: Any = None
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.prompt_lengths = list(prompt_lengths)
        self.prompt_width = prompt_width

    def _token_counts(self, input_ids: Any, start: Any, vocab: int) -> Any:
        """(rows, vocab) counts of the tokens at positions >= start[row]."""
        import torch

        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        keep = (positions[None, :] >= start[:, None]).to(torch.float32)
        return torch.zeros(input_ids.shape[0], vocab, device=input_ids.device).scatter_add_(1, input_ids, keep)

    def _penalize(self, input_ids: Any, logits: Any) -> Any:
        import torch

        p = self.params
        width = torch.full((input_ids.shape[0],), self.prompt_width, device=input_ids.device)
        if p.repetition_penalty != 1.0:
            lengths = torch.tensor(self.prompt_lengths, device=input_ids.device)
            seen = self._token_counts(input_ids, width - lengths, logits.shape[1]) > 0
            penalized = torch.where(logits > 0, logits / p.repetition_penalty, logits * p.repetition_penalty)
            logits = torch.where(seen, penalized, logits)
        if p.presence_penalty != 0.0 or p.frequency_penalty != 0.0:
            counts = self._token_counts(input_ids, width, logits.shape[1])
            logits = logits - p.frequency_penalty * counts - p.presence_penalty * (counts > 0).to(logits.dtype)
        return logits

    def filtered_logits(self, input_ids: Any, scores: Any) -> Any:
        """The logits each row's token is drawn from (softmax of them): penalised, divided by the temperature,
        with the tokens min-p, top-k and top-p exclude set to -inf. Greedy (temperature 0): penalised only."""
        import torch

        p = self.params
        logits = scores.float()
        if not p.penalties_off():
            logits = self._penalize(input_ids, logits)
        if p.temperature > 0:
            logits = logits / p.temperature
            if p.min_p > 0.0:
                probs = logits.softmax(dim=-1)
                threshold = p.min_p * probs.max(dim=-1, keepdim=True).values
                logits = logits.masked_fill(probs < threshold, float("-inf"))
            if 0 < p.top_k < logits.shape[-1]:
                kth = torch.topk(logits, p.top_k, dim=-1).values[..., -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if p.top_p < 1.0:
                sorted_logits, sorted_idx = torch.sort(logits, descending=False, dim=-1)
                cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
                remove = cum <= (1 - p.top_p)
                remove[..., -1] = False  # always keep the most likely token
                logits = logits.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
        return logits

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        logits = self.filtered_logits(input_ids, scores)
        if self.params.temperature == 0:
            chosen = logits.argmax(dim=-1)
        else:
            probs = logits.softmax(dim=-1)
            chosen = torch.stack([torch.multinomial(probs[i], 1, generator=g)[0]
                                  for i, g in enumerate(self.generators)])
        if self.on_tokens is not None:
            stops = torch.isin(chosen, torch.tensor(self.stop_token_ids, device=chosen.device))
            before = torch.zeros_like(stops) if self.stopped is None else self.stopped
            self.on_tokens(int((~before).sum()))  # the stop token itself counts, as in completion_tokens
            self.stopped = before | stops
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.unsqueeze(1), 0.0)
        return out


class TransformersBackend(RegisteredBackend):
    """Hugging Face transformers generation, left-padded batches of whole problems' samples."""

    name = "transformers"
    option_names = ("batch_size", "dtype")

    @classmethod
    def resolve_dtype(cls, model: ModelSpec, requested: str = "auto", on_gpu: bool | None = None) -> str | None:
        """An explicit dtype wins; `auto` is bfloat16 on a GPU, float32 on CPU."""
        if requested != "auto":
            return requested
        if on_gpu is None:
            import torch

            on_gpu = torch.cuda.is_available()
        return "bfloat16" if on_gpu else "float32"

    def __init__(self, model: ModelSpec, batch_size: int | None = None, dtype: str = "auto",
                 device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.spec = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype = self.resolve_dtype(model, dtype, on_gpu=self.device.startswith("cuda"))
        torch_dtype = getattr(torch, self.dtype)
        # a GGUF is dequantised once into a cached HF directory (same weights, ~10x faster to load next time)
        path = hf_model_dir(model, self.dtype)
        try:
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device).eval()
        except OSError as exc:
            raise UsageError(f"could not load model {model.name}: {str(exc).splitlines()[0]}") from None
        self.tokenizer = load_tokenizer(model, path)
        self.batch_size = batch_size
        self.on_tokens: Callable[[int], None] | None = None  # progress callback: tokens per decoding step
        # stop on the tokenizer's EOS and the end-of-turn ids the model's generation config lists (what vLLM
        # does); then drop that config so generate() can't fill any other field from it
        eos = self.model.generation_config.eos_token_id
        listed = eos if isinstance(eos, list) else [eos] if eos is not None else []
        self.stop_token_ids = sorted({int(t) for t in [*listed, self.tokenizer.eos_token_id] if t is not None})
        self.model.generation_config = neutral_generation_config(
            SamplingParams(), self.stop_token_ids, self.tokenizer.pad_token_id, self.tokenizer.bos_token_id)

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.name, "transformers": transformers.__version__, "torch": torch.__version__,
                "device": self.device, "dtype": self.dtype, "batch_size": self.batch_size or "auto"}

    def effective_sampling(self, params: SamplingParams) -> dict[str, Any]:
        config = neutral_generation_config(params, self.stop_token_ids, self.tokenizer.pad_token_id,
                                           self.tokenizer.bos_token_id).to_diff_dict()
        config.pop("transformers_version", None)
        return {"sampler": "r1eval SeededSampler (one torch.Generator per sample)",
                **{k: getattr(params, k) for k in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty",
                                                   "presence_penalty", "frequency_penalty", "max_tokens")},
                "no_repeat_ngram_size": 0, "stop_token_ids": self.stop_token_ids,
                "generation_config": config}

    def render(self, messages: list[dict[str, str]], params: SamplingParams) -> str:
        return render_prompt(self.tokenizer, messages, params.force_think, params.system_prompt,
                             params.chat_template_kwargs)

    def max_rows(self, prompt_tokens: int, max_tokens: int) -> int:
        """Rows per batch so the KV cache fits in half the free memory (or --batch-size)."""
        if self.batch_size:
            return self.batch_size
        import psutil
        import torch

        cfg = self.model.config
        layers = getattr(cfg, "num_hidden_layers", 32)
        heads = getattr(cfg, "num_key_value_heads", None) or getattr(cfg, "num_attention_heads", 32)
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        bytes_per_elem = 2 if self.dtype in ("bfloat16", "float16") else 4
        per_row = 2 * layers * heads * head_dim * bytes_per_elem * (prompt_tokens + max_tokens)
        per_row += cfg.vocab_size * 4 * 4  # logits and sampling buffers
        if self.device.startswith("cuda"):
            free = torch.cuda.mem_get_info()[0]
        else:
            free = psutil.virtual_memory().available
        return max(1, min(MAX_BATCH_ROWS, int(free * 0.5 // per_row)))

    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        """Requests are taken PLAN_WINDOW rows at a time (a plan of a million samples never sits in memory),
        sorted by prompt length within the window to waste little padding."""
        source = iter(requests)
        while True:
            window: list[GenerationRequest] = []
            rows = 0
            for request in source:
                window.append(request)
                rows += len(request.sample_indices)
                if rows >= PLAN_WINDOW:
                    break
            if not window:
                return
            yield from self._generate_window(window, params)

    def _generate_window(self, requests: list[GenerationRequest], params: SamplingParams
                         ) -> Iterator[GenerationResult]:
        # keyed by request position: several requests may share a problem_id (per-sample prompts)
        prompts = [self.render(r.messages, params) for r in requests]
        lengths = [len(self.tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
        # rows: (request position, sample_index, seed); similar prompt lengths together to waste little padding
        rows = [(k, i, s) for k in sorted(range(len(requests)), key=lambda k: lengths[k])
                for i, s in zip(requests[k].sample_indices, requests[k].seeds, strict=True)]
        start = 0
        while start < len(rows):
            limit = self.max_rows(max(lengths[k] for k, _, _ in rows[start:start + MAX_BATCH_ROWS]),
                                  params.max_tokens)
            batch = rows[start:start + limit]
            try:
                outputs = self._generate_rows([prompts[k] for k, _, _ in batch],
                                              [s for _, _, s in batch], params)
            except RuntimeError as exc:  # out of memory: halve the batch and retry
                if "out of memory" not in str(exc).lower() or len(batch) == 1:
                    raise
                self.batch_size = max(1, len(batch) // 2)
                continue
            start += len(batch)
            by_request: dict[int, list[tuple[int, Completion]]] = {}
            for (k, idx, _), completion in zip(batch, outputs, strict=True):
                by_request.setdefault(k, []).append((idx, completion))
            for k, completions in by_request.items():
                yield GenerationResult(requests[k], prompts[k], completions)

    def _generate_rows(self, prompts: list[str], seeds: list[int], params: SamplingParams) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        eos_ids = set(self.stop_token_ids)
        config = neutral_generation_config(params, self.stop_token_ids, self.tokenizer.pad_token_id,
                                           self.tokenizer.bos_token_id)
        prompt_len = enc.attention_mask.sum(dim=1).tolist()
        sampler = SeededSampler(seeds, params, self.device, prompt_len, enc.input_ids.shape[1], self.on_tokens,
                                self.stop_token_ids)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**enc, generation_config=config,
                                      logits_processor=LogitsProcessorList([sampler]))
        elapsed = time.perf_counter() - t0
        new = out[:, enc.input_ids.shape[1]:].tolist()
        completions = []
        for prompt, tokens, plen in zip(prompts, new, prompt_len, strict=True):
            stop = next((i for i, t in enumerate(tokens) if t in eos_ids), None)
            kept = tokens[: stop + 1] if stop is not None else tokens
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            completions.append(Completion(completion_text(prompt, text), len(kept),
                                          "stop" if stop is not None else "length", int(plen),
                                          {"batch_seconds": round(elapsed, 3)}))
        return completions

    def close(self) -> None:
        del self.model
