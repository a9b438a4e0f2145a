"""The code reward runs completions against tests in the real sandbox."""

import json

import pytest

from r1eval.rl.rewards import code_reward

pytestmark = pytest.mark.sandbox

STDIN_TESTS = json.dumps([{"input": "2 3\n", "output": "5\n", "testtype": "stdin"},
                          {"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}])
FUNC_TESTS = [{"input": "[1, 2, 3]", "output": "6", "testtype": "functional"}]


def fenced(code: str) -> str:
    return f"<think>add them</think>\n```python\n{code}\n```"


def test_code_reward_table() -> None:
    completions = [
        fenced("a, b = map(int, input().split())\nprint(a + b)"),  # right
        fenced("a, b = map(int, input().split())\nprint(a - b)"),  # wrong answer
        fenced("while True: pass"),  # timeout
        "<think>never closed ```python\nprint(5)\n```",  # no answer region
        "",  # empty
        fenced("import os\nos.system('rm -rf /')\nprint(5)"),  # hostile, and wrong on test 2
        None,  # not a string
    ]
    rewards = code_reward([""] * len(completions), completions, tests=[STDIN_TESTS] * len(completions))
    assert rewards == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


def test_code_reward_functional_and_missing_tests() -> None:
    good = fenced("class Solution:\n    def total(self, xs):\n        return sum(xs)")
    bad = fenced("class Solution:\n    def total(self, xs):\n        return 0")
    assert code_reward(["", ""], [good, bad], tests=[FUNC_TESTS, FUNC_TESTS], func_name=["total", "total"]) == [1.0, 0.0]
    assert code_reward([""], [good], tests=[FUNC_TESTS]) == [0.0]  # no func_name column
    assert code_reward([""], [good]) == [0.0]  # no tests column


def test_code_reward_in_other_languages() -> None:
    import shutil

    import pytest

    if not all(shutil.which(tool) for tool in ("g++", "node", "php")):
        pytest.skip("toolchains not installed (.ci/run installs them)")
    cpp = "#include <cstdio>\nint main(){ long a, b; scanf(\"%ld %ld\", &a, &b); printf(\"%ld\\n\", a + b); }"
    completions = [
        f"<think>c++</think>\n```cpp\n{cpp}\n```",  # right, in C++
        f"```c++\n{cpp.replace('a + b', 'a * b')}\n```",  # wrong, in C++
        "```cpp\nint main() { return nope; }\n```",  # does not compile
        "```javascript\nconst [a, b] = require('fs').readFileSync(0, 'utf8').split(/\\s+/).map(Number);\n"
        "console.log(a + b);\n```",  # right, in JavaScript
        "```php\n<?php [$a, $b] = array_map('intval', explode(' ', trim(fgets(STDIN)))); echo $a + $b, \"\\n\";\n```",
        f"```\n{cpp}\n```",  # untagged: the code_language column says C++
        fenced("a, b = map(int, input().split())\nprint(a + b)"),  # Python still
    ]
    languages = ["python"] * 5 + ["cpp", "python"]
    rewards = code_reward([""] * len(completions), completions, tests=[STDIN_TESTS] * len(completions),
                          code_language=languages)
    assert rewards == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]
    cpp_functional = code_reward([""], [f"```cpp\n{cpp}\n```"], tests=[FUNC_TESTS], func_name=["total"])
    assert cpp_functional == [0.0]  # Solution-class tests are Python only
