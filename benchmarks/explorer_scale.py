"""The report and its sample explorer at the paper's output sizes: AIME x 64 (30 x 64 = 1,920 samples) and
MATH-500 x 64 (500 x 64 = 32,000 samples), each completion ~27 k characters of reasoning-like text (872 MB
of samples.jsonl at MATH-500 size, as issue 26 measured with a realistic server).

Measures `r1eval report` (wall time, peak RSS, report directory size) and, in headless Chromium over the
DevTools protocol (tests/browser.py), the explorer: time to open, a search for a string in one sample,
a search for a common phrase (first page), a search for an absent string made of common trigrams (a full
scan), the JS heap and the browser's total RSS. Goals (issue 26 item 4): open <= 2 s, any search <= 5 s,
bounded memory.

    python benchmarks/explorer_scale.py --size aime          # ~1 minute
    python benchmarks/explorer_scale.py --size math500 --copy no   # ~10 minutes, ~1.8 GB of disk
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STATUS = "document.getElementById('status').textContent"
SIZES = {"aime": (30, 64), "math500": (500, 64)}
WORDS = ["the", "we", "so", "then", "let", "check", "compute", "sum", "product", "equation", "value", "term",
         "factor", "root", "prime", "square", "triangle", "angle", "side", "area", "circle", "radius", "because",
         "therefore", "wait", "hmm", "actually", "again", "substitute", "simplify", "expand", "solve", "case", "both",
         "sides", "divide", "multiply", "integer", "modulo", "remainder", "digit", "count", "ways", "choose"]


def paragraphs(rng: random.Random, count: int = 3000) -> list[str]:
    """A pool of reasoning-like paragraphs with numbers and LaTeX."""
    out = []
    for _ in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(40, 90))]
        for _ in range(rng.randint(2, 6)):
            words.insert(rng.randrange(len(words)), f"${rng.randint(2, 999)} \\cdot {rng.randint(2, 99)} = "
                         f"{rng.randint(2, 99999)}$")
        out.append(" ".join(words).capitalize() + ".")
    return out


def write_run(path: Path, problems: int, n: int, chars: int, seed: int = 0) -> dict[str, str]:
    """A run directory of `problems` x `n` samples of ~`chars` characters; returns the planted strings."""
    from r1eval.metrics import summarize
    from r1eval.records import Sample

    rng = random.Random(seed)
    pool = paragraphs(rng)
    planted = {"rare": "zebra-quartz-17", "common": "simplify expand", "absent": "the answer is 73 because 37"}
    path.mkdir(parents=True)
    light = []
    with (path / "samples.jsonl").open("w", encoding="utf-8") as fh:
        for p in range(problems):
            for i in range(n):
                parts, size = [f"Problem {p}, attempt {i}."], 0
                while size < chars:
                    parts.append(rng.choice(pool))
                    size += len(parts[-1]) + 1
                if (p, i) == (problems * 2 // 3, n // 2):
                    parts.insert(len(parts) // 2, planted["rare"])
                ok = rng.random() < 0.4
                text = "<think>" + " ".join(parts) + f"</think> The answer is \\boxed{{{p if ok else p + 1}}}."
                row = {"problem_id": f"p{p}", "sample_index": i, "seed": i, "prompt": f"Problem {p}: find x.",
                       "completion": text, "extracted_answer": str(p if ok else p + 1), "correct": ok,
                       "completion_tokens": len(text) // 4, "finish_reason": "stop", "gold": str(p)}
                fh.write(json.dumps(row) + "\n")
                light.append(Sample.from_dict({**row, "completion": "</think>"}))
    (path / "config.json").write_text(json.dumps({"bench": "synthetic", "model": "synthetic", "n": n,
                                                  "max_tokens": 32768}))
    summary = summarize(light, bench="synthetic", model="synthetic", n=n, equivalent=lambda a, b: a == b)
    (path / "summary.json").write_text(json.dumps(summary))
    return planted


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="aime")
    parser.add_argument("--chars", type=int, default=27_000, help="characters per completion")
    parser.add_argument("--work", type=Path, help="working directory (default: a temporary one)")
    parser.add_argument("--copy", choices=["both", "yes", "no"], default="both",
                        help="report with --explorer-copy, --no-explorer-copy or both (the explorer opens the last)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="explorer-scale-"))
    problems, n = SIZES[args.size]
    t0 = time.perf_counter()
    planted = write_run(work / "run", problems, n, args.chars)
    samples_mb = (work / "run" / "samples.jsonl").stat().st_size / 2**20
    print(f"{args.size}: {problems} x {n} samples, samples.jsonl {samples_mb:.0f} MB (made in "
          f"{time.perf_counter() - t0:.0f} s)")
    flags = {"both": ("--explorer-copy", "--no-explorer-copy"), "yes": ("--explorer-copy",), "no": ("--no-explorer-copy",)}
    for copy in flags[args.copy]:
        out = work / f"report{copy.replace('--', '-')}"
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "r1eval", "report", str(work / "run"), "--out", str(out), copy],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"report {copy}: {time.perf_counter() - t0:.1f} s, peak RSS (largest child so far) {peak:.0f} MB, "
              f"report directory {du(out) / 2**20:.1f} MB, explorer.html {(out / 'explorer.html').stat().st_size / 2**20:.1f} MB")

    import psutil

    from tests.browser import Browser

    with Browser(work / "profile") as b:
        opened = b.open((out / "explorer.html").as_uri())
        print(f"explorer: open {opened:.2f} s (page's own clock {b.eval('R1Explorer.openedMs') / 1000:.2f} s)")
        for name, query in planted.items():
            t0 = time.perf_counter()
            b.eval(f"R1Explorer.search({json.dumps(query)})", timeout=600)
            seconds = time.perf_counter() - t0
            print(f"search {name} {query!r}: {seconds:.2f} s, {b.eval(STATUS)}")
        heap = b.heap_mb()
        rss = sum(p.memory_info().rss for p in [psutil.Process(b.proc.pid), *psutil.Process(b.proc.pid).children(True)])
        print(f"JS heap {heap:.0f} MB, Chromium RSS (all processes) {rss / 2**20:.0f} MB")


if __name__ == "__main__":
    main()
