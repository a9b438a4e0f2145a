"""HumanEval-Mul: loading the eight languages, reading replies the DeepSeek-Coder way, grading in the real
sandbox (right, wrong, non-compiling, tests that never finished), the per-language summary and the
`r1eval grade` verb."""

from __future__ import annotations

import json

import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.humaneval_mul import BUNDLED, LANGUAGES, HumanEvalMulBench, parse_languages
from r1eval.errors import UsageError
from r1eval.grading import multipl_e
from r1eval.grading.sandbox.languages import LANGUAGES as SANDBOX_LANGUAGES
from r1eval.grading.sandbox.languages import missing_tools
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.sandbox

ADD = "HumanEval_53_add"
HAVE_ALL = not any(missing_tools(SANDBOX_LANGUAGES[lang]) for lang in LANGUAGES)
needs_toolchains = pytest.mark.skipif(not HAVE_ALL, reason="a toolchain is missing (.ci/run installs them)")
# reasoning, then a fenced answer: the whole function (with an include or import the prompt also has)
RIGHT = {
    "python": "```python\ndef add(x: int, y: int):\n    return x + y\n```",
    "java": "```java\nimport java.util.*;\nclass Problem {\n    public static long add(long x, long y) {\n"
            "        return x + y;\n    }\n    public static void main(String[] args) { }\n}\n```",
    "cpp": "```cpp\n#include <cstdio>\nlong add(long x, long y) {\n    return x + y;\n}\nint main() { return 0; }\n```",
    "cs": "```csharp\nusing System;\nclass Problem {\n    static long Twice(long v) { return v + v; }\n"
          "    public static long Add(long x, long y) {\n        return Twice(x) - x + y;\n    }\n}\n```",
    "js": "```javascript\nfunction add(x, y){\n  return x + y;\n}\nconsole.log(add(2, 3));\n```",
    "ts": "```typescript\nfunction add(x: number, y: number): number {\n  return x + y;\n}\n```",
    "php": "```php\n<?php\nfunction add($x, $y) {\n    return $x + $y;\n}\n?>\n```",
    "sh": "```bash\n#!/bin/bash\nadd() {\n    echo $(( $1 + $2 ))\n}\n```",
}
WRONG = {  # only the body, off by one
    "python": "```python\n    return x + y + 1\n```",
    "java": "```java\n        return x + y + 1;\n    }\n```",
    "cpp": "```cpp\n    return x + y + 1;\n}\n```",
    "cs": "```csharp\n        return x + y + 1;\n```",
    "js": "```js\n  return x + y + 1;\n```",
    "ts": "```ts\n  return x + y + 1;\n}\n```",
    "php": "```php\n    return $x + $y + 1;\n```",
    "sh": "```sh\n    echo $(( $1 + $2 + 1 ))\n```",
}


def test_bundled_data_and_ids() -> None:
    bench = get_bench("humaneval_mul")
    assert bench.languages == LANGUAGES
    problems = bench.load(LoadOptions()) if HAVE_ALL else None
    if problems is not None:
        counts = {lang: sum(p.id.startswith(lang + "/") for p in problems) for lang in LANGUAGES}
        assert counts == {"python": 164, "java": 158, "cpp": 161, "cs": 158, "js": 161, "ts": 159, "php": 161, "sh": 158}
        ids = {p.id for p in problems}
        assert {"cpp/HumanEval_23_strlen", "python/HumanEval_0_has_close_elements", f"sh/{ADD}"} <= ids
        assert len(ids) == len(problems)
        first = next(p for p in problems if p.id == "cpp/HumanEval_23_strlen")
        assert "```cpp\n#include<assert.h>" in first.messages[0]["content"]
    for lang in LANGUAGES:  # the bundled copy is the shared snapshot, unchanged
        assert (BUNDLED / f"humaneval-{lang}.jsonl").read_bytes() == (
            SHARED_DATA / "humaneval_mul" / f"humaneval-{lang}.jsonl").read_bytes()


def test_language_subsets_and_bad_names() -> None:
    assert parse_languages("humaneval_mul:cpp") == ("cpp",)
    assert parse_languages("humaneval_mul:cpp,java,cpp") == ("cpp", "java")
    assert get_bench("humaneval_mul:ts").languages == ("ts",)
    with pytest.raises(UsageError, match="unknown language rust"):
        get_bench("humaneval_mul:rust")


