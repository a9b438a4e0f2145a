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
