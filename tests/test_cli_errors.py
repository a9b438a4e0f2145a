"""Bad input: one clear line on stderr, exit code 2, no traceback. In-process (`main_cli`); the first test
and `test_list` run a real interpreter (`cli`)."""

import json
from pathlib import Path

import pytest


def assert_one_line_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_unknown_bench_lists_known(cli) -> None:
    assert_one_line_error(cli("run", "--bench", "aime2099"), "unknown bench 'aime2099'", "aime24", "math500")


def test_missing_model_path(main_cli, tmp_path: Path) -> None:
    assert_one_line_error(main_cli("run", "--model", str(tmp_path / "nope"), "--limit", "1"), "model path not found")
    assert_one_line_error(main_cli("run", "--model", str(tmp_path / "nope.gguf")), "model file not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(main_cli("run", "--model", str(tmp_path / "empty")), "no config.json")


@pytest.mark.parametrize("flags,needle", [
    (["-n", "0"], "-n"),
    (["--top-p", "1.5"], "--top-p"),
    (["--temperature", "-1"], "--temperature"),
    (["--max-tokens", "0"], "--max-tokens"),
    (["--limit", "-3"], "--limit"),
    (["--seed", "-1"], "--seed"),
    (["--temperature", "hot"], "--temperature"),
    (["--no-such-flag"], "unrecognized"),
    (["--top-k", "-1"], "--top-k"),
    (["--min-p", "2"], "--min-p"),
    (["--repetition-penalty", "0"], "--repetition-penalty"),
    (["--presence-penalty", "9"], "--presence-penalty"),
    (["--chat-template-kwargs", "{enable_thinking: true}"], "--chat-template-kwargs: not valid JSON"),
    (["--chat-template-kwargs", "[1, 2]"], "expected a JSON object"),
    (["--chat-template-kwargs", '{"add_generation_prompt": false}'], "can't set add_generation_prompt"),
])
def test_flag_out_of_range(main_cli, flags: list[str], needle: str) -> None:
    assert_one_line_error(main_cli("run", *flags), needle)


def test_malformed_bench_jsonl_names_the_line(main_cli, tmp_path: Path) -> None:
    bad = tmp_path / "mine.jsonl"
    bad.write_text('{"problem": "1+1?", "answer": "2"}\n{"problem": oops}\n')
    assert_one_line_error(main_cli("run", "--bench", str(bad)), "mine.jsonl:2")
    no_answer = tmp_path / "noanswer.jsonl"
    no_answer.write_text('{"problem": "1+1?"}\n')
    assert_one_line_error(main_cli("run", "--bench", str(no_answer)), "line 1 has no answer", "answer")


def test_grade_bad_rows(main_cli, tmp_path: Path) -> None:
    f = tmp_path / "c.jsonl"
    f.write_text(json.dumps({"answer": "2"}) + "\n")
    assert_one_line_error(main_cli("grade", "--input", str(f)), "no 'completion'")
    f.write_text(json.dumps({"completion": "\\boxed{2}", "problem_id": "nope"}) + "\n")
    assert_one_line_error(main_cli("grade", "--input", str(f), "--bench", "aime24"), "problem_id 'nope'")
    f.write_text("not json\n")
    assert_one_line_error(main_cli("grade", "--input", str(f)), "c.jsonl:1")
    assert_one_line_error(main_cli("grade", "--input", str(tmp_path / "absent.jsonl")), "file not found")


def test_grade_command(main_cli, tmp_path: Path) -> None:
    rows = [
        {"completion": "<think>maybe \\boxed{3}</think> so \\boxed{\\frac{1}{2}}", "answer": "0.5"},
        {"completion": "\\boxed{204}", "problem_id": "60"},  # aime24 id 60: gold 204
        {"completion": "\\boxed{205}", "problem_id": "60"},
    ]
    f = tmp_path / "c.jsonl"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "graded.jsonl"
    proc = main_cli("grade", "--input", str(f), "--bench", "aime24", "--output", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "accuracy 0.6667 (2/3)" in proc.stdout
    graded = [json.loads(x) for x in out.read_text().splitlines()]
    assert [g["correct"] for g in graded] == [True, True, False]
    assert graded[0]["extracted_answer"] == "\\frac{1}{2}"


def test_list(cli) -> None:
    proc = cli("list")
    assert proc.returncode == 0
    for name in ("aime24", "aime25", "amc23", "math500"):
        assert name in proc.stdout


def test_console_script_speaks_one_line(tmp_path: Path) -> None:
    """The installed `r1eval` entry point (pyproject's [project.scripts]) exits 2 with one line, as `main` does."""
    import os
    import shutil
    import subprocess
    import sys

    script = shutil.which("r1eval", path=str(Path(sys.executable).parent)) or shutil.which("r1eval")
    assert script, "the r1eval console script is not installed (pip install -e .)"
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([script, "run", "--top-p", "2"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(repo)}, cwd=tmp_path)
    assert_one_line_error(proc, "--top-p must be in (0, 1] (got 2.0)")
