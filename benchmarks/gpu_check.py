"""GPU checks, one line each: run on a machine with an NVIDIA GPU and vLLM (CUDA build) installed.

    python benchmarks/gpu_check.py            # all checks, ~5-10 minutes on one H100
    python benchmarks/gpu_check.py --only vllm-run,shards

Checks (each runs the CLI in a fresh process, the model being the embedded SmolLM2-135M GGUF materialised
locally: nothing comes from the hub):
  vllm-run     `r1eval run --backend vllm` end to end on the GPU (aime24, 4 problems x 4 samples x 256 tokens):
               wall time, tokens/s, the device and dtype vLLM reports
  overhead     benchmarks/overhead.py --backends vllm: r1eval run against bare `LLM.generate`, same prompts/seeds
  shards       two `--shard I/2` runs and `r1eval merge`, compared sample by sample with the unsharded run
  grpo-vllm    one `r1eval grpo` step with vLLM colocate (TRL), tiny preset, 4 problems

Without a GPU it prints that it needs one and exits 2; a failed check prints FAIL with the reason (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "TQDM_DISABLE": "1",
       "VLLM_LOGGING_LEVEL": "WARNING"}
ENGINE_FLAGS = ["--max-model-len", "2048", "--gpu-memory-utilization", "0.3"]


def gpu_name() -> str | None:
    """The first CUDA device's name, or None."""
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def cli(*args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "r1eval.cli", *args], capture_output=True, text=True, env=ENV,
                          cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"`r1eval {' '.join(args[:3])} ...` exited {proc.returncode}: {tail}")
    return proc


def run_args(out: Path, *extra: str) -> list[str]:
    return ["run", "--backend", "vllm", "--bench", "aime24", "--limit", "4", "-n", "4", "--max-tokens", "256",
            "--output", str(out), "--no-progress", *ENGINE_FLAGS, *extra]


def check_vllm_run(tmp: Path) -> str:
    t0 = time.perf_counter()
    cli(*run_args(tmp / "run"))
    wall = time.perf_counter() - t0
    config = json.loads((tmp / "run" / "config.json").read_text())
    rows = [json.loads(line) for line in (tmp / "run" / "samples.jsonl").read_text().splitlines()]
    info = config.get("backend_info") or {}
    if info.get("device") != "cuda":
        raise RuntimeError(f"vLLM ran on {info.get('device')!r}, not the GPU")
    tokens = sum(r["completion_tokens"] for r in rows)
    return (f"{len(rows)} samples, {tokens} tokens in {wall:.1f} s wall (engine start included), vLLM "
            f"{info.get('vllm')}, dtype {info.get('engine_dtype')}")


def check_overhead(tmp: Path) -> str:
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overhead.py"), "--backends", "vllm",
                           "--problems", "8", "-n", "8", "--max-tokens", "128"], capture_output=True, text=True,
                          env=ENV, cwd=REPO, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"overhead.py exited {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}")
    ratio = [line.strip() for line in proc.stdout.splitlines() if "ratio r1eval/bare" in line]
    return ratio[-1] if ratio else "overhead.py printed no ratio"


def check_shards(tmp: Path) -> str:
    cli(*run_args(tmp / "whole"))
    for i in range(2):
        cli(*run_args(tmp / f"shard{i}", "--shard", f"{i}/2"))
    cli("merge", str(tmp / "shard0"), str(tmp / "shard1"), "--output", str(tmp / "merged"))

    def rows(run: str) -> dict:
        lines = (tmp / run / "samples.jsonl").read_text().splitlines()
        return {(r["problem_id"], r["sample_index"]): r for r in map(json.loads, lines)}

    whole, merged = rows("whole"), rows("merged")
    same = sum(whole[k]["completion"] == merged.get(k, {}).get("completion") for k in whole)
    if set(whole) != set(merged):
        raise RuntimeError(f"merged run has {len(merged)} samples, the unsharded {len(whole)}")
    return f"2 shards merged: {len(merged)} samples, {same}/{len(whole)} completions identical to the unsharded run"


def check_grpo(tmp: Path) -> str:
    t0 = time.perf_counter()
    cli("grpo", "--preset", "tiny-cpu", "--data", "aime24", "--limit", "4", "--max-steps", "1", "--vllm",
        "--output", str(tmp / "grpo"))
    steps = [json.loads(line) for line in (tmp / "grpo" / "steps.jsonl").read_text().splitlines() if line.strip()]
    return f"{len(steps)} step(s) with vLLM colocate in {time.perf_counter() - t0:.1f} s; last: " + ", ".join(
        f"{k}={v:.4g}" for k, v in steps[-1].items() if isinstance(v, float) and ("reward" in k or "loss" in k))[:200]


CHECKS: dict[str, Callable[[Path], str]] = {"vllm-run": check_vllm_run, "overhead": check_overhead,
                                             "shards": check_shards, "grpo-vllm": check_grpo}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated subset of {', '.join(CHECKS)}")
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else list(CHECKS)
    unknown = [w for w in wanted if w not in CHECKS]
    if unknown:
        print(f"gpu_check: unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}", file=sys.stderr)
        return 2
    name = gpu_name()
    if name is None:
        print("gpu_check: needs an NVIDIA GPU with CUDA (torch.cuda.is_available() is False here) and vLLM's CUDA "
              "build; nothing was checked", file=sys.stderr)
        return 2
    print(f"gpu_check on {name}")
    failed = 0
    for check in wanted:
        with tempfile.TemporaryDirectory(prefix=f"gpu_check_{check}_") as tmp:
            t0 = time.perf_counter()
            try:
                line = f"PASS {check}: {CHECKS[check](Path(tmp))}"
            except Exception as exc:  # one line per check, whatever went wrong
                failed += 1
                line = f"FAIL {check}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            print(f"{line} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
