"""Writes tests/data/lcb_fixture.jsonl: hand-written problems in the livecodebench/code_generation_lite schema.

Public tests are JSON; private tests are JSON for some problems and base64(zlib(pickle(json))) for
others, as the hub dataset stores them. Run: python tests/data/make_lcb_fixture.py
"""

import base64
import json
import pickle
import zlib
from pathlib import Path


def encoded(tests):
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def stdin_tests(pairs):
    return [{"input": i, "output": o, "testtype": "stdin"} for i, o in pairs]


def functional_tests(pairs):
    return [{"input": i, "output": o, "testtype": "functional"} for i, o in pairs]


ROWS = [
    {   # stdin, private tests encoded
        "question_title": "Sum of Two", "question_id": "abc900_a", "contest_id": "abc900", "platform": "atcoder",
        "contest_date": "2024-09-07T00:00:00", "difficulty": "easy", "starter_code": "",
        "question_content": "Given two integers A and B on one line, print A+B.",
        "public_test_cases": json.dumps(stdin_tests([("1 2\n", "3\n")])),
        "private_test_cases": encoded(stdin_tests([("10 -3\n", "7\n"), ("1000000000 1000000000\n", "2000000000\n"),
                                                   ("0 0\n", "0\n")])),
        "metadata": "{}",
    },
    {   # stdin, decimals compared as numbers, several lines, plain-JSON private tests
        "question_title": "Averages", "question_id": "abc900_b", "contest_id": "abc900", "platform": "atcoder",
        "contest_date": "2024-10-12T00:00:00", "difficulty": "medium", "starter_code": "",
        "question_content": "First line N, then N lines with two integers. For each line print their mean.",
        "public_test_cases": json.dumps(stdin_tests([("2\n1 2\n3 3\n", "1.5\n3\n")])),
        "private_test_cases": json.dumps(stdin_tests([("1\n1 4\n", "2.50\n"), ("3\n0 0\n-1 0\n5 6\n", "0\n-0.5\n5.5\n")])),
        "metadata": "{}",
    },
    {   # LeetCode functional, private tests encoded
        "question_title": "Merge Sorted", "question_id": "3900", "contest_id": "weekly-contest-900",
        "platform": "leetcode", "contest_date": "2024-11-02T00:00:00", "difficulty": "easy",
        "starter_code": "class Solution:\n    def mergeSorted(self, a: List[int], b: List[int]) -> List[int]:\n        ",
        "question_content": "Return the sorted merge of two sorted integer arrays a and b.",
        "public_test_cases": json.dumps(functional_tests([("[1, 3]\n[2]", "[1, 2, 3]")])),
        "private_test_cases": encoded(functional_tests([("[]\n[]", "[]"), ("[5]\n[1, 9]", "[1, 5, 9]"),
                                                         ("[1, 1]\n[1]", "[1, 1, 1]")])),
        "metadata": json.dumps({"func_name": "mergeSorted"}),
    },
    {   # LeetCode functional with several argument types and a bool result
        "question_title": "Has Target Sum", "question_id": "3901", "contest_id": "weekly-contest-900",
        "platform": "leetcode", "contest_date": "2025-01-18T00:00:00", "difficulty": "medium",
        "starter_code": "class Solution:\n    def hasPair(self, nums: List[int], target: int) -> bool:\n        ",
        "question_content": "Return true if two different indices i, j have nums[i] + nums[j] == target.",
        "public_test_cases": json.dumps(functional_tests([("[1, 2, 3]\n5", "true"), ("[1, 2]\n4", "false")])),
        "private_test_cases": json.dumps(functional_tests([("[2, 2]\n4", "true"), ("[]\n0", "false")])),
        "metadata": json.dumps({"func_name": "hasPair"}),
    },
    {   # outside R1's window (2024-08 .. 2025-01)
        "question_title": "Echo", "question_id": "abc800_a", "contest_id": "abc800", "platform": "atcoder",
        "contest_date": "2024-03-02T00:00:00", "difficulty": "easy", "starter_code": "",
        "question_content": "Print the input string S.",
        "public_test_cases": json.dumps(stdin_tests([("hello\n", "hello\n")])),
        "private_test_cases": encoded(stdin_tests([("a\n", "a\n")])),
        "metadata": "{}",
    },
]

if __name__ == "__main__":
    out = Path(__file__).with_name("lcb_fixture.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    print(f"wrote {out} ({len(ROWS)} problems)")
