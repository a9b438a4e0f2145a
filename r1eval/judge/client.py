"""A judge is any r1eval backend asked one question per verdict: `JudgeSpec` says which, `Judge` asks.

The judge's sampling is explicit (temperature 0 unless set, top-p 1, every filter off, a seed derived
from the prompt) and recorded like the policy's; its identity (model, backend, sampling, template hash)
is part of a run's resume identity. Requests go through the backend's own machinery: the openai backend's
bounded concurrency and retries with backoff on connection errors, 408/409/429 and 5xx.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from r1eval.backends import REGISTRY
from r1eval.errors import BackendError, ConfigError, UsageError
from r1eval.judge.templates import JudgeTemplate, parse_verdict
from r1eval.records import SamplingParams, sample_seed

JUDGE_BACKENDS = tuple(REGISTRY)
_JUDGE_FIELDS = {"base_url": "judge_base_url", "api_key_env": "judge_api_key_env", "model": "judge",
                 "max_tokens": "judge_max_tokens", "request_timeout": "judge_request_timeout"}


@dataclass
class JudgeSpec:
    """Which model judges, through which backend, with which sampling and template."""

    model: str
    backend: str = "openai"
    base_url: str | None = None
    api_key_env: str | None = None
    max_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    concurrency: int = 16
    max_retries: int | None = None  # openai backend: the client's retries (default: the backend's)
    request_timeout: float | None = None
    template: JudgeTemplate | None = field(default=None)

    def validate(self) -> None:
        if self.backend not in JUDGE_BACKENDS:
            raise UsageError(f"`judge_backend` {self.backend}: choose one of {', '.join(JUDGE_BACKENDS)}")
        if REGISTRY[self.backend].is_server and not self.base_url:
            raise UsageError(f"`judge` {self.model} with `judge_backend` {self.backend} needs `judge_base_url` URL "
                             "(or `judge_backend` transformers|vllm for a local judge model)")
        try:
            self.params().validate()
        except ConfigError as exc:
            raise ConfigError(f"judge_{exc.field}", exc.message) from None
        if not REGISTRY[self.backend].is_server:
            self.local_model()  # a missing model path fails now, before any generation

    def local_model(self) -> Any:
        """The ModelSpec of a local judge (`embedded`: the embedded SmolLM2-135M)."""
        from r1eval.models import resolve_model

        try:
            return resolve_model(None if self.model == "embedded" else self.model)
        except UsageError as exc:
            raise UsageError(f"`judge`: {exc}") from None

    def params(self) -> SamplingParams:
        return SamplingParams(n=1, temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                              seed=self.seed)

    def sampling(self) -> dict[str, Any]:
        """The judge's sampling fields as config.json records them."""
        return {k: v for k, v in asdict(self.params()).items()
                if k not in ("n", "force_think", "system_prompt", "chat_template_kwargs")}

    def identity(self) -> dict[str, Any]:
        """What decides a verdict: part of the run's resume identity (the server URL is not)."""
        assert self.template is not None
        return {"model": self.model, "backend": self.backend, "sampling": self.sampling(),
                "template": self.template.name, "template_sha256": self.template.sha256}

    def options(self) -> dict[str, Any]:
        """How the judge is reached (recorded, not part of the identity)."""
        return {"base_url": self.base_url, "api_key_env": self.api_key_env, "concurrency": self.concurrency,
                "max_retries": self.max_retries, "request_timeout": self.request_timeout}

    def label(self) -> str:
        return f"judge {self.model}" + (f" at {self.base_url}" if self.base_url else f" ({self.backend})")


def prompt_key(identity: dict[str, Any], prompt: str) -> str:
    """Cache key of one judge question: the judge's identity and the exact prompt."""
    payload = repr(sorted(identity.items())) + "\x00" + prompt
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _judge_message(exc: Exception) -> str:
    """A backend's one-line error with the policy's setting names turned into the judge's (`max_tokens` ->
    `judge_max_tokens`)."""
    text = re.sub(r"problem [0-9a-f]{64} sample \d+: ", "", str(exc))  # our prompt keys mean nothing to a user
    return re.sub(r"`(base_url|api_key_env|model|max_tokens|request_timeout)`", lambda m: f"`{_JUDGE_FIELDS[m[1]]}`",
                  text)


class JudgeDown(BackendError):
    """The judge stayed down after the backend's retries; `missing` holds the keys that got no reply."""

    def __init__(self, message: str, missing: set[str]) -> None:
        super().__init__(message)
        self.missing = missing

    def lacking(self, count: int, what: str = "samples") -> BackendError:
        """The one line for the user: the judge, why, and how many `what` lack a verdict."""
        return BackendError(f"{self.args[0]}; {count} {what} lack a judge verdict (every finished verdict is "
                            "kept; rerun the same command to ask the judge only for those)")


@dataclass
class JudgeReply:
    """One answer of the judge: the grade (None when unparseable), why not, and the raw reply."""

    verdict: str | None
    error: str | None
    reply: str

    def record(self, template: JudgeTemplate) -> dict[str, Any]:
        return {"verdict": self.verdict, "error": self.error, "reply": self.reply, "template": template.name,
                "template_sha256": template.sha256}


class Judge:
    """A started judge backend. Construction checks the judge is reachable (one line, exit 2, if not)."""

    def __init__(self, spec: JudgeSpec) -> None:
        from r1eval.backends import make_backend
        from r1eval.models import served_model

        spec.validate()
        self.spec = spec
        if REGISTRY[spec.backend].is_server:
            model = served_model(spec.model, spec.base_url)
            options = {"base_url": spec.base_url, "api_key_env": spec.api_key_env, "concurrency": spec.concurrency,
                       "max_retries": spec.max_retries, "request_timeout": spec.request_timeout}
        else:
            model = spec.local_model()
            options = {"batch_size": spec.concurrency}
        try:
            self.backend = make_backend(spec.backend, model, {k: v for k, v in options.items() if v is not None})
        except UsageError as exc:
            raise UsageError(f"{spec.label()} is not usable: {_judge_message(exc)}") from None

    def describe(self) -> dict[str, Any]:
        return self.backend.describe()

    def effective_sampling(self) -> dict[str, Any]:
        return self.backend.effective_sampling(self.spec.params())

    def ask(self, prompts: dict[str, str]) -> Iterator[tuple[str, JudgeReply]]:
        """Ask every prompt (by key) once, concurrently as the backend allows; yield (key, reply) as they
        finish. A judge that stays down after the backend's retries raises JudgeDown naming it and the
        prompts that got no reply (the replies yielded before are the caller's to keep)."""
        from r1eval.backends import GenerationRequest

        params = self.spec.params()
        requests = [GenerationRequest(key, [{"role": "user", "content": prompt}], [0],
                                      [sample_seed(self.spec.seed, key, 0)]) for key, prompt in prompts.items()]
        answered: set[str] = set()
        try:
            for result in self.backend.generate(requests, params):
                for _, completion in result.completions:
                    verdict, error = parse_verdict(completion.text)
                    if completion.finish_reason == "length" and verdict is None:
                        error = f"{error}; the reply was cut at --judge-max-tokens {self.spec.max_tokens}"
                    answered.add(result.request.problem_id)
                    yield result.request.problem_id, JudgeReply(verdict, error, completion.text)
        except BackendError as exc:
            raise JudgeDown(f"{self.spec.label()} failed: {_judge_message(exc).split('; finished')[0]}",
                            set(prompts) - answered) from None

    def close(self) -> None:
        self.backend.close()
