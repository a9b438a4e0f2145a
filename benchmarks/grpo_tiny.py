"""It learns: GRPO (`tiny-cpu` preset) on 2-digit addition raises the embedded SmolLM2-135M's accuracy.

Writes a train split and a held-out split (problem/answer JSONL), scores the held-out split with
`r1eval run` before training, trains with `r1eval grpo --preset tiny-cpu`, scores the trained policy
with `r1eval run` again, compares the two evals with `r1eval gate --mode better`, and prints the mean
accuracy reward of the first and last steps, the step-time breakdown (generation, reward, update), the
training process's peak RSS and the run directory's size on disk.

    nice -n 5 python benchmarks/grpo_tiny.py --output runs/grpo_tiny [--minutes 20] [--threads 1]

Measured (docs/training.md): a 2-step `tiny-cpu` run peaks at 4.05 GB RSS (goal 3 GB: not met) and takes
0.52 GB on disk (goal 1 GB).

`--threads` sets torch's thread count in the child processes (1 is far faster on a CPU shared with
other jobs: OpenMP barriers spin when cores are oversubscribed).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from r1eval.benches.arithmetic import train_test_split, write_split  # noqa: E402
from r1eval.training import read_steps  # noqa: E402


def r1eval(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run one `r1eval` command from this checkout, echoing its output; fail loudly if it fails."""
    cmd = [sys.executable, "-m", "r1eval.cli", *args]
    print("$ r1eval " + " ".join(args), flush=True)
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
    tail = [line for line in proc.stdout.splitlines() if line.strip()]
    print("\n".join(tail[-12:]), flush=True)
    if proc.returncode not in (0, 1):
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"r1eval {args[0]} failed with exit code {proc.returncode}")
    return proc


def disk_bytes(root: Path) -> int:
    """Bytes the files under `root` occupy, each inode once (the final model hard-links the checkpoint's)."""
    seen: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            st = path.stat()
            seen[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return sum(seen.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--output", type=Path, default=Path("runs/grpo_tiny"))
    ap.add_argument("--minutes", type=float, default=20.0, help="training time budget (default 20)")
    ap.add_argument("--max-steps", type=int, default=200, help="step cap (the time budget usually ends first)")
    ap.add_argument("--train", type=int, default=2000, help="training problems")
    ap.add_argument("--heldout", type=int, default=60, help="held-out problems")
    ap.add_argument("--eval-n", type=int, default=2, help="samples per held-out problem")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the child processes")
    args = ap.parse_args()

    out = args.output.resolve()
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty; pass a new --output")
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    train, heldout = train_test_split(args.train, args.heldout, digits=2, ops="+", seed=0)
    train_path = write_split(train, out / "data" / "add2_train.jsonl")
    heldout_path = write_split(heldout, out / "data" / "add2_heldout.jsonl")
    # held-out eval: the R1 protocol's sampling (T 0.6, top-p 0.95), completions as long as in training
    eval_args = ["--bench", str(heldout_path), "-n", str(args.eval_n), "--max-tokens", "48", "--no-progress"]

    t0 = time.perf_counter()
    r1eval("run", *eval_args, "--output", str(out / "eval_before"), env=env)
    t_eval = time.perf_counter() - t0
    t0 = time.perf_counter()
    rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
    r1eval("grpo", "--data", str(train_path), "--preset", "tiny-cpu", "--output", str(out / "grpo"),
           "--max-steps", str(args.max_steps), "--max-minutes", str(args.minutes), env=env)
    t_train = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    grpo_disk = disk_bytes(out / "grpo")
    r1eval("run", "--model", str(out / "grpo" / "final"), *eval_args, "--output", str(out / "eval_after"), env=env)
    gate = r1eval("gate", "--baseline", str(out / "eval_before"), "--candidate", str(out / "eval_after"),
                  "--mode", "better", env=env)

    steps = read_steps(out / "grpo" / "steps.jsonl")
    k = max(1, min(5, len(steps) // 4))
    first = sum(s["rewards"]["accuracy_reward"] for s in steps[:k]) / k
    last = sum(s["rewards"]["accuracy_reward"] for s in steps[-k:]) / k
    before = json.loads((out / "eval_before" / "summary.json").read_text())
    after = json.loads((out / "eval_after" / "summary.json").read_text())

    def mean(key: str) -> float:
        vals = [s.get(key) or 0.0 for s in steps]
        return sum(vals) / len(vals)

    print("\n=== GRPO tiny benchmark (tiny-cpu preset, SmolLM2-135M-Instruct, 2-digit addition) ===")
    print(f"steps trained                 {len(steps)} in {t_train / 60:.1f} min "
          f"({len(steps) * 32} completions); held-out eval {t_eval / 60:.1f} min")
    print(f"accuracy reward, first {k} steps {first:.3f}")
    print(f"accuracy reward, last {k} steps  {last:.3f}   (ratio {last / first if first else float('inf'):.2f}x)")
    print(f"held-out pass@1 before        {before['pass@1']:.3f}  ({before['num_problems']} problems x {args.eval_n})")
    print(f"held-out pass@1 after         {after['pass@1']:.3f}")
    print(f"gate (better, paired)         {'ACCEPT' if gate.returncode == 0 else 'REJECT'}")
    print(f"mean completion length        {steps[0].get('completion_length', 0):.1f} -> "
          f"{steps[-1].get('completion_length', 0):.1f} tokens")
    rss = (f"{rss_after / 2**20:.2f} GB" if rss_after > rss_before
           else f"<= {rss_before / 2**20:.2f} GB (the first eval's peak was higher)")
    print(f"grpo peak RSS {rss}; run directory on disk {grpo_disk / 2**30:.2f} GB (hard links counted once)")
    st = mean("step_time")
    print(f"step time {st:.1f} s = generation {mean('time_generation'):.1f} s + reward {mean('time_reward'):.2f} s "
          f"+ update {mean('time_update'):.1f} s")


if __name__ == "__main__":
    main()
