"""OpenAI-compatible backend: chat completions against a server (`vllm serve`, SGLang, the DeepSeek API).

One request per sample, `seed` = the sample's seed, at most `concurrency` in flight. Every sampling field
is sent explicitly (`effective_sampling`): `vllm serve` fills any field a request leaves out from the
model's generation_config.json, so leaving out "neutral" ones would let the model's defaults in. Retries with
exponential backoff and jitter on connection errors, 408/409/429 and 5xx (honouring `Retry-After`)
and the per-request timeout are the `openai` client's own (`max_retries`, `timeout`). Samples are
handed back as they finish, so a killed run resumes exactly like a local one. The server renders the
chat template, so a sample's `prompt` is the message list that was sent.

Reasoning servers return the thinking separately (`reasoning_content` on the DeepSeek API and older
vLLM, `reasoning` on newer vLLM); `fold_reasoning` puts it back as `<think>...</think>answer` so the
graders see the same text a local backend produces.

A reply the client cannot use (truncated or invalid JSON, an HTML page from a proxy, a choice without a
`message`, bytes that are not UTF-8) is a transient fault like a 5xx: the request is retried with the same
backoff, and after `max_retries` the run stops with one line quoting the server's last reply. The reply
body is parsed here (`parse_reply`), not by the client's models, so every such case is caught in one place.
A reply without `usage` gives `completion_tokens` None (counted as missing, never as 0); `finish_reason`
is recorded as the server gave it (`content_filter` included).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any

from r1eval.backends.base import (
    GenerationRequest,
    GenerationResult,
    RegisteredBackend,
    as_finished_batches,
    group_by_request,
    iterate_async,
    prompt_messages,
)
from r1eval.errors import BackendError, ConfigError, UsageError
from r1eval.models import ModelSpec
from r1eval.records import Completion, SamplingParams

DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


def fold_reasoning(reasoning: str | None, content: str | None, finish_reason: str | None) -> str:
    """One completion text from a reply split into reasoning and answer.

    `<think>` is closed only when the server says the reasoning ended (there is answer content, or the
    reply stopped normally); reasoning cut off by max_tokens stays open, as it would in raw output, so
    the graders treat it as unfinished."""
    if not reasoning:
        return content or ""
    text = "<think>\n" + reasoning.strip("\n")
    if content or finish_reason != "length":
        text += "\n</think>\n\n" + (content or "").lstrip("\n")
    return text


INITIAL_RETRY_DELAY, MAX_RETRY_DELAY = 0.5, 8.0  # the openai client's own backoff for 5xx and 429


class MalformedReply(Exception):
    """A 2xx reply whose body is not a usable chat completion; `args[0]` describes the reply."""


def describe_reply(status: int, content_type: str, body: bytes, problem: str) -> str:
    """The server's reply in a few words for an error line: status, content type, what is wrong, its start."""
    start = " ".join(body[:120].decode("utf-8", errors="replace").split())
    return f"HTTP {status} {content_type or 'no content type'}, {problem}: {start!r}"


