"""The generation Backend interface, its request/result types, and the one way prompts are rendered.

Where a model comes from (ModelSpec, resolution, tokenizer, cache) lives in `r1eval.models`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

from r1eval.reasoning import THINK_PREFIX, opens_reasoning
from r1eval.records import Completion, Messages, SamplingParams

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


class RegisteredBackend:
    """What the backend registry (`r1eval.backends.REGISTRY`) asks of a backend class: its capabilities,
    with the defaults of a local engine. A backend subclasses this and registers itself there."""

    name: ClassVar[str]
    is_server: ClassVar[bool] = False  # the model runs behind a server: no local weights, tokenizer or dtype
    option_names: ClassVar[tuple[str, ...]] = ()  # the backend options (CLI dest names) its constructor takes
    requires: ClassVar[str | None] = None  # a module that must be importable to use it
    install_hint: ClassVar[str] = ""  # how to get `requires`

    @classmethod
    def resolve_dtype(cls, model: Any, requested: str = "auto", on_gpu: bool | None = None) -> str | None:
        """The dtype the weights run in, decided before any engine starts (part of the resume identity);
        None where the backend does not decide it (a server)."""
        return None if cls.is_server or requested == "auto" else requested

    @classmethod
    def add_cli_options(cls, parser: Any) -> None:
        """Add this backend's own flags (an argument group) to `r1eval run`'s parser."""

    @classmethod
    def server_defaults(cls, options: dict[str, Any]) -> list[str]:
        """Sampling fields whose values the server decides, not r1eval (recorded in config.json)."""
        return []

    @classmethod
    def accepted(cls, options: dict[str, Any]) -> dict[str, Any]:
        """The options this backend takes, those set (unset ones are left to its defaults)."""
        return {k: options[k] for k in cls.option_names if options.get(k) is not None}


class Backend(Protocol):
    """A generation engine. `generate` yields results as they finish so they can be saved at once."""

    name: str

    def generate(self, requests: Sequence[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        """Yield finished samples for the requests, in any order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Provenance for config.json: engine versions, device, dtype, options."""
        ...

    def effective_sampling(self, params: SamplingParams) -> dict[str, Any]:
        """Every sampling field exactly as this backend hands it to its engine (config.json records it)."""
        ...

    def close(self) -> None:
        """Free the engine (GPU memory, server connections)."""
        ...


def prompt_messages(messages: Messages, system_prompt: str | None) -> Messages:
    """The chat turns sent to the model: `--system-prompt` as a first system turn when given (replacing
    none of the bench's turns), else the bench's messages as they are."""
    return [{"role": "system", "content": system_prompt}, *messages] if system_prompt is not None else messages


def render_prompt(tokenizer: Any, messages: Messages, force_think: bool, system_prompt: str | None = None,
                  chat_template_kwargs: dict[str, Any] | None = None) -> str:
    """The exact prompt text: the model's chat template (with `chat_template_kwargs` as extra template
    variables, e.g. `enable_thinking`) over `prompt_messages`, with the generation prompt, plus `<think>\\n`
    when forced. Every local backend uses this, so the same problem gets the same text everywhere."""
    messages = prompt_messages(messages, system_prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True,
                                             **(chat_template_kwargs or {}))
    else:  # base models without a template: plain concatenation of the turns
        text = "\n\n".join(m["content"] for m in messages) + "\n\n"
    if force_think and not opens_reasoning(text):
        text += THINK_PREFIX
    return text


def completion_text(prompt: str, generated: str) -> str:
    """The completion as graded: a forced `<think>` opening counts as part of the reply."""
    if opens_reasoning(prompt):
        return THINK_PREFIX + generated
    return generated


async def as_finished_batches(coroutines: Iterable[Awaitable[T]], window: int | None = None
                              ) -> AsyncIterator[list[T]]:
    """Run the coroutines concurrently and yield the results that finished together, as they finish.

    At most `window` run at once (None: all): the iterable is consumed lazily, so a plan of a million
    samples starts at once and holds only the window in memory. A failure is raised after the results
    that finished alongside it have been yielded; closing the iterator early (or a failure, or a
    cancellation) cancels everything still running."""
    source = iter(coroutines)
    pending: set[asyncio.Future[T]] = set()

    def refill() -> None:
        while window is None or len(pending) < window:
            try:
                pending.add(asyncio.ensure_future(next(source)))
            except StopIteration:
                return

    try:
        refill()
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            finished = [t for t in done if not t.cancelled() and t.exception() is None]
            failed = [t for t in done if t not in finished]
            if not failed:
                refill()
            if finished:
                yield [t.result() for t in finished]
            if failed:
                failed[0].result()  # re-raise (CancelledError or the task's exception)
    finally:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        close = getattr(source, "close", None)  # a generator of coroutines: nothing unstarted is left behind
        if close is not None:
            close()


def iterate_async(loop: asyncio.AbstractEventLoop, agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator on `loop` from synchronous code (the Backend protocol is synchronous).

    While the loop runs, Ctrl-C and SIGTERM cancel the step in progress, so the iterator cleans up (cancels
    its requests) inside the loop; then the signal is delivered again to its own handler outside the loop
    (KeyboardInterrupt, or whatever the program installed for SIGTERM). Nothing is left running and no
    `aclose(): asynchronous generator is already running` error hides the interruption."""

    async def step() -> T:
        return await agen.__anext__()

    try:
        while True:
            task = loop.create_task(step())
            caught: list[int] = []
            with _signals_cancel(loop, task, caught):
                try:
                    result = loop.run_until_complete(task)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if not caught:
                        raise
            if caught:  # our handlers are restored: deliver the signal to them
                signal.raise_signal(caught[0])
                raise KeyboardInterrupt  # a handler that does not raise (ignored signal): stop anyway
            yield result
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError, StopAsyncIteration, asyncio.CancelledError):
                loop.run_until_complete(aclose())


@contextlib.contextmanager
def _signals_cancel(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any], caught: list[int]) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM cancel `task` and are recorded in `caught` (main thread only;
    elsewhere signals are not ours to handle)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int) -> None:
        caught.append(signum)
        task.cancel()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


def group_by_request(finished: Iterable[tuple[GenerationRequest, str | Messages, int, Completion]]
                     ) -> list[GenerationResult]:
    """Group (request, prompt, sample_index, completion) tuples into one GenerationResult per request."""
    results: dict[int, GenerationResult] = {}  # by request identity: requests may share a problem_id
    for request, prompt, index, completion in finished:
        result = results.setdefault(id(request), GenerationResult(request, prompt, []))
        result.completions.append((index, completion))
    return list(results.values())
