"""A loopback OpenAI-compatible server that answers as fast as it can with realistic long R1-style replies.

Deterministic: a reply depends only on the request's seed and prompt (the same sample gets the same reply
whatever the order, the concurrency or the shard), so two runs of the same command are comparable sample
by sample. Each reply is a reasoning part (`reasoning_content`, as vLLM's reasoning parser and the DeepSeek
API return it) of a length drawn from a long-tailed distribution (median `median_tokens`, about 4 characters
per token, cut at the request's max_tokens with finish_reason "length") and, when not cut, an answer
`\\boxed{...}`: the gold with probability `correct_rate` (`golds` maps a prompt's text to its gold), else one
of a few wrong answers, so majority voting has several classes to form. A small share of replies mixes in
CJK words. The reply text is assembled from pre-encoded pieces, so serving costs little CPU.

Used by tests (in a thread: `LoopbackServer(...).start()`) and by benchmarks/scale.py (as a process:
`python benchmarks/loopback.py --bench math500 --port 0` prints the URL).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4
_SENTENCES = [
    "Let me think about this carefully.", "First, I'll restate what the problem is asking.",
    "So we need to find the value of the expression under the given constraints.",
    "Let me denote the unknown by x and write down the equation.", "Wait, that doesn't look right.",
    "Hmm, let me double-check that step.", "If we substitute back, the left side becomes",
    "Alternatively, we could approach this by counting the complementary cases.",
    "So the sum telescopes, and most of the terms cancel out.", "Let me verify with a small example.",
    "Therefore, the remainder when divided by 1000 is what we need.",
    "By the Pythagorean theorem, the distance is the square root of the sum of squares.",
    "Now, \\(\\frac{a}{b} + \\frac{b}{a} \\ge 2\\) by AM-GM, with equality when a = b.",
    "Multiplying both sides by 2 gives 2x + 6 = 4y - 2.", "That gives us $x^2 - 5x + 6 = 0$, so x = 2 or x = 3.",
    "But wait, we assumed n is even; what if n is odd?", "Okay, so that case contributes nothing new.",
    "Let's compute the first few terms: 1, 3, 7, 15, 31, and the pattern is 2^n - 1.",
    "I think the answer should be consistent with the earlier estimate.",
    "So the probability is the number of favourable outcomes over the total, which simplifies nicely.",
]
_CJK = "我们需要检查这个结果"


def _escaped(text: str) -> bytes:
    """`text` as the inside of a JSON string."""
    return json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")


def _paragraphs(count: int = 256, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [_escaped(" ".join(rng.choice(_SENTENCES) for _ in range(rng.randint(3, 9))) + "\n\n")
            for _ in range(count)]


def wrong_answers(gold: str) -> list[str]:
    """Three plausible wrong answers for a gold (numbers shifted, anything else with a term added)."""
    try:
        value = int(gold)
        return [str(value + 1), str(max(0, value - 7)), str(value * 2 + 3)]
    except ValueError:
        return [f"{gold}+1", f"2({gold})", "0"]


class LoopbackServer(ThreadingHTTPServer):
    """The server state: golds by prompt text, the reply distribution, a request counter."""

    daemon_threads = True
    request_queue_size = 256

    def __init__(self, model: str, golds: dict[str, str], correct_rate: float = 0.6, median_tokens: int = 6000,
                 mixed_language_rate: float = 0.02, port: int = 0,
                 correct_for: Callable[[int, str], bool] | None = None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.model, self.golds, self.correct_rate = model, golds, correct_rate
        self.median_tokens, self.mixed_language_rate = median_tokens, mixed_language_rate
        self.correct_for = correct_for  # (seed, prompt text) -> correct, overriding correct_rate
        self.pieces = _paragraphs()
        self.requests = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def start(self) -> LoopbackServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def reply(self, body: dict[str, Any]) -> bytes:
        """The response body for one chat-completion request."""
        prompt = body["messages"][-1]["content"]
        seed = int(body.get("seed") or 0)
        rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{prompt}".encode()).digest()[:8], "little"))
        max_tokens = int(body.get("max_tokens") or 32768)
        tokens = int(self.median_tokens * math.exp(rng.gauss(0.0, 0.6)))
        finish = "length" if tokens >= max_tokens else "stop"
        tokens = min(tokens, max_tokens)
        parts, size = [], 0
        while size < tokens * CHARS_PER_TOKEN:
            piece = self.pieces[rng.randrange(len(self.pieces))]
            parts.append(piece)
            size += len(piece)
        if rng.random() < self.mixed_language_rate:
            parts.insert(len(parts) // 2, _escaped(f"{_CJK}。"))
        gold = self.golds.get(prompt, "0")
        correct = (self.correct_for(seed, prompt) if self.correct_for is not None
                   else rng.random() < self.correct_rate)
        answer = gold if correct else rng.choice(wrong_answers(gold))
        content = None if finish == "length" else f"The answer is $\\boxed{{{answer}}}$."
        head = (b'{"id":"cmpl-loopback","object":"chat.completion","created":0,"model":' + json.dumps(self.model).encode()
                + b',"choices":[{"index":0,"message":{"role":"assistant","content":'
                + json.dumps(content, ensure_ascii=False).encode() + b',"reasoning_content":"')
        tail = (b'"},"finish_reason":"' + finish.encode() + b'"}],"usage":{"prompt_tokens":100,"completion_tokens":'
                + str(tokens).encode() + b',"total_tokens":' + str(tokens + 100).encode() + b"}}")
        with self._lock:
            self.requests += 1
        return b"".join([head, *parts, tail])


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per client slot

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": [{"id": self.server.model, "object": "model",
                                                                    "owned_by": "loopback"}]}).encode())
        else:
            self._send(404, b'{"error":{"message":"not found"}}')

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") != self.server.model:
            self._send(404, json.dumps({"error": {"message": f"The model `{body.get('model')}` does not exist."}}).encode())
            return
        self._send(200, self.server.reply(body))


def bench_golds(bench: str) -> dict[str, str]:
    """Prompt text -> gold for a bundled math bench, as `r1eval run` sends it."""
    from r1eval.benches import LoadOptions, get_bench

    return {p.messages[-1]["content"]: str(p.gold) for p in get_bench(bench).load(LoadOptions())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench", default="aime24")
    parser.add_argument("--model", default="loopback-r1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--correct-rate", type=float, default=0.6)
    parser.add_argument("--median-tokens", type=int, default=6000)
    args = parser.parse_args()
    server = LoopbackServer(args.model, bench_golds(args.bench), args.correct_rate, args.median_tokens, port=args.port)
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
