"""The harness under faults, as a user meets them: a loopback server that misbehaves on cue
(tests/fault_server.py), signals mid-run, a full or read-only file system, truncated files, bad input.

Every case asserts the exact exit code, the one line on stderr and the state of the run directory
afterwards: nothing finished lost or duplicated, and the same command resumes after the fix."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from r1eval.backends.base import GenerationRequest
from r1eval.backends.openai import OpenAIBackend
from r1eval.errors import BackendError
from r1eval.models import served_model
from r1eval.records import SamplingParams, sample_seed
from tests.conftest import REPO
from tests.fault_server import MALFORMED, MODEL, FaultServer, completion, json_reply
from tests.test_cli_errors import assert_one_line_error

INTERRUPTED = "interrupted: every finished sample is kept; rerun the same command to resume"
TERMINATED = "terminated: every finished sample is kept; rerun the same command to resume"


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def run_args(server: FaultServer, out: Path, n: int = 2, limit: int = 2, *extra: str) -> list[str]:
    return ["run", "--backend", "openai", "--base-url", server.url, "--model", MODEL, "--bench", "aime24",
            "--limit", str(limit), "-n", str(n), "--max-tokens", "64", "--output", str(out), "--concurrency", "1",
            "--no-progress", *extra]


def sample_keys(out: Path) -> list[tuple[str, int]]:
    """(problem, sample index) of every samples.jsonl line; every line whole JSON, none repeated."""
    text = (out / "samples.jsonl").read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    keys = [(row["problem_id"], row["sample_index"]) for row in map(json.loads, text.splitlines())]
    assert len(keys) == len(set(keys)), "a sample was written twice"
    return keys


def strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{path} holds {name}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1"}


# -- malformed replies: transient, retried like a 5xx ------------------------------------------------------------

@pytest.mark.parametrize("fault", sorted(MALFORMED))
def test_a_malformed_reply_is_retried_like_a_5xx(server: FaultServer, fault: str) -> None:
    server.script = [MALFORMED[fault]]
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=1, max_retries=2)
    try:
        request = GenerationRequest("p", [{"role": "user", "content": "1+1?"}], [0], [sample_seed(0, "p", 0)])
        results = list(backend.generate([request], SamplingParams(n=1, max_tokens=8)))
    finally:
        backend.close()
    assert results[0].completions[0][1].text == "The answer is \\boxed{7}."
    assert len(server.log) == 2 and server.log[0]["seed"] == server.log[1]["seed"]


@pytest.mark.parametrize("fault", sorted(set(MALFORMED) - {"body cut mid-way"}))
def test_malformed_replies_past_the_retries_name_the_last_reply(server: FaultServer, fault: str) -> None:
    server.script = [MALFORMED[fault]] * 2
    backend = OpenAIBackend(served_model(MODEL, server.url), base_url=server.url, concurrency=1, max_retries=1)
    request = GenerationRequest("p", [{"role": "user", "content": "1+1?"}], [0], [1])
    try:
        with pytest.raises(BackendError, match=r"problem p sample 0: the server at .* sent 2 unusable replies "
                                               r"\(last: HTTP 200 .*\).*rerun to resume") as err:
            list(backend.generate([request], SamplingParams(n=1, max_tokens=8)))
    finally:
        backend.close()
    assert "\n" not in str(err.value)
    assert MALFORMED[fault].body[:10].decode("utf-8", "replace").split()[0] in str(err.value)


def test_cli_html_from_a_proxy_stops_in_one_line_and_resumes(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    html = MALFORMED["HTML page"]
    server.script = [json_reply(completion()), json_reply(completion()), html, html]  # problem 1 fine, then HTML
    proc = cli(*run_args(server, out, 2, 2, "--max-retries", "1"))
    assert_one_line_error(proc, "sent 2 unusable replies", "HTTP 200 text/html", "502 Bad Gateway", "rerun to resume")
    assert sample_keys(out) == [("60", 0), ("60", 1)]
    server.log.clear()
    again = cli(*run_args(server, out, 2, 2, "--max-retries", "1"))
    assert again.returncode == 0, again.stderr
    assert len(server.log) == 2 and len(sample_keys(out)) == 4  # only the missing two were asked for
    summary = strict_json(out / "summary.json")
    assert summary["complete"] is True and summary["num_samples"] == 4
    for row in map(json.loads, (out / "samples.jsonl").read_text().splitlines()):
        assert row["seed"] == sample_seed(0, row["problem_id"], row["sample_index"])


# -- honest summaries ------------------------------------------------------------------------------------------

def test_no_usage_and_content_filter_are_reported_not_hidden(server: FaultServer, cli, tmp_path: Path) -> None:
    server.usage = False
    server.finish = "content_filter"
    out = tmp_path / "run"
    proc = cli(*run_args(server, out, 2, 1))
    assert proc.returncode == 0, proc.stderr
    summary = strict_json(out / "summary.json")
    assert summary["token_counts"] == "missing" and summary["token_counts_missing"] == 2
    assert summary["mean_completion_tokens"] is None and summary["length_stats"] is None
    assert summary["pass@1_at_budget"] is None
    assert summary["finish_reasons"] == {"content_filter": 2} and summary["truncation_rate"] == 0.0
    rows = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    assert {(r["finish_reason"], r["completion_tokens"]) for r in rows} == {("content_filter", None)}
    assert "n/a (the server reported no token usage)" in proc.stdout
    assert "other finish reasons    content_filter 2" in proc.stdout


def test_an_empty_bench_is_one_line(server: FaultServer, cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    proc = cli("run", "--backend", "openai", "--base-url", server.url, "--model", MODEL, "--bench", str(empty),
               "--output", str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(proc, "bench empty has no problems", "at least one problem")
    assert not (tmp_path / "run" / "summary.json").exists() and not server.log


def test_a_failed_extension_leaves_the_summary_marked_stale(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli(*run_args(server, out, 1, 1)).returncode == 0
    assert strict_json(out / "summary.json")["complete"] is True
    server.script = [MALFORMED["invalid JSON"]] * 2
    assert_one_line_error(cli(*run_args(server, out, 2, 1, "--max-retries", "1")), "unusable replies")
    summary, config = strict_json(out / "summary.json"), strict_json(out / "config.json")
    assert config["n"] == 2 and summary["n_samples"] == 1
    assert summary["complete"] is False and "has not finished since" in summary["stale"]
    assert cli(*run_args(server, out, 2, 1)).returncode == 0
    summary = strict_json(out / "summary.json")
    assert summary["complete"] is True and summary["n_samples"] == 2 and "stale" not in summary


# -- signals ---------------------------------------------------------------------------------------------------

def _wait_for_lines(path: Path, count: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and path.read_text().count("\n") >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no samples written in time")


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@pytest.mark.parametrize("signum,code,line", [(signal.SIGINT, 130, INTERRUPTED), (signal.SIGTERM, 143, TERMINATED)])
def test_signal_with_a_million_pending_samples(server: FaultServer, tmp_path: Path, signum: int, code: int,
                                               line: str) -> None:
    """-n 1000000: the plan streams (first request at once, small memory); the signal stops it within 5 s,
    every finished sample kept whole, one line, the documented exit code."""
    server.delay = 0.02
    out = tmp_path / "run"
    started = time.time()
    proc = subprocess.Popen([sys.executable, "-m", "r1eval.cli", *run_args(server, out, 1_000_000, 1, "--concurrency",
                                                                            "8")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    try:
        _wait_for_lines(out / "samples.jsonl", 20, proc)
        assert server.first_request_at is not None
        print(f"first request {server.first_request_at - started:.2f}s after start")
        peak = _peak_rss_mb(proc.pid)
        assert peak < 300, f"client peak RSS {peak:.0f} MB"
        sent = time.time()
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=5)
        print(f"stopped {time.time() - sent:.2f}s after the signal; peak RSS {peak:.0f} MB")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, stderr
    assert [ln for ln in stderr.splitlines() if ln.strip()] == [line], stderr
    keys = sample_keys(out)
    assert len(keys) >= 20 and all(pid == "60" for pid, _ in keys)
    assert not (out / "summary.json").exists()


def test_sigterm_then_the_same_command_finishes_the_run(server: FaultServer, cli, tmp_path: Path) -> None:
    server.delay = 0.1
    out = tmp_path / "run"
    args = run_args(server, out, 12, 1)
    proc = subprocess.Popen([sys.executable, "-m", "r1eval.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env())
    _wait_for_lines(out / "samples.jsonl", 2, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=5)
    assert proc.returncode == 143 and "Traceback" not in stderr
    kept = sample_keys(out)
    assert 2 <= len(kept) < 12
    server.delay = 0
    server.log.clear()
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"{12 - len(kept)} samples to do, {len(kept)} already done" in again.stdout
    assert len(server.log) == 12 - len(kept) and sorted(sample_keys(out)) == [("60", i) for i in range(12)]


# -- file-system faults ----------------------------------------------------------------------------------------

needs_mounts = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                  reason="needs root and unshare for a private tmpfs / read-only mount")


def _in_mount_namespace(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run a shell script in a private mount namespace (mounts vanish with it; the host sees nothing)."""
    return subprocess.run(["unshare", "-m", "sh", "-euc", script], capture_output=True, text=True, env=env(),
                          cwd=tmp_path, timeout=300)