def test_data_dir_with_some_languages(tmp_path, capsys) -> None:
    (tmp_path / "humaneval-cpp.jsonl").write_text((BUNDLED / "humaneval-cpp.jsonl").read_text())
    if not HAVE_ALL:
        pytest.skip("toolchains missing")
    with pytest.raises(UsageError, match=r"humaneval-sh.jsonl not found: humaneval_mul:sh,cpp needs"):
        HumanEvalMulBench.named("humaneval_mul:sh,cpp").load(LoadOptions(data=tmp_path))
    bench = HumanEvalMulBench.named("humaneval_mul")  # all eight: the languages DIR has, and it says so
    problems = bench.load(LoadOptions(data=tmp_path))
    assert {p.id.split("/")[0] for p in problems} == {"cpp"} and bench.loaded_languages == ("cpp",)
    assert "has no data for python, java, cs, js, ts, php, sh; pass@1 is the mean over cpp" in capsys.readouterr().err
    assert bench.provenance()["languages"] == ["cpp"]
    with pytest.raises(UsageError, match="must be a directory"):
        bench.load(LoadOptions(data=tmp_path / "humaneval-cpp.jsonl"))
    with pytest.raises(UsageError, match="humaneval-python.jsonl not found"):
        bench.load(LoadOptions(data=tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None)


PROMPT_CPP = "#include<assert.h>\n#include<bits/stdc++.h>\n// Add\nlong add(long x, long y) {\n"
TESTS_CPP = "}\nint main() {\n    auto candidate = add;\n    assert(candidate(1, 2) == 3);\n}\n"


def test_program_whole_function_body_only_and_raw_continuation() -> None:
    whole = multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "<think>x</think>\n```cpp\nint helper() { return 0; }\n"
                              "long add(long x, long y) {\n    return x + y + helper();\n}\nint main() { return 1; }\n```")
    assert whole.startswith("#include<assert.h>\n#include<bits/stdc++.h>\n// Add\nint helper()")
    assert whole.count("int main") == 1 and "return 1;" not in whole  # the answer's main is dropped
    assert whole.count("long add(") == 1
    body = multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "```cpp\n    return x + y;\n```")
    assert body.startswith(PROMPT_CPP + "    return x + y;\n}\nint main()")
    raw = multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "    return x + y;\n")
    assert raw.startswith(PROMPT_CPP + "    return x + y;\n")
    assert multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "<think>unfinished") is None
    assert multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "```python\nprint(1)\n```") is None  # another language
    assert multipl_e.program("cpp", PROMPT_CPP, TESTS_CPP, "Here:\n```cpp\nlong add(long x, long y) {") is None  # cut
    assert multipl_e.MARKER in whole and multipl_e.MARKER in body


def test_marker_sits_after_the_last_test() -> None:
    java = "    }\n    public static void main(String[] args) {\n    assert(add(1, 2) == 3);\n    }\n\n}\n"
    marked = multipl_e.with_marker("java", java)
    assert marked.index("assert(add") < marked.index(multipl_e.MARKER) < marked.rindex("    }\n\n}")
    cs = "    }\n    public static void Main(string[] args) {\n    Debug.Assert(Add(1, 2) == 3);\n    }\n\n}\n"
    marked = multipl_e.with_marker("cs", cs)
    assert marked.index("Listeners.Add") < marked.index("Debug.Assert(Add") < marked.index(multipl_e.MARKER)
    assert multipl_e.with_marker("sh", "run_test").endswith(f"run_test\necho {multipl_e.MARKER}\n")
    assert multipl_e.finished(f"noise\n{multipl_e.MARKER}\n") and not multipl_e.finished(f"x{multipl_e.MARKER}")


@needs_toolchains
def test_right_and_wrong_answers_in_every_language() -> None:
    bench = get_bench("humaneval_mul")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    items = []
    for lang in LANGUAGES:
        pid = f"{lang}/{ADD}" if lang != "python" else "python/HumanEval_53_add"
        items += [(problems[pid], f"<think>add them</think>\n{RIGHT[lang]}"), (problems[pid], WRONG[lang])]
    verdicts = bench.grade(items)
    for (problem, _), verdict in zip(items[::2], verdicts[::2], strict=True):
        assert verdict.correct, (problem.id, verdict.detail)
    for (problem, _), verdict in zip(items[1::2], verdicts[1::2], strict=True):
        assert not verdict.correct, (problem.id, verdict.detail)
        assert verdict.detail["verdict"] == "wrong_answer", (problem.id, verdict.detail)


