"""Transformers backend: batched `generate` on CPU or GPU with a seed per (problem, sample).

Sampling is done by `SeededSampler`, a logits processor that applies temperature and top-p and
draws each row's token from that row's own `torch.Generator`; `generate` then runs greedy over the
one-hot result. A sample's tokens therefore depend only on its seed and the model, not on which
other rows share its batch, so reruns and resumed runs are reproducible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

from r1eval.backends.base import (
    GenerationRequest,
    GenerationResult,
    completion_text,
    render_prompt,
)
from r1eval.errors import UsageError
from r1eval.models import ModelSpec, hf_model_dir, load_tokenizer
from r1eval.records import Completion, SamplingParams

MAX_BATCH_ROWS = 64


class SeededSampler:
    """Logits processor: temperature + top-p, then one draw per row from that row's generator."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: Any) -> None:
        import torch

        self.temperature, self.top_p = temperature, top_p
        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        scores = scores.float()
        if self.temperature == 0:
            chosen = scores.argmax(dim=-1)
        else:
            logits = scores / self.temperature
            if self.top_p < 1.0:
                sorted_logits, sorted_idx = torch.sort(logits, descending=False, dim=-1)
                cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
                remove = cum <= (1 - self.top_p)
                remove[..., -1] = False  # always keep the most likely token
                logits = logits.masked_fill(remove.scatter(1, sorted_idx, remove), float("-inf"))
            probs = logits.softmax(dim=-1)
            chosen = torch.stack([torch.multinomial(probs[i], 1, generator=g)[0]
                                  for i, g in enumerate(self.generators)])
        out = torch.full_like(scores, float("-inf"))
        out.scatter_(1, chosen.unsqueeze(1), 0.0)
        return out


class TransformersBackend:
    """Hugging Face transformers generation, left-padded batches of whole problems' samples."""

    name = "transformers"

    def __init__(self, model: ModelSpec, batch_size: int | None = None, dtype: str = "auto",
                 device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.spec = model
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = {"auto": torch.bfloat16 if self.device.startswith("cuda") else torch.float32,
                       "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        dtype_name = str(torch_dtype).removeprefix("torch.")
        # a GGUF is dequantised once into a cached HF directory (same weights, ~10x faster to load next time)
        path = hf_model_dir(model, dtype_name) if model.source == "gguf" else model.path
        try:
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype).to(self.device).eval()
        except OSError as exc:
            raise UsageError(f"could not load model {model.name}: {str(exc).splitlines()[0]}") from None
        self.tokenizer = load_tokenizer(model, path)
        self.batch_size = batch_size
        self.dtype = str(torch_dtype).removeprefix("torch.")

    def describe(self) -> dict[str, Any]:
        import torch
        import transformers

        return {"backend": self.name, "transformers": transformers.__version__, "torch": torch.__version__,
                "device": self.device, "dtype": self.dtype, "batch_size": self.batch_size or "auto"}

    def render(self, messages: list[dict[str, str]], force_think: bool) -> str:
        return render_prompt(self.tokenizer, messages, force_think)

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

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        # keyed by request position: several requests may share a problem_id (per-sample prompts)
        prompts = [self.render(r.messages, params.force_think) for r in requests]
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
        from transformers import GenerationConfig, LogitsProcessorList

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos if eos is not None else self.tokenizer.eos_token_id])
        config = GenerationConfig(max_new_tokens=params.max_tokens, do_sample=False, num_beams=1,
                                  eos_token_id=sorted(eos_ids), pad_token_id=self.tokenizer.pad_token_id)
        sampler = SeededSampler(seeds, params.temperature, params.top_p, self.device)
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(**enc, generation_config=config,
                                      logits_processor=LogitsProcessorList([sampler]))
        elapsed = time.perf_counter() - t0
        new = out[:, enc.input_ids.shape[1]:].tolist()
        prompt_len = enc.attention_mask.sum(dim=1).tolist()
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