@needs_mounts
def test_disk_full_is_one_line_and_the_same_command_resumes(server: FaultServer, tmp_path: Path) -> None:
    server.content = "x" * 40_000 + " The answer is \\boxed{7}."  # ~40 KB a sample: 1 MB fills quickly
    small, keep = tmp_path / "small", tmp_path / "kept"
    small.mkdir()
    args = " ".join(run_args(server, small / "run", 40, 1))
    py = sys.executable
    script = f"""
mount -t tmpfs -o size=1m tmpfs {small}
set +e
{py} -m r1eval.cli {args} >first.out 2>first.err; echo $? >first.rc
cp -r {small}/run {keep}
mount -o remount,size=16m {small}
{py} -m r1eval.cli {args} >second.out 2>second.err; echo $? >second.rc
cp -r {small}/run {tmp_path}/final
"""
    done = _in_mount_namespace(script, tmp_path)
    assert done.returncode == 0, done.stderr
    first_err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "2", first_err
    lines = [ln for ln in first_err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in first_err, first_err
    assert "No space left on device (ENOSPC)" in lines[0] and "free space" in lines[0], lines[0]
    assert f"{small}/run/" in lines[0] and "the same command resumes" in lines[0]
    kept = sample_keys(keep / "run") if (keep / "run").exists() else sample_keys(keep)
    assert 0 < len(kept) < 40
    assert (tmp_path / "second.rc").read_text().strip() == "0", (tmp_path / "second.err").read_text()
    assert sorted(sample_keys(tmp_path / "final")) == [("60", i) for i in range(40)]
    assert strict_json(tmp_path / "final" / "summary.json")["complete"] is True


@needs_mounts
def test_read_only_output_is_one_line_and_resumes_when_writable(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "ro" / "run"
    assert cli(*run_args(server, out, 1, 1)).returncode == 0  # one sample done, then the disk turns read-only
    args = " ".join(run_args(server, out, 3, 1))
    script = f"""
mount --bind {tmp_path}/ro {tmp_path}/ro
mount -o remount,bind,ro {tmp_path}/ro
set +e
{sys.executable} -m r1eval.cli {args} >first.out 2>first.err; echo $? >first.rc
"""
    assert _in_mount_namespace(script, tmp_path).returncode == 0
    err = (tmp_path / "first.err").read_text()
    assert (tmp_path / "first.rc").read_text().strip() == "2", err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Read-only file system (EROFS)" in lines[0] and str(out) in lines[0], err
    assert sample_keys(out) == [("60", 0)]
    again = cli(*run_args(server, out, 3, 1))
    assert again.returncode == 0, again.stderr
    assert sorted(sample_keys(out)) == [("60", 0), ("60", 1), ("60", 2)]


def test_output_that_is_a_file_or_under_a_file(server: FaultServer, cli, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert_one_line_error(cli(*run_args(server, a_file, 1, 1)), str(a_file), "(EEXIST)", "not a directory")
    assert_one_line_error(cli(*run_args(server, a_file / "run", 1, 1)), "(ENOTDIR)", "not a directory")
    assert a_file.read_text() == "x" and not server.log


def test_truncated_config_is_one_line_and_deleting_it_resumes(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli(*run_args(server, out, 2, 1)).returncode == 0
    config = (out / "config.json").read_text()
    (out / "config.json").write_text(config[: len(config) // 2])
    assert_one_line_error(cli(*run_args(server, out, 2, 1)), f"{out / 'config.json'}: the run's config is truncated",
                          "delete it and rerun the same command")
    (out / "config.json").unlink()
    server.log.clear()
    again = cli(*run_args(server, out, 2, 1))
    assert again.returncode == 0, again.stderr
    assert not server.log and sorted(sample_keys(out)) == [("60", 0), ("60", 1)]


def test_corrupt_line_in_the_middle_names_the_line(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli(*run_args(server, out, 3, 1)).returncode == 0
    lines = (out / "samples.jsonl").read_text().splitlines(keepends=True)
    lines[1] = lines[1][:30] + "\n"
    (out / "samples.jsonl").write_text("".join(lines))
    assert_one_line_error(cli(*run_args(server, out, 3, 1)), f"{out / 'samples.jsonl'}:2: corrupt sample line",
                          "remove that line")


# -- grade: output path, line numbers, gold for audit ----------------------------------------------------------

def test_grade_output_directory_is_refused_before_grading(cli, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"completion": "\\boxed{2}", "answer": "2"}) + "\n")
    (tmp_path / "outdir").mkdir()
    assert_one_line_error(cli("grade", "--input", str(rows), "--output", str(tmp_path / "outdir")),
                          "is a directory", "pass a file path")


def test_grade_errors_name_the_file_line_and_grade_then_audit_works(cli, tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    good = json.dumps({"problem_id": "60", "completion": "\\boxed{204}"})
    rows.write_text(f"{good}\n\n\n" + json.dumps({"problem_id": "60"}) + "\n")
    assert_one_line_error(cli("grade", "--bench", "aime24", "--input", str(rows)), f"{rows}: line 4 has no 'completion'")
    rows.write_text(f"{good}\n\n" + json.dumps({"problem_id": "61", "completion": "\\boxed{1}"}) + "\n")
    graded = tmp_path / "graded.jsonl"
    proc = cli("grade", "--bench", "aime24", "--input", str(rows), "--output", str(graded))
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(x) for x in graded.read_text().splitlines()]
    assert out[0]["gold"] == "204" and out[0]["correct"] is True and out[1]["gold"] not in (None, "")
    audit = cli("audit", str(graded))
    assert audit.returncode == 0, audit.stderr


def test_duplicate_ids_name_the_id_and_lines(cli, tmp_path: Path) -> None:
    bench = tmp_path / "dup.jsonl"
    row = {"id": "q7", "problem": "1+1?", "answer": "2"}
    bench.write_text(json.dumps({**row, "id": "q1"}) + "\n\n" + json.dumps(row) + "\n" + json.dumps(row) + "\n")
    assert_one_line_error(cli("run", "--bench", str(bench), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                              "--model", MODEL), "id 'q7' appears twice (line 3 and line 4)")
    bench.write_text(json.dumps(row) + "\n\n" + json.dumps({"id": "q2", "problem": "1+1?"}) + "\n")
    assert_one_line_error(cli("run", "--bench", str(bench), "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                              "--model", MODEL), "line 3 has no answer field")


# -- first minutes ---------------------------------------------------------------------------------------------

def test_hub_id_not_in_the_cache_offline_is_one_line_at_once(cli, tmp_path: Path) -> None:
    started = time.time()
    proc = cli("run", "--model", "Qwen/Qwen2.5-0.5B-Typo", "--limit", "1", "-n", "1", "--output", str(tmp_path / "r"),
               env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert_one_line_error(proc, "Qwen/Qwen2.5-0.5B-Typo is not in the local Hugging Face cache", "HF_HUB_OFFLINE",
                          "pass a local directory")
    assert time.time() - started < 30  # 5 s on a quiet machine; this box is shared
    assert not (tmp_path / "r").exists()


def test_start_line_names_what_was_chosen(server: FaultServer, cli, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert cli(*run_args(server, out, 2, 1)).returncode == 0
    proc = cli(*run_args(server, out, 3, 1))
    assert proc.returncode == 0, proc.stderr
    assert (f"r1eval run: {out}, backend openai, dtype chosen by the server, concurrency 1, "
            "1 samples to do, 2 already done") in proc.stdout
    assert proc.stderr == ""


# -- partial runs are not compared unless asked -----------------------------------------------------------------

def _run_in_process(server: FaultServer, out: Path, n: int, limit: int, *extra: str) -> int:
    from r1eval.cli import main

    return main(run_args(server, out, n, limit, "--concurrency", "4", *extra))


def _gate(capsys, *args: str) -> tuple[int, str]:
    from r1eval.cli import main

    capsys.readouterr()
    code = main(["gate", *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_gate_and_report_refuse_partial_runs_unless_allowed(server: FaultServer, tmp_path: Path, capsys) -> None:
    base, extended, killed = tmp_path / "base", tmp_path / "extended", tmp_path / "killed"
    assert _run_in_process(server, base, 2, 6) == 0
    assert _run_in_process(server, extended, 2, 6) == 0
    # -n 2 -> 4 extension that fails after 5 more samples: config.json says n=4, the summary counted n=2
    server.script = [json_reply(completion())] * 5 + [MALFORMED["HTML page"]] * 2
    assert _run_in_process(server, extended, 4, 6, "--concurrency", "1", "--max-retries", "1") == 2
    server.script = [json_reply(completion())] * 7 + [MALFORMED["no choices"]] * 2
    assert _run_in_process(server, killed, 2, 6, "--concurrency", "1", "--max-retries", "1") == 2
    capsys.readouterr()

    code, out = _gate(capsys, "--baseline", str(base), "--candidate", str(base))
    assert code == 0 and "decision: ACCEPT" in out and "partial" not in out, out
    for run, why, missing in ((extended, "summary.json is stale: the run was reopened and has not finished since", "7 of 24 samples missing"),
                              (killed, "no summary.json: the run never finished", "5 of 12 samples missing")):
        code, out = _gate(capsys, "--baseline", str(base), "--candidate", str(run))
        lines = out.strip().splitlines()
        assert code == 2 and len(lines) == 1, out
        assert f"{run} is a partial run ({why}; {missing})" in lines[0] and "--allow-partial" in lines[0], out

    code, out = _gate(capsys, "--baseline", str(base), "--candidate", str(killed), "--allow-partial", "--alpha", "0.2")
    assert code in (0, 1) and "on 3 shared problems" in out, out
    assert f"note: --allow-partial: {killed} is a partial run; compared only on the 3 problems complete in both" in out
    code, out = _gate(capsys, "--baseline", str(base), "--candidate", str(killed), "--allow-partial", "--alpha", "0.2",
                      "--json")
    result = json.loads(out)
    assert result["partial"] is True and result["num_problems"] == 3 and "3 problems complete" in result["partial_note"]

    from r1eval.errors import UsageError
    from r1eval.report import write_report

    with pytest.raises(UsageError, match=f"{extended} is a partial run .*7 of 24 samples missing"):
        write_report([base, extended], tmp_path / "report")
    with pytest.raises(UsageError, match=f"{killed} has no summary.json"):  # nothing to report at all
        write_report([base, killed], tmp_path / "report", allow_partial=True)
    write_report([base, extended], tmp_path / "report", allow_partial=True)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    comps = report["comparisons"]  # extended has all 4 samples of 2 problems
    assert comps and comps[0]["shared_problems"] == 2 and "partial run" in comps[0]["partial"]
    assert "- partial: --allow-partial" in (tmp_path / "report" / "report.md").read_text()


def test_progress_counts_tokens_with_a_rate_and_an_upper_bound_eta() -> None:
    from r1eval.progress import RunProgress

    progress = RunProgress(total=4, name="t", max_tokens=100, enabled=False)
    progress.start -= 10  # ten seconds in
    progress.add_tokens(200)
    assert progress.postfix() == "200 tok, 20.0 tok/s, ETA <= 0m10s"  # (400 - 200) tokens left at 20 tok/s
    progress.add_samples(1, 50)
    assert progress.postfix().startswith("250 tok, 25.0 tok/s") and "ETA" not in progress.postfix()
