"""OpenAI-compatible backend against a small HTTP server started here on 127.0.0.1.

The server speaks the two endpoints the backend uses (GET /v1/models, POST /v1/chat/completions),
answers from a script (429s, 500s, a context-length 400, reasoning split out like DeepSeek's API)
and logs every request, so the tests see what the real client sent: seeds, retries, concurrency.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from r1eval.backends.base import GenerationRequest
from r1eval.backends.openai import OpenAIBackend, fold_reasoning
from r1eval.errors import BackendError, ConfigError, UsageError
from r1eval.models import served_model
from r1eval.records import SamplingParams, sample_seed
from tests.test_cli_errors import assert_one_line_error

MODEL = "tiny-r1"


class ScriptedServer(ThreadingHTTPServer):
    """State shared by the handler threads: a failure script, a request log, in-flight counting."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.log: list[dict] = []
        self.failures: list[tuple[int, dict, dict]] = []  # (status, body, headers) served before successes
        self.in_flight = 0
        self.max_in_flight = 0
        self.delay = 0.0
        self.answer_for = lambda body: ("Let me add: 1+1=2.", "The answer is \\boxed{2}.", "stop")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})
        else:
            self._send(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            srv.log.append(body)
            failure = srv.failures.pop(0) if srv.failures else None
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if failure:
                self._send(*failure)
                return
            time.sleep(srv.delay)
            if body["model"] != MODEL:
                self._send(404, {"error": {"message": f"The model `{body['model']}` does not exist."}})
                return
            reasoning, content, finish = srv.answer_for(body)
            message = {"role": "assistant", "content": content, "reasoning_content": reasoning}
            self._send(200, {"id": "x", "object": "chat.completion", "created": 0, "model": MODEL,
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": {"prompt_tokens": 11, "completion_tokens": 17, "total_tokens": 28,
                                       "completion_tokens_details": {"reasoning_tokens": 9}}})
        finally:
            with srv.lock:
                srv.in_flight -= 1


@pytest.fixture
def server():
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def requests_for(n_problems: int, n: int, base_seed: int = 0) -> list[GenerationRequest]:
    return [GenerationRequest(f"p{i}", [{"role": "user", "content": f"What is {i}+{i}?"}], list(range(n)),
                              [sample_seed(base_seed, f"p{i}", j) for j in range(n)]) for i in range(n_problems)]


def generate_all(backend: OpenAIBackend, requests, params=SamplingParams(n=2, max_tokens=64)):
    return [(r.request.problem_id, idx, c) for r in backend.generate(requests, params) for idx, c in r.completions]


def test_fold_reasoning() -> None:
    assert fold_reasoning("\nthink hard\n", "\n\nAnswer 2", "stop") == "<think>\nthink hard\n</think>\n\nAnswer 2"
    assert fold_reasoning(None, "plain <think>x</think> 2", "stop") == "plain <think>x</think> 2"
    assert fold_reasoning(None, None, "length") == ""
    # cut off while thinking: the tag stays open, so the grader sees no final answer
    assert fold_reasoning("still thinking", None, "length") == "<think>\nstill thinking"
    assert fold_reasoning("done thinking", "", "stop") == "<think>\ndone thinking\n</think>\n\n"


def test_seeds_reasoning_and_usage(server: ScriptedServer) -> None:
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=3)
    try:
        reqs = requests_for(3, 2)
        got = generate_all(backend, reqs)
    finally:
        backend.close()
    assert sorted((p, i) for p, i, _ in got) == [(f"p{i}", j) for i in range(3) for j in range(2)]
    for _, _, c in got:
        assert c.text == "<think>\nLet me add: 1+1=2.\n</think>\n\nThe answer is \\boxed{2}."
        assert (c.completion_tokens, c.prompt_tokens, c.finish_reason) == (17, 11, "stop")
        assert c.extra["reasoning_tokens"] == 9
    sent = {(b["messages"][0]["content"], b["seed"]) for b in server.log}
    assert sent == {(r.messages[0]["content"], s) for r in reqs for s in r.seeds}
    assert all(b["temperature"] == 0.6 and b["top_p"] == 0.95 and b["max_tokens"] == 64 and b["n"] == 1
               for b in server.log)


