"""r1eval at the output scale of the R1 protocol: wall time and peak memory of run, resume, report, export,
grade and audit against a loopback server, compared with a floor client.

    python benchmarks/scale.py                     # AIME 30 x 64 and MATH-500 500 x 64 (~1 GB of samples)
    python benchmarks/scale.py --quick             # AIME 30 x 16 and MATH-500 500 x 4, for a small machine
    python benchmarks/scale.py --sizes aime24:64 --keep /tmp/scale

The server (benchmarks/loopback.py, its own process) answers every request at once with a realistic R1-style
reply: a reasoning part of ~6,000 tokens median (~27 kB; long-tailed, cut at 32,768 tokens), then a boxed
answer, right 60% of the time. The floor is a trivial client that sends the same requests (same messages,
seeds, sampling fields, concurrency, the same `openai` client) and only appends each raw response body to a
file. Each step runs as a fresh process, as a user runs it; its peak memory is the largest sum of the resident
memory of the process and its children (the grading pool), polled every 50 ms.

Goals (issue 26): run <= 1.25x the floor's wall time; resume of a finished run <= 5 s and <= 500 MB; report,
export, grade and audit <= 2 GB at 32,000 samples.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = "loopback-r1"
CONCURRENCY = 64
GOALS = {"run": "<= 1.25x floor", "resume": "<= 5 s, <= 500 MB", "report": "<= 2 GB", "export parquet": "<= 2 GB",
         "export lm-eval": "<= 2 GB", "grade": "<= 2 GB", "audit": "<= 2 GB"}


def measure(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, float]:
    """Run `cmd`; its wall time and the peak RSS of it and its children (MB)."""
    import psutil

    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", **(env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=REPO)
    peak = 0
    stop = threading.Event()

    def poll() -> None:
        nonlocal peak
        try:
            parent = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not stop.is_set():
            total = 0
            try:
                for p in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        total += p.memory_info().rss
            except psutil.NoSuchProcess:
                return
            peak = max(peak, total)
            stop.wait(0.05)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:6])} ... exited {proc.returncode}:\n{err[-2000:]}")
    return {"wall_s": wall, "peak_mb": peak / 2**20, "stdout": out}


def floor_client(url: str, bench: str, n: int, out: str, concurrency: int) -> None:
    """The floor: the same requests as `r1eval run`, each raw response body appended to `out`."""
    from openai import AsyncOpenAI

    from r1eval.benches import LoadOptions, get_bench
    from r1eval.records import sample_seed

    problems = get_bench(bench).load(LoadOptions())
    jobs = [(p, i) for p in problems for i in range(n)]

    async def main() -> None:
        client = AsyncOpenAI(base_url=url, api_key="EMPTY", timeout=3600, max_retries=6)
        limit = asyncio.Semaphore(concurrency)
        with open(out, "w", encoding="utf-8") as fh:
            async def one(p, i) -> None:
                async with limit:
                    raw = await client.chat.completions.with_raw_response.create(
                        model=MODEL, messages=p.messages, n=1, seed=sample_seed(0, p.id, i), temperature=0.6,
                        top_p=0.95, presence_penalty=0.0, frequency_penalty=0.0, max_tokens=32768,
                        extra_body={"top_k": -1, "min_p": 0.0, "repetition_penalty": 1.0})
                    fh.write(raw.http_response.text + "\n")

            await asyncio.gather(*(one(p, i) for p, i in jobs))
        await client.close()

    asyncio.run(main())


def start_server(bench: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "loopback.py"), "--bench", bench, "--model", MODEL],
                            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    url = proc.stdout.readline().strip()
    if not url.startswith("http"):
        raise SystemExit("the loopback server did not start")
    return proc, url


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "r1eval.cli", *args]


def bench_size(bench: str, n: int, work: Path) -> dict[str, dict[str, float]]:
    """Every step on one bench at n samples per problem."""
    server, url = start_server(bench)
    results: dict[str, dict[str, float]] = {}
    try:
        run_dir = work / f"{bench}_n{n}"
        results["floor"] = measure([sys.executable, __file__, "--floor", url, "--bench", bench, "-n", str(n),
                                    "--floor-out", str(work / f"floor_{bench}.jsonl")])
        run_cmd = cli("run", "--backend", "openai", "--base-url", url, "--model", MODEL, "--bench", bench,
                      "-n", str(n), "--max-tokens", "32768", "--concurrency", str(CONCURRENCY), "--output",
                      str(run_dir), "--no-progress")
        results["run"] = measure(run_cmd)
        results["resume"] = measure(run_cmd)
        results["report"] = measure(cli("report", str(run_dir), "--out", str(work / f"report_{bench}")))
        results["export parquet"] = measure(cli("export", str(run_dir), "--format", "parquet", "--out",
                                                str(work / f"{bench}.parquet")))
        results["export lm-eval"] = measure(cli("export", str(run_dir), "--format", "lm-eval", "--out",
                                                str(work / f"lm_eval_{bench}")))
        results["grade"] = measure(cli("grade", "--input", str(run_dir / "samples.jsonl"), "--bench", bench,
                                       "--output", str(work / f"graded_{bench}.jsonl")))
        results["audit"] = measure(cli("audit", str(run_dir), "--out", str(work / f"audit_{bench}")))
        samples_mb = (run_dir / "samples.jsonl").stat().st_size / 2**20
        report_mb = sum(f.stat().st_size for f in (work / f"report_{bench}").rglob("*") if f.is_file()) / 2**20
        results["sizes"] = {"samples_mb": samples_mb, "report_dir_mb": report_mb,
                            "samples": sum(1 for _ in (run_dir / "samples.jsonl").open())}
    finally:
        server.terminate()
        server.wait()
    return results


def verdict(step: str, r: dict[str, float], floor: dict[str, float]) -> str:
    if step == "run":
        ratio = r["wall_s"] / floor["wall_s"]
        return f"{ratio:.2f}x floor ({'met' if ratio <= 1.25 else 'NOT met'}: <= 1.25x)"
    if step == "resume":
        ok = r["wall_s"] <= 5 and r["peak_mb"] <= 500
        return f"{'met' if ok else 'NOT met'}: <= 5 s, <= 500 MB"
    if step in GOALS:
        return f"{'met' if r['peak_mb'] <= 2048 else 'NOT met'}: <= 2 GB (goal stated at 32,000 samples)"
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="AIME 30 x 16 and MATH-500 500 x 4")
    parser.add_argument("--sizes", help="comma-separated BENCH:N (default aime24:64,math500:64)")
    parser.add_argument("--keep", type=Path, help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--bench", help=argparse.SUPPRESS)
    parser.add_argument("-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--floor-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor_client(args.floor, args.bench, args.n, args.floor_out, CONCURRENCY)
        return 0
    sizes = args.sizes or ("aime24:16,math500:4" if args.quick else "aime24:64,math500:64")
    work = args.keep or Path(tempfile.mkdtemp(prefix="r1eval_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    everything = {}
    try:
        for item in sizes.split(","):
            bench, n = item.split(":")
            results = bench_size(bench, int(n), work)
            everything[f"{bench} x {n}"] = {k: {kk: vv for kk, vv in v.items() if kk != "stdout"}
                                            for k, v in results.items()}
            sizes_info = results.pop("sizes")
            print(f"\n{bench}: {sizes_info['samples']} samples, samples.jsonl {sizes_info['samples_mb']:.0f} MB, "
                  f"report directory {sizes_info['report_dir_mb']:.0f} MB; {os.cpu_count()} CPUs, load "
                  f"{os.getloadavg()[0]:.1f}")
            for step, r in results.items():
                print(f"  {step:<15} {r['wall_s']:8.1f} s  {r['peak_mb']:8.0f} MB   "
                      f"{verdict(step, r, results['floor'])}")
    finally:
        if args.json:
            args.json.write_text(json.dumps(everything, indent=2) + "\n")
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
