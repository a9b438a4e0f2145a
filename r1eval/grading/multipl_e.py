"""HumanEval-Mul programs: a model's reply to a MultiPL-E problem becomes `prompt` + completion + `tests`.

The reply is read the way DeepSeek-Coder's instruct evaluation reads it (Evaluation/HumanEval,
`extract_generation_code` in deepseek-ai/DeepSeek-Coder): the last fenced block of the answer (after
`</think>`) in the problem's language (or untagged), its `main` dropped; when it holds the function
(its name appears), the prompt's lines before the signature (imports, headers, `class Problem {`) are kept
and the block replaces the function, up to the function's closing brace, which the tests supply for C++,
Java, C# and Bash; when it holds only the body, it follows the whole prompt. A reply without any fence
(not even an unclosed one) is a raw continuation of the prompt (MultiPL-E's own completion format). Two departures, both to accept
more correct answers: helpers a C++/JS/TS/PHP/Bash block defines before the function are kept (DeepSeek
starts the block at the signature), and a Java/C# block keeps every member of its class.

Every program ends with a completion marker printed after the last test (`with_marker`): a program that
exits 0 before its tests finish (from a C++ global constructor, a Java shutdown hook or uncaught-exception
handler) prints no marker and fails. C#'s `Debug.Assert` is made fatal (mono only logs a failed assert).
"""

from __future__ import annotations

import re
import secrets

from r1eval.grading.code import fenced_blocks
from r1eval.grading.sandbox.languages import LANGUAGES
from r1eval.reasoning import answer_region

# printed after the last test; random per process so that no model can have learnt it
MARKER = f"R1EVAL-TESTS-FINISHED-{secrets.token_hex(8)}"
_MAIN = {"cpp": "int main(", "java": "public static void main", "cs": "public static void Main"}
_TESTS_CLOSE_FUNCTION = ("cpp", "java", "cs", "sh")  # their tests start with the function's closing brace
_CS_FAIL_FAST = """
class R1evalAssertsFail : System.Diagnostics.TraceListener {
    public override void Write(string message) {}
    public override void WriteLine(string message) {}
    public override void Fail(string message, string detail) {
        System.Console.Error.WriteLine("Debug.Assert failed " + message + " " + detail);
        System.Environment.Exit(1);
    }
}
"""


def with_marker(language: str, tests: str) -> str:
    """The tests with the completion marker printed after the last one (C#: failed asserts exit 1)."""
    if language in ("cpp", "java", "cs"):
        close = tests.rfind("}")
        if language != "cpp":  # the class's closing brace comes after main's
            close = tests.rfind("}", 0, close)
        if close < 0:
            raise ValueError(f"{language} tests without main's closing brace")
        line = {"cpp": f'std::puts("{MARKER}"); std::fflush(stdout);',
                "java": f'System.out.println("{MARKER}"); System.out.flush();',
                "cs": f'System.Console.WriteLine("{MARKER}");'}[language]
        tests = tests[:close] + f"    {line}\n    " + tests[close:]
        if language == "cs":
            main = re.search(r"static\s+void\s+Main\s*\([^)]*\)\s*\{", tests)
            if main is None:
                raise ValueError("C# tests without Main")
            setup = ("System.Diagnostics.Debug.Listeners.Clear(); "
                     "System.Diagnostics.Debug.Listeners.Add(new R1evalAssertsFail());")
            tests = tests[:main.end()] + f"\n    {setup}" + tests[main.end():] + _CS_FAIL_FAST
        return tests
    if language in ("js", "ts"):
        return f'{tests}\nconsole.log("{MARKER}");\n'
    if language == "php":
        return f'{tests}\necho "{MARKER}\\n";\n'
    if language == "sh":
        return f"{tests}\necho {MARKER}\n"
    raise ValueError(f"no completion marker for {language}")


def finished(stdout: str) -> bool:
    """Whether the program printed the completion marker (its tests ran to the end)."""
    return MARKER in stdout.splitlines()


def _signature(prompt: str) -> tuple[str, str, str]:
    """(prompt before the signature line, the signature line, the function's name)."""
    lines = prompt.rstrip().split("\n")
    index = max(i for i, line in enumerate(lines) if line.strip())
    signature = lines[index]
    before = signature.split("(")[0].split()
    name = before[-1] if before else ""
    if name.endswith("()"):  # Bash: name() {
        name = name[:-2]
    return "\n".join(lines[:index]), signature, name.lstrip("$&*")


def _block(completion: str, language: str) -> tuple[str | None, bool]:
    """(the last fenced block in the language or untagged, whether the answer had any fence); None when the
    reasoning never closed (then (None, False))."""
    blocks = fenced_blocks(completion)
    if blocks is None:
        return None, False
    tags = set(LANGUAGES[language].fence_tags) | {""}
    mine = [body for tag, body in blocks if tag in tags]
    return (mine[-1] if mine else None), bool(blocks)


def _braces(text: str) -> int:
    return text.count("{") - text.count("}")