def test_every_sampling_field_is_sent_explicitly(server: ScriptedServer) -> None:
    """vLLM's server fills any field a request leaves out from the model's generation_config.json, so the
    request body carries each one: the standard fields, and vLLM's top_k/min_p/repetition_penalty (sent as
    extra_body, which the client merges into the JSON body)."""
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url)
    try:
        generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=64))
    finally:
        backend.close()
    body = server.log[0]
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty", "presence_penalty",
                                 "frequency_penalty", "max_tokens", "n")} == {
        "temperature": 0.6, "top_p": 0.95, "top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0,
        "presence_penalty": 0.0, "frequency_penalty": 0.0, "max_tokens": 64, "n": 1}
    assert "chat_template_kwargs" not in body and [m["role"] for m in body["messages"]] == ["user"]


def test_system_prompt_and_chat_template_kwargs_reach_the_server(server: ScriptedServer) -> None:
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url)
    params = SamplingParams(n=1, max_tokens=8, top_k=20, system_prompt="Think in English.",
                            chat_template_kwargs={"enable_thinking": True})
    try:
        results = list(backend.generate(requests_for(1, 1), params))
    finally:
        backend.close()
    body = server.log[0]
    assert body["messages"][0] == {"role": "system", "content": "Think in English."}
    assert body["messages"][1]["role"] == "user"
    assert body["chat_template_kwargs"] == {"enable_thinking": True} and body["top_k"] == 20
    assert results[0].prompt == body["messages"]  # the sample records what was sent


def test_standard_params_only_sends_no_extra_fields(server: ScriptedServer) -> None:
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, standard_params_only=True)
    try:
        generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=8))
        with pytest.raises(UsageError, match="`standard_params_only` sends no `top_k`, `chat_template_kwargs`"):
            generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=8, top_k=20,
                                                                   chat_template_kwargs={"enable_thinking": True}))
    finally:
        backend.close()
    assert len(server.log) == 1
    assert not {"top_k", "min_p", "repetition_penalty", "chat_template_kwargs"} & set(server.log[0])
    assert server.log[0]["presence_penalty"] == 0.0 and server.log[0]["temperature"] == 0.6


def test_server_rejecting_an_extra_field_names_the_opt_out(server: ScriptedServer) -> None:
    # what api.openai.com answers to a body with top_k
    server.failures = [(400, {"error": {"message": "Unrecognized request argument supplied: top_k",
                                        "type": "invalid_request_error"}}, {})]
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url)
    try:
        with pytest.raises(BackendError, match="rejected a sampling field.*top_k.*`standard_params_only`"):
            generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=8))
    finally:
        backend.close()


def test_concurrency_limit_is_respected(server: ScriptedServer) -> None:
    server.delay = 0.05
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=2)
    try:
        assert len(generate_all(backend, requests_for(4, 2))) == 8
    finally:
        backend.close()
    assert server.max_in_flight == 2


def test_retries_429_and_5xx_then_succeeds(server: ScriptedServer) -> None:
    fast = {"retry-after-ms": "20"}
    server.failures = [(429, {"error": {"message": "rate limited"}}, fast),
                       (503, {"error": {"message": "overloaded"}}, fast),
                       (500, {"error": {"message": "boom"}}, fast)]
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=1)
    try:
        got = generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=8))
    finally:
        backend.close()
    assert len(got) == 1 and got[0][2].text.endswith("\\boxed{2}.")
    assert len(server.log) == 4  # three failures retried, then the success
    assert len({b["seed"] for b in server.log}) == 1  # a retry resends the same seed


