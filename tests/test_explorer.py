"""The sample explorer in headless Chromium (DevTools protocol, tests/browser.py): the problem list and its
"runs disagree" filter, one problem side by side across runs, search with pagination, rendered math, and a
32,000-sample run whose page opens and searches within loose time and memory bounds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from r1eval.cli import main
from r1eval.explorer import trigram_bitset
from r1eval.metrics import summarize
from r1eval.records import Sample
from tests.browser import Browser, chromium_path

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(chromium_path() is None, reason="headless Chromium not installed (Debian: apt-get "
                                 "install chromium)")]

PLANTED = "PLANTED-completion-7f3a9c"
MATH = r"so $\frac{1}{2} + x^2$ and \[\sqrt{y}\]"


def write_run(path: Path, correct: dict[str, list[bool]], *, label: str, completion=None, chars: int = 60,
              model: str | None = None) -> None:
    """A run directory (config.json, samples.jsonl, summary.json) with reasoning and a truncated sample 2."""
    rows, samples = [], []
    for pid, oks in correct.items():
        for i, ok in enumerate(oks):
            think = f"step {pid}.{i} " + "x" * chars
            text = completion(pid, i) if completion else f"<think>{think}</think>\nthe answer is {int(ok)}"
            if i == 2 and not completion:
                text = f"<think>{think} cut off"
            row = {"problem_id": pid, "sample_index": i, "seed": i, "prompt": f"Problem {pid}: what is $1/2$?",
                   "completion": text, "extracted_answer": None if i == 2 else str(int(ok)), "correct": ok,
                   "completion_tokens": 40 + i, "finish_reason": "length" if i == 2 else "stop", "gold": "1"}
            rows.append(row)
            samples.append(Sample.from_dict(row))
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"bench": "toy", "model": model or f"model-{label}", "label": label}))
    with (path / "samples.jsonl").open("w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    (path / "summary.json").write_text(json.dumps(summarize(samples, bench="toy", model=model or f"model-{label}",
                                                            n=len(next(iter(correct.values()))),
                                                            equivalent=lambda a, b: a == b)))


def text_of(b: Browser, selector: str) -> list[str]:
    return b.eval(f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)")


def go(b: Browser, fragment: str) -> None:
    """Set the address's fragment and wait for the view to be rendered."""
    b.eval(f"R1Explorer.show({json.dumps(fragment)})")


# per problem, 4 samples: right in base when at least 2 are right. Hand-computed: q1 and q2 disagree
# (base 2/4 right vs rl 0/4; base 0/4 vs rl 3/4), q0 right in both, q3 wrong in both.
BASE = {"q0": [True, True, False, True], "q1": [True, False, False, True], "q2": [False] * 4, "q3": [False] * 4}
RL = {"q0": [True, True, False, False], "q1": [False] * 4, "q2": [True, True, False, True], "q3": [False] * 4}


