"""Generation backends behind one interface, in one registry: name -> backend class, each declaring what it
can do (`RegisteredBackend`: server or local, dtype resolution, its options and flags). Adding a backend is
one module with its class plus `register_backend(ThatBackend)` (see docs/extending.md)."""

from __future__ import annotations

from typing import Any

from r1eval.backends.base import Backend, GenerationRequest, GenerationResult, RegisteredBackend
from r1eval.backends.openai import OpenAIBackend
from r1eval.backends.transformers import TransformersBackend
from r1eval.backends.vllm import VLLMBackend
from r1eval.errors import UsageError
from r1eval.models import ModelSpec

__all__ = ["Backend", "GenerationRequest", "GenerationResult", "RegisteredBackend", "REGISTRY", "backend_class",
           "backend_names", "make_backend", "register_backend", "resolve_backend"]

REGISTRY: dict[str, type[RegisteredBackend]] = {}


def register_backend(cls: type[RegisteredBackend]) -> type[RegisteredBackend]:
    """Add a backend class to the registry under its `name` (usable as a class decorator)."""
    REGISTRY[cls.name] = cls
    return cls


for _cls in (TransformersBackend, VLLMBackend, OpenAIBackend):
    register_backend(_cls)


def backend_names() -> list[str]:
    """What `--backend` accepts: `auto` and every registered backend."""
    return ["auto", *REGISTRY]


def _available(cls: type[RegisteredBackend]) -> bool:
    import importlib.util

    return cls.requires is None or importlib.util.find_spec(cls.requires) is not None


def default_backend_name() -> str:
    """`vllm` when vLLM is installed and a GPU is present, else `transformers`."""
    if not _available(VLLMBackend):
        return TransformersBackend.name
    import torch

    return VLLMBackend.name if torch.cuda.is_available() else TransformersBackend.name


def resolve_backend(name: str) -> str:
    """The backend that will run: `auto` resolved (recorded in config.json, part of the resume identity)."""
    if name != "auto" and name not in REGISTRY:
        raise UsageError(f"unknown backend '{name}'; choose one of {', '.join(backend_names())}")
    return default_backend_name() if name == "auto" else name


def backend_class(name: str) -> type[RegisteredBackend]:
    """The registered class of a backend name (`auto` resolved)."""
    return REGISTRY[resolve_backend(name)]


def make_backend(name: str, model: ModelSpec, options: dict[str, Any]) -> Backend:
    """Build the named backend; `options` are the backend flags by name (each backend takes its own)."""
    cls = backend_class(name)
    if not _available(cls):
        raise UsageError(f"the {cls.name} backend needs {cls.requires}: {cls.install_hint}")
    return cls(model, **cls.accepted(options))  # type: ignore[call-arg]
