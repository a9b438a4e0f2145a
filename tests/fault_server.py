"""A loopback OpenAI-compatible server that misbehaves on cue, for the fault-injection tests.

`FaultServer.script` holds replies served (one per chat request, in order) before the normal answers:
malformed bodies (truncated or invalid JSON, an HTML page, a choice without a message, non-UTF-8 bytes),
HTTP errors, or a connection cut mid-body. Normal answers can leave out `usage`, carry any
`finish_reason`, and be delayed. Every request body is logged, with the time the first one arrived."""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "fault-model"


@dataclass
class Reply:
    """One scripted HTTP reply."""

    status: int
    body: bytes
    content_type: str = "application/json"
    cut: bool = False  # announce a longer body than is sent, then close the connection


def json_reply(obj: object, status: int = 200) -> Reply:
    return Reply(status, json.dumps(obj).encode())


def completion(content: str = "The answer is \\boxed{7}.", finish: str = "stop", usage: bool = True) -> dict:
    body: dict = {"id": "x", "object": "chat.completion", "created": 0, "model": MODEL,
                  "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                               "finish_reason": finish}]}
    if usage:
        body["usage"] = {"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21}
    return body


GOOD = json.dumps(completion()).encode()
MALFORMED = {
    "truncated JSON": Reply(200, GOOD[: len(GOOD) // 2]),
    "invalid JSON": Reply(200, b"{'choices': nope}"),
    "HTML page": Reply(200, b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", "text/html"),
    "choice without message": json_reply({"id": "x", "model": MODEL, "choices": [{"index": 0,
                                                                                  "finish_reason": "stop"}]}),
    "non-UTF-8 bytes": Reply(200, GOOD.replace(b"answer", b"answ\xff\xfer")),
    "no choices": json_reply({"id": "x", "model": MODEL, "choices": []}),
    "body cut mid-way": Reply(200, GOOD[:40], cut=True),
}


class FaultServer(ThreadingHTTPServer):
    """State shared by the handler threads."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.script: list[Reply] = []
        self.log: list[dict] = []
        self.first_request_at: float | None = None
        self.delay = 0.0
        self.usage = True
        self.finish = "stop"
        self.content = "The answer is \\boxed{7}."
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that hung up (a run interrupted mid-request) is expected here: no noise."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: FaultServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body) * (2 if reply.cut else 1)))
        if reply.cut:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.cut:
            self.close_connection = True

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(json_reply({"object": "list", "data": [{"id": MODEL, "object": "model"}]}))
        else:
            self._send(json_reply({"error": {"message": "not found"}}, 404))

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        srv = self.server
        with srv.lock:
            srv.log.append(body)
            if srv.first_request_at is None:
                srv.first_request_at = time.time()
            scripted = srv.script.pop(0) if srv.script else None
        if scripted is not None:
            self._send(scripted)
            return
        time.sleep(srv.delay)
        self._send(json_reply(completion(srv.content, srv.finish, srv.usage)))