def test_explorer_views_in_chromium(tmp_path: Path) -> None:
    write_run(tmp_path / "base", BASE, label="base",
              completion=lambda pid, i: PLANTED if (pid, i) == ("q2", 1) else MATH if (pid, i) == ("q0", 0)
              else f"<think>step {pid}.{i} xxxx</think>\nthe answer is {int(BASE[pid][i])}")
    write_run(tmp_path / "rl", RL, label="rl")
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "base"), str(tmp_path / "rl"), "--out", str(out)]) == 0
    assert (out / "explorer_assets" / "katex" / "katex.min.js").is_file()
    assert (out / "explorer_assets" / "katex" / "LICENSE").is_file()
    with Browser(tmp_path / "profile") as b:
        b.open((out / "explorer.html").as_uri())
        # the problem list: one row per problem across both runs
        assert text_of(b, "table.problems tbody tr td:first-child") == ["q0", "q1", "q2", "q3"]
        assert text_of(b, "tr[data-problem-id=q1] td")[1:] == ["2/4 right, 1 cut", "0/4 right, 1 cut"]
        go(b, "problems=disagree")
        assert text_of(b, "table.problems tbody tr td:first-child") == ["q1", "q2"]
        assert b.eval("document.getElementById('status').textContent") == "2 problems where the runs disagree"

        # one problem side by side: both runs' columns, the samples in each, reasoning folded
        go(b, "problem=q2&runs=r0,r1")
        assert b.eval("[...document.querySelectorAll('.column')].map(c => c.dataset.run)") == ["r0", "r1"]
        assert b.eval("[...document.querySelectorAll('.column')].map(c => c.querySelectorAll('.sample').length)") == [4, 4]
        planted = b.eval("(() => { const s = document.querySelector('.column[data-run=r0] .sample[data-sample-index=\"1\"]');"
                         " return [s.dataset.verdict, s.querySelector('.answer-text').textContent]; })()")
        assert planted == ["wrong", PLANTED]
        rl = "document.querySelectorAll('.column[data-run=r1] .sample')"
        assert b.eval(f"[...{rl}].map(s => s.dataset.verdict)") == ["right", "right", "wrong", "right"]
        assert b.eval(f"[...{rl}].map(s => s.querySelector('details.think').open)") == [False] * 4
        assert b.eval(f"[...{rl}].map(s => !!s.querySelector('.unclosed'))") == [False, False, True, False]
        go(b, "problem=q2&runs=r1&filter=truncated")
        assert b.eval(f"[...{rl}].map(s => s.dataset.sampleIndex)") == ["2"]

        # rendered math (KaTeX), and the raw text with the box unticked
        go(b, "problem=q0&runs=r0")
        sample = "document.querySelector('.column[data-run=r0] .sample[data-sample-index=\"0\"] .answer-text')"
        assert b.eval(f"{sample}.querySelectorAll('.katex').length") == 2
        assert b.eval(f"{sample}.querySelectorAll('.katex-display').length") == 1
        b.eval("document.getElementById('math').click(); R1Explorer.rendered()")
        assert b.eval(f"{sample}.textContent") == MATH

        # search: the planted completion, case-insensitive, marked, linked to the side-by-side view
        b.eval(f"R1Explorer.search({json.dumps(PLANTED.lower())})")
        results = b.eval("[...document.querySelectorAll('li.result')].map(r => [r.dataset.run, r.dataset.problemId,"
                         " r.dataset.sampleIndex, r.querySelector('mark').textContent, r.querySelector('a').hash])")
        assert results == [["r0", "q2", "1", PLANTED, "#problem=q2&runs=r0%2Cr1&sample=r0%3A1"]]
        assert b.eval("document.getElementById('status').textContent") == "1 sample matches"
        b.screenshot(out / "explorer_search.png")
        # answers and problem ids match too: "q3" is 8 samples (4 per run)
        b.eval("R1Explorer.search('q3')")
        assert b.eval("document.getElementById('status').dataset.samples") == "8"
        go(b, "problem=q2&runs=r0,r1&sample=r0:1")
        assert b.eval("document.querySelector('.sample.target').dataset.sampleIndex") == "1"
        b.screenshot(out / "explorer_side_by_side.png")
    assert (out / "explorer_side_by_side.png").stat().st_size > 5000


def test_trigram_filter_matches_the_page_hash() -> None:
    """The bitset explorer.py writes holds exactly the hashes explorer.js computes for a query (hand-checked
    for one trigram: 'abc' = 97<<14 | 98<<7 | 99, times 0x9E3779B1 mod 2^32, top 16 bits)."""
    x = (97 << 14) | (98 << 7) | 99
    h = ((x * 0x9E3779B1) & 0xFFFFFFFF) >> 16
    bits = trigram_bitset("ABC")  # lower-cased before hashing
    assert sum(bin(byte).count("1") for byte in bits) == 1
    assert bits[h >> 3] >> (h & 7) & 1
    assert sum(bin(byte).count("1") for byte in trigram_bitset("é€ab")) == 0  # no all-ASCII trigram


