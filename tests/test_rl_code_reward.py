"""The code reward runs completions against tests in the real sandbox."""

import json

import pytest

from rl.rewards import code_reward

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