@needs_toolchains
def test_programs_that_end_before_their_tests_fail() -> None:
    bench = get_bench("humaneval_mul")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    cheats = [
        ("cpp", "```cpp\n#include <cstdlib>\nstruct Early { Early() { std::exit(0); } } early;\n"
                "long add(long x, long y) {\n    return 0;\n}\n```"),
        ("java", "```java\nclass Problem {\n    static { Thread.setDefaultUncaughtExceptionHandler((t, e) -> "
                 "Runtime.getRuntime().halt(0)); }\n    public static long add(long x, long y) {\n        return 0;\n"
                 "    }\n}\n```"),
        ("java", "```java\nclass Problem {\n    public static long add(long x, long y) {\n        try { assert false; }"
                 " catch (AssertionError e) { System.exit(0); }\n        return 0;\n    }\n}\n```"),
        ("cs", "```csharp\n    public static long Add(long x, long y) {\n        System.Environment.Exit(0);\n"
               "        return 0;\n    }\n```"),
        ("js", "```javascript\nfunction add(x, y){\n  process.exit(0);\n}\n```"),
        ("php", "```php\nfunction add($x, $y) {\n    exit(0);\n}\n```"),
        ("sh", "```bash\nexit 0\nadd() {\n    echo 0\n}\n```"),
    ]
    verdicts = bench.grade([(problems[f"{lang}/{ADD}"], reply) for lang, reply in cheats])
    for (lang, _), verdict in zip(cheats, verdicts, strict=True):
        assert not verdict.correct, (lang, verdict.detail)
        assert verdict.detail["verdict"] == "runtime_error", (lang, verdict.detail)
        assert "completion marker" in verdict.detail["error"], (lang, verdict.detail)


@needs_toolchains
def test_grade_verb_and_compile_errors(tmp_path) -> None:
    from r1eval.cli import main

    rows = [{"id": 1, "problem_id": f"cpp/{ADD}", "completion": RIGHT["cpp"]},
            {"id": 2, "problem_id": f"ts/{ADD}", "completion": "```ts\nfunction add(x: number, y: number): number {\n"
                                                             "  const s: string = x + y;\n  return s;\n}\n```"},
            {"id": 3, "problem_id": f"java/{ADD}", "completion": "```java\n        return x + y\n    }\n```"},
            {"id": 4, "problem_id": f"python/{ADD}", "completion": "no code at all ```"}]
    src, out = tmp_path / "rows.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["grade", "--bench", "humaneval_mul", "--input", str(src), "--output", str(out)]) == 0
    graded = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert graded[1]["correct"] and graded[1]["detail"]["verdict"] == "passed"
    assert graded[2]["detail"]["verdict"] == "compile_error" and "TS2322" in graded[2]["detail"]["error"]
    assert graded[3]["detail"]["verdict"] == "compile_error" and "';' expected" in graded[3]["detail"]["error"]
    assert graded[4]["detail"]["verdict"] == "no_code"


def test_summary_is_the_mean_over_languages() -> None:
    bench = HumanEvalMulBench.named("humaneval_mul:cpp,sh,php")
    per_problem = ([{"problem_id": f"cpp/p{i}", "n": 2, "correct": 2, "pass@1": 1.0} for i in range(3)]
                   + [{"problem_id": "sh/p0", "n": 2, "correct": 0, "pass@1": 0.0}])
    extra = bench.extra_summary({"per_problem": per_problem, "pass@1": 0.75}, [], [])
    assert extra["pass@1"] == 0.5 and extra["pass@1_pooled"] == 0.75  # (1.0 + 0.0) / 2 languages, not 3/4
    assert extra["per_language"]["cpp"] == {"pass@1": 1.0, "pass@k": {"1": 1.0, "2": 1.0}, "num_problems": 3}
    assert extra["per_language"]["php"]["pass@1"] is None and "2 of 3 languages" in extra["pass@1_note"]
    assert extra["pass@k"] == {"1": 0.5, "2": 0.5}
    lo, hi = extra["pass@1_ci95"]
    assert lo <= 0.5 <= hi


def test_report_table_per_language() -> None:
    from r1eval.benches.humaneval_mul import per_language_lines

    summary = {"pass@1": 0.5, "per_language": {"cpp": {"pass@1": 1.0, "num_problems": 3},
                                               "sh": {"pass@1": 0.0, "num_problems": 1}}}
    lines = per_language_lines([("base", "humaneval_mul:cpp,sh", summary), ("other", "aime24", {"pass@1": 0.1})])
    assert lines[0] == "## HumanEval-Mul per language"
    assert "| model | bench | cpp | bash | mean |" in lines
    assert "| base | humaneval_mul:cpp,sh | 1.000 (3) | 0.000 (1) | 0.500 |" in lines
    assert per_language_lines([("other", "aime24", {"pass@1": 0.1})]) == []