def parse_reply(status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The first choice of a chat-completion body: {text, finish_reason, completion_tokens, prompt_tokens,
    model, reasoning_tokens}; MalformedReply describing the body when it is not one."""
    def bad(problem: str) -> MalformedReply:
        return MalformedReply(describe_reply(status, content_type, body, problem))

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise bad("no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise bad("a choice without a message")
    content = message.get("content")
    reasoning = next((message[k] for k in ("reasoning_content", "reasoning")
                      if isinstance(message.get(k), str) and message[k]), None)
    if content is not None and not isinstance(content, str):
        raise bad("a message whose content is not text")
    finish = choices[0].get("finish_reason")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
    tokens = usage.get("completion_tokens") if usage else None
    details = usage.get("completion_tokens_details") if usage else None
    return {"text": fold_reasoning(reasoning, content, finish),
            "finish_reason": finish if isinstance(finish, str) and finish else "unknown",
            "completion_tokens": tokens if isinstance(tokens, int) else None,
            "prompt_tokens": usage.get("prompt_tokens") if usage else None,
            "model": data.get("model"),
            "reasoning_tokens": details.get("reasoning_tokens") if isinstance(details, dict) else None}


class OpenAIBackend(RegisteredBackend):
    """Async chat-completions client with a concurrency limit, retries and a per-request timeout."""

    name = "openai"
    is_server = True
    option_names = ("base_url", "api_key_env", "concurrency", "request_timeout", "max_retries", "standard_params_only")

    @classmethod
    def add_cli_options(cls, parser: Any) -> None:
        from r1eval.cli_args import positive_int

        g = parser.add_argument_group("openai backend (--model is the served model name)")
        g.add_argument("--base-url", help="server URL, e.g. http://127.0.0.1:8000/v1")
        g.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
        g.add_argument("--concurrency", type=positive_int, help="requests in flight (default 64)")
        g.add_argument("--request-timeout", type=float, help="seconds per request before retrying (default 3600)")
        g.add_argument("--max-retries", type=int,
                       help="retries of a failed or malformed reply, with backoff (default 6)")
        g.add_argument("--standard-params-only", action="store_true", default=None,
                       help="send only OpenAI-standard sampling fields, for servers that reject top_k/min_p/"
                            "repetition_penalty (the server's defaults then decide those)")

    @classmethod
    def server_defaults(cls, options: dict[str, Any]) -> list[str]:
        return ["top_k", "min_p", "repetition_penalty"] if options.get("standard_params_only") else []

    def __init__(self, model: ModelSpec, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 64, request_timeout: float = 3600.0, max_retries: int = 6,
                 standard_params_only: bool = False) -> None:
        from openai import AsyncOpenAI

        if not base_url:
            raise ConfigError("base_url", "is needed by the openai backend (e.g. http://127.0.0.1:8000/v1)")
        if api_key_env:
            api_key = os.environ.get(api_key_env)
            if not api_key:
                raise ConfigError("api_key_env", f"{api_key_env}: that environment variable is not set")
        else:  # local servers usually need no key
            api_key = os.environ.get(DEFAULT_API_KEY_ENV) or "EMPTY"
        self.spec, self.base_url = model, base_url.rstrip("/")
        self.options = {"base_url": self.base_url, "api_key_env": api_key_env or DEFAULT_API_KEY_ENV,
                        "concurrency": concurrency, "request_timeout": request_timeout, "max_retries": max_retries,
                        "standard_params_only": standard_params_only}
        self._loop = asyncio.new_event_loop()
        self.client = AsyncOpenAI(base_url=self.base_url, api_key=api_key, timeout=request_timeout,
                                  max_retries=max_retries)
        try:
            self.served = self._loop.run_until_complete(self._check_model())
        except BaseException:
            self.close()
            raise

    async def _check_model(self) -> list[str]:
        """Fail early, in one line, when the server is down or does not serve the model."""
        import openai

        try:
            served = [m.id async for m in self.client.models.list()]
        except openai.NotFoundError:  # some servers have no /models; the first request will tell
            return []
        except openai.APIError as exc:
            raise self._error(exc) from None
        except Exception as exc:  # a reply the client could not parse (an HTML page from a proxy...)
            raise BackendError(f"the server at {self.base_url} answered GET /models with something that is not "
                               f"a model list ({type(exc).__name__}: {' '.join(str(exc).split())[:160]}); "
                               "check `base_url` (it usually ends in /v1)") from None
        if self.spec.name not in served:
            raise BackendError(f"model '{self.spec.name}' is not served at {self.base_url}; "
                               f"it serves: {', '.join(served) or 'nothing'} (fix `model`)")
        return served

    def _error(self, exc: Exception, where: str = "") -> BackendError:
        """A one-line, actionable message for an API failure (after the client's retries)."""
        import openai

        kept = "; finished samples are saved, rerun to resume" if where else ""
        body = getattr(exc, "body", None)
        message = (body.get("message") if isinstance(body, dict) else None) or getattr(exc, "message", None) or str(exc)
        message = " ".join(str(message).split())[:300]
        if isinstance(exc, openai.APITimeoutError):
            return BackendError(f"{where}request to {self.base_url} timed out after "
                                f"{self.options['request_timeout']:g}s; raise `request_timeout`{kept}")
        if isinstance(exc, openai.APIConnectionError):
            return BackendError(f"{where}cannot reach the server at {self.base_url} ({message}); "
                                f"start it or fix `base_url`{kept}")
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return BackendError(f"{where}the server at {self.base_url} rejected the API key from "
                                f"${self.options['api_key_env']} ({message}); pass `api_key_env` NAME{kept}")
        if isinstance(exc, openai.NotFoundError):
            return BackendError(f"{where}model '{self.spec.name}' not found at {self.base_url} ({message}); "
                                f"fix `model` or `base_url`{kept}")
        if isinstance(exc, openai.BadRequestError) and not self.options["standard_params_only"] and any(
                f in message for f in ("top_k", "min_p", "repetition_penalty", "chat_template_kwargs")):
            return BackendError(f"{where}the server at {self.base_url} rejected a sampling field r1eval sends "
                                f"({message}); rerun with `standard_params_only` to send only OpenAI-standard "
                                f"fields (the server's defaults then decide the others){kept}")
        if isinstance(exc, openai.BadRequestError) and ("context" in message.lower() or "token" in message.lower()):
            return BackendError(f"{where}prompt + `max_tokens` exceed the served model's context ({message}); "
                                f"lower `max_tokens`{kept}")
        status = getattr(exc, "status_code", None)
        return BackendError(f"{where}the server at {self.base_url} answered "
                            f"{f'HTTP {status}: ' if status else ''}{message}{kept}")

    def describe(self) -> dict[str, Any]:
        import openai

        return {"backend": self.name, "openai": openai.__version__, "served_models": self.served,
                **self.options, "requests": "one chat completion per sample, seed = sample seed"}

    def effective_sampling(self, params: SamplingParams) -> dict[str, Any]:
        """The sampling fields of every request body (plus its `seed`): the OpenAI-standard ones, and vLLM's
        `top_k`, `min_p`, `repetition_penalty` (and `chat_template_kwargs`) in `extra_body`, so a vLLM server
        can't fill them from the model's generation_config.json. With `standard_params_only` (servers that
        reject unknown fields) the extra fields are not sent and the server's defaults decide them."""
        body: dict[str, Any] = {"temperature": params.temperature, "top_p": params.top_p,
                                "presence_penalty": params.presence_penalty,
                                "frequency_penalty": params.frequency_penalty, "max_tokens": params.max_tokens}
        extra = {"top_k": params.top_k if params.top_k > 0 else -1,  # -1: off on every vLLM and SGLang version
                 "min_p": params.min_p, "repetition_penalty": params.repetition_penalty}
        if params.chat_template_kwargs:
            extra["chat_template_kwargs"] = params.chat_template_kwargs
        if self.options["standard_params_only"]:
            return body
        return {**body, "extra_body": extra}

    def generate(self, requests: Iterable[GenerationRequest], params: SamplingParams) -> Iterator[GenerationResult]:
        if params.force_think:
            raise UsageError("`force_think` needs the prompt text, but with `backend` openai the server renders "
                             "the chat template; drop `force_think` or use `backend` vllm")
        if self.options["standard_params_only"]:
            unsent = [flag for flag, neutral in (("`top_k`", params.top_k == 0), ("`min_p`", params.min_p == 0.0),
                                                 ("`repetition_penalty`", params.repetition_penalty == 1.0),
                                                 ("`chat_template_kwargs`", not params.chat_template_kwargs))
                      if not neutral]
            if unsent:
                raise UsageError(f"`standard_params_only` sends no {', '.join(unsent)}; drop those flags or "
                                 "`standard_params_only`")
        for batch in iterate_async(self._loop, self._generate(requests, params)):
            yield from group_by_request(batch)

    async def _generate(self, requests: Iterable[GenerationRequest], params: SamplingParams
                        ) -> AsyncIterator[list[Any]]:
        jobs = (self._sample(r, i, s, params) for r in requests
                for i, s in zip(r.sample_indices, r.seeds, strict=True))
        async for batch in as_finished_batches(jobs, window=int(self.options["concurrency"])):
            yield batch

    async def _sample(self, request: GenerationRequest, index: int, seed: int, params: SamplingParams
                      ) -> tuple[GenerationRequest, Any, int, Completion]:
        import openai

        where = f"problem {request.problem_id} sample {index}: "
        messages = prompt_messages(request.messages, params.system_prompt)
        retries = int(self.options["max_retries"])
        for attempt in range(retries + 1):
            try:
                raw = await self.client.chat.completions.with_raw_response.create(
                    model=self.spec.name, messages=messages, n=1, seed=seed, **self.effective_sampling(params))
            except openai.APIError as exc:
                raise self._error(exc, where) from None
            response = raw.http_response
            try:
                reply = parse_reply(response.status_code, response.headers.get("content-type", ""),
                                    response.content)
                break
            except MalformedReply as exc:
                last = exc.args[0]
            if attempt < retries:  # transient, like a 5xx: the client's backoff with jitter
                delay = min(INITIAL_RETRY_DELAY * 2 ** attempt, MAX_RETRY_DELAY)
                await asyncio.sleep(delay * (1 - 0.25 * random.random()))
        else:
            raise BackendError(f"{where}the server at {self.base_url} sent {retries + 1} unusable "
                               f"replies (last: {last}); check the server or a proxy in between; "
                               "finished samples are saved, rerun to resume")
        extra: dict[str, Any] = {"model": reply["model"]}
        if reply["reasoning_tokens"]:
            extra["reasoning_tokens"] = reply["reasoning_tokens"]
        if reply["completion_tokens"] is None:
            extra["usage"] = "not reported by the server"
        completion = Completion(reply["text"], reply["completion_tokens"], reply["finish_reason"],
                                reply["prompt_tokens"], extra)
        return request, messages, index, completion

    def close(self) -> None:
        if not self._loop.is_closed():
            pending = asyncio.all_tasks(self._loop)  # whatever an interruption left: cancel, then close
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(self.client.close())
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
