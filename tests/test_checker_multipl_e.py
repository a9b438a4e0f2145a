"""Checker's held-out reply shapes for HumanEval-Mul that were mis-assembled (issue 24)."""

from __future__ import annotations

import pytest

from r1eval.benches import LoadOptions, get_bench
from r1eval.benches.humaneval_mul import LANGUAGES
from r1eval.grading.sandbox.languages import LANGUAGES as SANDBOX_LANGUAGES
from r1eval.grading.sandbox.languages import missing_tools

pytestmark = pytest.mark.sandbox
HAVE_ALL = not any(missing_tools(SANDBOX_LANGUAGES[lang]) for lang in LANGUAGES)

T = "<think>count the characters</think>\n"
# correct answers for HumanEval_23_strlen whose shapes the assembler got wrong
RIGHT = {
    "java_helper_before": ("java", "```java\nprivate static long count(String s) { return s.length(); }\n"
                                   "public static long strlen(String string) {\n    return count(string);\n}\n```"),
    "java_import_helper": ("java", "```java\nimport java.util.*;\nstatic long count(String s) { return s.length(); }\n"
                                   "public static long strlen(String string) {\n    return count(string);\n}\n```"),
    "cs_one_line_in_class": ("cs", "```csharp\nclass Problem {\n"
                                   "    public static long Strlen(string str) { return str.Length; }\n}\n```"),
    "cs_expression_bodied": ("cs", "```csharp\npublic static long Strlen(string str) => str.Length;\n```"),
    "cpp_one_line": ("cpp", "```c++\nlong string_length(std::string s) { return s.size(); }\n```"),
    "js_arrow": ("js", "```javascript\nconst strlen = (s) => s.length;\n```"),
    "ts_export": ("ts", "```typescript\nexport function strlen(string: string): number {\n  return string.length;\n}\n```"),
}


@pytest.mark.skipif(not HAVE_ALL, reason="a toolchain is missing (.ci/run installs them)")
def test_held_out_reply_shapes_pass() -> None:
    bench = get_bench("humaneval_mul")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    items = [(problems[f"{lang}/HumanEval_23_strlen"], T + reply) for lang, reply in RIGHT.values()]
    for name, verdict in zip(RIGHT, bench.grade(items), strict=True):
        assert verdict.correct, (name, verdict.detail, verdict.extracted_answer)


GCD = "HumanEval_13_greatest_common_divisor"
RIGHT_GCD = {  # a body-only reply that calls the function recursively is still only the body
    "php_recursive_body": ("php", "```php\n    return $b == 0 ? $a : greatest_common_divisor($b, $a % $b);\n}\n```"),
    "java_recursive_body": ("java", "```java\n        if (b == 0) return a;\n"
                                    "        return greatestCommonDivisor(b, a % b);\n    }\n```"),
    "cpp_recursive_body": ("cpp", "```cpp\n    return b == 0 ? a : greatest_common_divisor(b, a % b);\n}\n```"),
    "cs_namespace_one_line": ("cs", "```csharp\nusing System;\nnamespace App {\n  class Problem {\n"
                                    "    public static long GreatestCommonDivisor(long a, long b) "
                                    "{ return b == 0 ? a : GreatestCommonDivisor(b, a % b); }\n  }\n}\n```"),
}


def test_definition_is_not_a_recursive_call() -> None:
    from r1eval.grading import multipl_e
    bench = get_bench("humaneval_mul")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    for name, (lang, reply) in RIGHT_GCD.items():
        meta = problems[f"{lang}/{GCD}"].meta
        source = multipl_e.program(lang, meta["prompt"], meta["tests"], T + reply)
        assert source is not None and source.startswith(meta["prompt"].split("\n")[0]), name
        if name.endswith("_body"):  # the whole prompt, signature included, then the body
            assert meta["prompt"].rstrip() in source, (name, source)


@pytest.mark.skipif(not HAVE_ALL, reason="a toolchain is missing (.ci/run installs them)")
def test_recursive_bodies_and_namespaced_one_liners_pass() -> None:
    bench = get_bench("humaneval_mul")
    problems = {p.id: p for p in bench.load(LoadOptions())}
    items = [(problems[f"{lang}/{GCD}"], T + reply) for lang, reply in RIGHT_GCD.values()]
    for name, verdict in zip(RIGHT_GCD, bench.grade(items), strict=True):
        assert verdict.correct, (name, verdict.detail, verdict.extracted_answer)


@pytest.mark.skipif(not HAVE_ALL, reason="a toolchain is missing (.ci/run installs them)")
def test_runtime_error_says_why() -> None:
    """MultiPL-E's PHP strlen redeclares a builtin: the verdict names PHP's fatal error, not only 'exit code 255'."""
    bench = get_bench("humaneval_mul")
    problem = next(p for p in bench.load(LoadOptions()) if p.id == "php/HumanEval_23_strlen")
    verdict = bench.grade([(problem, T + "```php\nfunction strlen($string) {\n    return mb_strlen($string);\n}\n```")])[0]
    assert verdict.detail["verdict"] == "runtime_error" and "redeclare" in verdict.detail["error"], verdict.detail


def test_every_prompt_signature_reads_as_a_definition() -> None:
    """A reply that repeats the prompt's signature is always read as the whole function, in every language."""
    import re

    from r1eval.grading import multipl_e
    for problem in get_bench("humaneval_mul").load(LoadOptions()):
        lang = problem.meta["language"]
        if lang == "python":
            continue
        _, signature, name = multipl_e._signature(problem.meta["prompt"])
        assert re.search(multipl_e._definition(lang, name), signature + "\n"), (problem.id, signature)