# a function the tests' leading closing brace can close, after a block whose function is already closed
_OPEN_STUB = {"cpp": "static void r1eval_unused_() {", "java": "static void r1evalUnused() {",
              "cs": "static void R1evalUnused() {", "sh": "r1eval_unused_() {\n    :"}


def _leave_open(language: str, body: str) -> str:
    """The body with one brace left open for the tests to close (a one-line or expression-bodied function)."""
    body = body.rstrip()
    if _braces(body) == 0 and body.endswith("}"):
        return body[:-1]
    return body + "\n" + _OPEN_STUB[language]


def _definition(language: str, name: str) -> str:
    """A regex for where the block defines the function (a recursive call in a body-only block is not one)."""
    name = re.escape(name)
    if language in ("js", "ts", "php"):
        return rf"\bfunction\s*&?\s*{name}\s*[(<]|\b(?:const|let|var)\s+{name}\s*[=:]"
    if language == "sh":
        return rf"(?m)^[ \t]*(?:function\s+)?{name}\s*\(\s*\)|\bfunction\s+{name}\b"
    # C++/Java/C#: a return type (and modifiers) before the name, on its line
    words = r"(?:(?!(?:return|else|new|throw|case|await|yield|goto)\b)[\w:<>,\[\]*&?.]+[ \t]+)+"
    return rf"(?m)^[ \t]*{words}[*&]?{name}\s*(?:<[^>()]*>)?\s*\("


def _matching_brace(code: str, opening: int) -> int | None:
    """The index of the brace closing the one at `opening` (braces in strings are not told apart)."""
    depth = 0
    for index in range(opening, len(code)):
        depth += {"{": 1, "}": -1}.get(code[index], 0)
        if depth == 0:
            return index
    return None


def program(language: str, prompt: str, tests: str, completion: str) -> str | None:
    """The MultiPL-E program for a reply (tests with the completion marker), or None without code."""
    if answer_region(completion) is None:
        return None
    code, fenced = _block(completion, language)
    if code is None:
        if fenced or "```" in answer_region(completion):
            return None  # fenced code, but not in this language (or a fence never closed: a cut reply)
        return prompt + answer_region(completion) + "\n" + with_marker(language, tests)
    if language in _MAIN and _MAIN[language] in code:
        code = code[:code.index(_MAIN[language])]
    if language == "php":
        code = code.replace("<?php", "", 1) if code.lstrip().startswith("<?php") else code
        code = code.rstrip().removesuffix("?>")
    if language in ("js", "ts"):  # an exported function runs as a plain one (exports make an ES module)
        code = re.sub(r"(?m)^(\s*)export\s+(default\s+)?", r"\1", code)
    prefix, signature, name = _signature(prompt)
    found = re.search(_definition(language, name), code) if name else None
    if found is None:  # only the body: it follows the whole prompt
        body = code.rstrip()
        if _braces(body) < 0 and language in _TESTS_CLOSE_FUNCTION:
            body = body[:body.rindex("}")]
        elif _braces(body) >= 0 and language not in _TESTS_CLOSE_FUNCTION:
            body += "\n}"
        return prompt + body + "\n" + with_marker(language, tests)
    line_start = code.rfind("\n", 0, found.start()) + 1
    indent = len(code[line_start:]) - len(code[line_start:].lstrip(" "))
    start = 0
    if language in ("java", "cs"):  # keep every member of the block's class, not its class line
        opening = re.search(r"\bclass\s+\w+[^{]*\{[^\n]*\n", code[:line_start])
        if opening:
            start = opening.end()
            close = _matching_brace(code, opening.start() + opening.group().index("{"))
            code = code[:close] if close is not None else code  # drop the class's brace and a namespace's
        else:  # bare members: keep the helpers before the function, not the imports (the prompt has them)
            code = re.sub(r"(?m)^\s*(import|using)\s+[\w.*]+\s*;[ \t]*\n", "", code[:line_start]) + code[line_start:]
    aligned = code.rfind("\n" + " " * indent + "}")  # the function's closing brace, as DeepSeek finds it
    brace = aligned + 1 + indent if aligned >= 0 else code.rfind("}")
    if brace < start:
        body = code[start:]
    elif language in _TESTS_CLOSE_FUNCTION:
        body = code[start:brace]
    else:
        body = code[start:brace + 1]
    if language in _TESTS_CLOSE_FUNCTION and _braces(body) < 1:
        body = _leave_open(language, body)
    return prefix + "\n" + body.rstrip("\n") + "\n" + with_marker(language, tests)


# what each language's tests print when an assertion fails (Bash's `[[ ]]` under `set -e` exits 1 silently)
ASSERTION_FAILED = {"cpp": "Assertion `", "java": "java.lang.AssertionError", "cs": "Debug.Assert failed",
                    "js": "AssertionError", "ts": "AssertionError", "php": "Test failed!"}


def failed_assertion(language: str, stderr: str, exit_code: int | None) -> bool:
    """Whether a failed run is one of the tests' assertions failing (a wrong answer)."""
    if language == "sh":
        return exit_code == 1
    return ASSERTION_FAILED.get(language, "\0") in stderr