@pytest.mark.slow
def test_explorer_at_32000_samples_opens_and_searches_within_bounds(tmp_path: Path) -> None:
    """MATH-500 x 64 shaped run (500 problems x 64 samples, 1.5 k characters each, 48 MB of completions): the
    page is a compact index, completions sit in ~1 MB data files, opening renders one page of problems,
    a search for a rare string reads only the files its trigram filter admits, a common one stops after a
    page. Bounds are loose (a loaded 2-core CI); benchmarks/explorer_scale.py measures real sizes."""
    problems, n = 500, 64
    filler = ("Let me compute the sum carefully. We have the equation and substitute the values; "
              "then simplify each term and check the arithmetic again. ") * 10

    def completion(pid: str, i: int) -> str:
        mark = "zebra-quartz-17 " if (pid, i) == ("p321", 45) else ""
        return f"<think>{pid} sample {i}. {filler}{mark}</think> The answer is \\boxed{{{i}}}."

    write_run(tmp_path / "big", {f"p{p}": [i % 3 == 0 for i in range(n)] for p in range(problems)}, label="big",
              completion=completion)
    out = tmp_path / "report"
    t0 = time.perf_counter()
    assert main(["report", str(tmp_path / "big"), "--out", str(out)]) == 0
    report_seconds = time.perf_counter() - t0
    page = out / "explorer.html"
    assert page.stat().st_size < 8_000_000
    data_files = list((out / "explorer_data" / "r0").glob("c*.js"))
    assert 40 <= len(data_files) <= 60
    with Browser(tmp_path / "profile") as b:
        open_seconds = b.open(page.as_uri())
        assert b.eval("document.querySelectorAll('table.problems tbody tr').length") == 50  # one page rendered
        t0 = time.perf_counter()
        b.eval("R1Explorer.search('zebra-quartz-17')")
        rare_seconds = time.perf_counter() - t0
        assert b.eval("[...document.querySelectorAll('li.result')].map(r => r.dataset.problemId + ':' + "
                      "r.dataset.sampleIndex)") == ["p321:45"]
        assert b.eval("document.getElementById('status').textContent") == "1 sample matches"
        t0 = time.perf_counter()
        b.eval("R1Explorer.search('simplify each term')")
        common_seconds = time.perf_counter() - t0
        assert b.eval("document.querySelectorAll('li.result').length") == 50
        assert b.eval("document.getElementById('status').textContent").startswith("at least ")
        heap = b.heap_mb()
    print(f"32k samples: report {report_seconds:.1f} s, open {open_seconds:.2f} s, rare search {rare_seconds:.2f} s, "
          f"common search {common_seconds:.2f} s, JS heap {heap:.0f} MB")
    assert open_seconds < 10 and rare_seconds < 15 and common_seconds < 10 and heap < 400


def test_large_runs_keep_their_data_files_in_their_own_directory(tmp_path: Path) -> None:
    """--no-explorer-copy (the default above 64 MB of samples): the data files go into the run directory's
    explorer/ folder once, the report holds none of the completions, a second report reuses them, and the
    page loads them by relative path."""
    write_run(tmp_path / "runs" / "a", BASE, label="a",
              completion=lambda pid, i: PLANTED if (pid, i) == ("q1", 3) else f"reply {pid} {i}")
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "runs" / "a"), "--out", str(out), "--no-explorer-copy"]) == 0
    side = tmp_path / "runs" / "a" / "explorer"
    assert sorted(p.name for p in side.iterdir()) == ["c0.js", "filter.js", "stamp.json"]
    assert not (out / "explorer_data").exists()
    assert not any(PLANTED in p.read_text() for p in out.rglob("*") if p.is_file() and p.suffix in (".html", ".js"))
    written = (side / "c0.js").stat().st_mtime_ns
    assert main(["report", str(tmp_path / "runs" / "a"), "--out", str(tmp_path / "again"), "--no-explorer-copy"]) == 0
    assert (side / "c0.js").stat().st_mtime_ns == written  # reused, not rewritten
    with Browser(tmp_path / "profile") as b:
        b.open((out / "explorer.html").as_uri())
        b.eval(f"R1Explorer.search({json.dumps(PLANTED)})")
        assert b.eval("[...document.querySelectorAll('li.result')].map(r => r.dataset.problemId + ':' + "
                      "r.dataset.sampleIndex)") == ["q1:3"]