def test_retries_exhausted_is_one_clear_error(server: ScriptedServer) -> None:
    server.failures = [(500, {"error": {"message": "engine crashed"}}, {"retry-after-ms": "10"})] * 3
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=1, max_retries=2)
    try:
        with pytest.raises(BackendError, match=r"problem p0 sample 0: .*HTTP 500.*engine crashed.*rerun to resume"):
            generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=8))
    finally:
        backend.close()
    assert len(server.log) == 3  # first try + 2 retries


def test_context_too_long_names_the_fix(server: ScriptedServer) -> None:
    msg = "This model's maximum context length is 2048 tokens. However, you requested 5000 tokens."
    server.failures = [(400, {"error": {"message": msg, "type": "BadRequestError"}}, {})]
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url)
    try:
        with pytest.raises(BackendError, match="exceed the served model's context.*lower `max_tokens`"):
            generate_all(backend, requests_for(1, 1), SamplingParams(n=1, max_tokens=5000))
    finally:
        backend.close()
    assert len(server.log) == 1  # a 400 is not retried


def test_wrong_model_and_server_down(server: ScriptedServer) -> None:
    with pytest.raises(BackendError, match=f"model 'nope' is not served at .*it serves: {MODEL}"):
        OpenAIBackend(served_model("nope", server.url), base_url=server.url)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    with pytest.raises(BackendError, match="cannot reach the server at .*start it or fix `base_url`"):
        OpenAIBackend(served_model(MODEL, dead), base_url=dead, max_retries=0)
    with pytest.raises(ConfigError, match="^base_url is needed"):
        OpenAIBackend(served_model(MODEL, None))
    with pytest.raises(UsageError, match="R1EVAL_NO_SUCH_KEY.*not set"):
        OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, api_key_env="R1EVAL_NO_SUCH_KEY")


def test_cli_run_resume_keeps_finished_samples(server: ScriptedServer, cli, tmp_path: Path) -> None:
    """`r1eval run --backend openai` end to end: a failure mid-run keeps what finished, exit 2 in one line,
    and the rerun asks only for the missing samples, with the same seeds."""
    out = tmp_path / "run"
    args = ["run", "--backend", "openai", "--base-url", server.url, "--model", MODEL, "--bench", "aime24",
            "--limit", "2", "-n", "3", "--max-tokens", "64", "--output", str(out), "--concurrency", "1", "--no-progress"]
    # problem 2's second request fails for good (400): earlier samples must survive
    server.answer_for = lambda body: ("r", "\\boxed{7}", "stop")
    original = Handler.do_POST
    calls = {"n": 0}

    def flaky(self) -> None:
        calls["n"] += 1
        if calls["n"] == 5:
            length = int(self.headers["Content-Length"])
            self.rfile.read(length)
            self._send(400, {"error": {"message": "bad request: malformed"}})
            return
        original(self)

    Handler.do_POST = flaky
    try:
        first = cli(*args)
    finally:
        Handler.do_POST = original
    assert_one_line_error(first, "HTTP 400: bad request: malformed;", "rerun to resume")
    kept = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    assert len(kept) == 4
    server.log.clear()
    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert len(server.log) == 2  # only the two missing samples were requested
    rows = [json.loads(ln) for ln in (out / "samples.jsonl").read_text().splitlines()]
    assert sorted((r["problem_id"], r["sample_index"]) for r in rows) == sorted(
        (p, i) for p in {r["problem_id"] for r in rows} for i in range(3))
    for r in rows:
        assert r["seed"] == sample_seed(0, r["problem_id"], r["sample_index"])
        assert r["completion"] == "<think>\nr\n</think>\n\n\\boxed{7}"
        assert r["prompt"][0]["role"] == "user"  # the server renders the template: the messages are the prompt
    config = json.loads((out / "config.json").read_text())
    assert config["model_source"] == "served" and config["model_path"] == server.url
    assert config["backend_options"]["base_url"] == server.url
    assert config["backend"] == "openai" and config["dtype"] is None and config["server_defaults"] == []
    assert config["effective_sampling"]["extra_body"] == {"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0}
    # --standard-params-only changes what the server decides: a different run, refused in one line
    assert_one_line_error(cli(*args, "--standard-params-only"), "different server_defaults")
