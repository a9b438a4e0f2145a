"""Programs in C++, Java, C#, JavaScript, TypeScript, PHP and Bash in the real sandbox: verdicts, compile
once, compile errors with the compiler's message, byte-identical programs compiled once, missing
toolchains as one line (exit 2)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from r1eval.errors import UsageError
from r1eval.grading.sandbox import builds, run_stdin_tests
from r1eval.grading.sandbox.languages import LANGUAGES, get_language, missing_tools, require_toolchains

pytestmark = pytest.mark.sandbox

NATIVE = [name for name in LANGUAGES if name != "python"]


def needs(language: str):
    """Skip when the language's toolchain is not installed here (CI installs every one: .ci/run)."""
    return pytest.mark.skipif(bool(missing_tools(LANGUAGES[language])),
                              reason=f"{language} toolchain not installed ({LANGUAGES[language].packages})")


# a + b from stdin, right and wrong, per language (no <bits/stdc++.h>: it takes seconds to compile)
SUM = {
    "cpp": ("#include <cstdio>\nint main(){long a,b; if(scanf(\"%ld %ld\",&a,&b)!=2) return 3; printf(\"%ld\\n\",a+b);}",
            "#include <cstdio>\nint main(){long a,b; scanf(\"%ld %ld\",&a,&b); printf(\"%ld\\n\",a-b);}"),
    "java": ("import java.util.*;\npublic class Main { public static void main(String[] x) { Scanner s = new Scanner(System.in);"
             " System.out.println(s.nextLong() + s.nextLong()); } }",
             "import java.util.*;\nclass Sol { public static void main(String[] x) { Scanner s = new Scanner(System.in);"
             " System.out.println(s.nextLong() - s.nextLong()); } }"),
    "cs": ("using System;\nclass P { static void Main() { var p = Console.ReadLine().Split(' ');"
           " Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1])); } }",
           "using System;\nclass P { static void Main() { var p = Console.ReadLine().Split(' ');"
           " Console.WriteLine(long.Parse(p[0]) - long.Parse(p[1])); } }"),
    "js": ("const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number); console.log(a + b);",
           "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number); console.log(a - b);"),
    "ts": ("declare var require: any;\nconst [a, b]: number[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/)"
           ".map(Number);\nconsole.log(a + b);",
           "declare var require: any;\nconst [a, b]: number[] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/)"
           ".map(Number);\nconsole.log(a - b);"),
    "php": ("<?php\n[$a, $b] = array_map('intval', preg_split('/\\s+/', trim(stream_get_contents(STDIN))));\necho $a + $b, \"\\n\";",
            "<?php\n[$a, $b] = array_map('intval', preg_split('/\\s+/', trim(stream_get_contents(STDIN))));\necho $a - $b, \"\\n\";"),
    "sh": ("read a b\necho $((a + b))", "read a b\necho $((a - b))"),
}
TESTS = [("2 3\n", "5\n"), ("10 -4\n", "6\n")]
COMPILE_ERRORS = {
    "cpp": ("int main() { return undefined_name; }", "undefined_name"),
    "java": ("class Main { public static void main(String[] a) { int x = \"text\"; } }", "incompatible types"),
    "cs": ("class P { static void Main() { int x = \"text\"; } }", "CS0029"),
    "ts": ("const x: number = 'text';\nconsole.log(x);", "TS2322"),
}


@pytest.mark.parametrize("language", NATIVE)
def test_sum_right_and_wrong(language: str) -> None:
    if missing_tools(LANGUAGES[language]):
        pytest.skip(f"{language} toolchain not installed")
    right, wrong = SUM[language]
    out = run_stdin_tests(right, TESTS, timeout_s=10, memory_mb=512, language=language)
    assert (out.verdict, out.tests_passed) == ("passed", 2), out
    out = run_stdin_tests(wrong, TESTS, timeout_s=10, memory_mb=512, language=language)
    assert out.verdict == "wrong_answer" and out.tests_passed == 0, out
    assert "expected '5'" in out.detail


@pytest.mark.parametrize("language", sorted(COMPILE_ERRORS))
def test_compile_error_carries_the_compilers_first_lines(language: str) -> None:
    if missing_tools(LANGUAGES[language]):
        pytest.skip(f"{language} toolchain not installed")
    source, expected = COMPILE_ERRORS[language]
    out = run_stdin_tests(source, TESTS, timeout_s=10, language=language)
    assert out.verdict == "compile_error" and out.tests_passed == 0, out
    assert expected in out.detail
    assert len(out.detail.splitlines()) <= builds.ERROR_LINES


@needs("cpp")
def test_compiled_once_per_program_and_once_for_identical_programs() -> None:
    source = f"#include <cstdio>\nint main(){{long a,b; scanf(\"%ld %ld\",&a,&b); printf(\"%ld\\n\",a+b);}} // {os.urandom(8).hex()}"
    before = builds.BUILDS.compiles
    out = run_stdin_tests(source, TESTS * 3, timeout_s=10, language="cpp")
    assert out.verdict == "passed" and out.tests_passed == 6
    assert builds.BUILDS.compiles == before + 1  # six runs, one compile
    with ThreadPoolExecutor(4) as pool:  # the same program from four graders at once: still that one build
        results = list(pool.map(lambda _: run_stdin_tests(source, TESTS, timeout_s=10, language="cpp"), range(4)))
    assert all(r.passed for r in results)
    assert builds.BUILDS.compiles == before + 1
    other = source + " "  # one byte more: another program, another build
    assert run_stdin_tests(other, TESTS, timeout_s=10, language="cpp").passed
    assert builds.BUILDS.compiles == before + 2


@needs("cpp")
def test_runtime_failures_by_kind() -> None:
    crash = "#include <cstdio>\nint main(){ int *p = nullptr; *p = 1; }"
    res = builds.run_native("cpp", crash, timeout_s=5)
    assert (res.verdict, res.detail) == ("runtime_error", "killed by SIGSEGV")
    res = builds.run_native("cpp", "int main(){ return 7; }", timeout_s=5)
    assert (res.verdict, res.exit_code) == ("runtime_error", 7)
    res = builds.run_native("cpp", "#include <vector>\nint main(){ std::vector<char> v(8ull << 30, 1); return v[5]; }",
                            timeout_s=10, memory_mb=256)
    assert res.verdict == "memory_limit", res
    res = builds.run_native("cpp", "int main(){ for(;;); }", timeout_s=1)
    assert res.verdict == "timeout"


@needs("java")
def test_java_entry_class_and_javatuples_on_the_classpath() -> None:
    source = ("import org.javatuples.Pair;\npublic class Solution { public static void main(String[] a) {"
              " System.out.println(Pair.with(1, 2).getValue1()); } }")
    res = builds.run_native("java", source, timeout_s=10)
    assert (res.verdict, res.stdout.strip()) == ("passed", "2"), res.stderr
    assert get_language("java").main_name(source) == "Solution"
    assert get_language("java").main_name("class A {}\nclass B { public static void main(String[] x) {} }") == "B"


def test_language_names_and_fence_tags() -> None:
    assert get_language("c++").name == "cpp" and get_language("CSharp").name == "cs"
    assert get_language("typescript").name == "ts" and get_language("bash").name == "sh"
    with pytest.raises(UsageError, match="unknown language 'cobol'"):
        get_language("cobol")


def test_missing_toolchain_is_one_line_naming_the_debian_packages(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty PATH: no compiler is found, as on a bare machine
    with pytest.raises(UsageError) as err:
        require_toolchains(["cpp", "java", "ts"])
    message = str(err.value)
    assert "\n" not in message
    assert "apt-get install g++ default-jdk-headless libjavatuples-java node-typescript nodejs" in message


def test_missing_toolchain_exits_2_before_generation(monkeypatch, tmp_path, capsys) -> None:
    from r1eval.cli import main

    monkeypatch.setenv("PATH", str(tmp_path))
    code = main(["run", "--bench", "humaneval_mul:cpp", "--output", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "apt-get install g++" in err
    assert not (tmp_path / "run" / "samples.jsonl").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
def test_rootless_sandbox_runs_every_kind_of_language() -> None:
    """As `nobody` (user namespaces, no cgroup): C++, Java, C#, JavaScript run; a fork bomb, an 8 GB Java
    array and a hostile include are contained by the rlimits alone."""
    import json
    import subprocess
    from pathlib import Path

    from tests.test_sandbox import AS_NOBODY, _world_executable_python

    if any(missing_tools(LANGUAGES[lang]) for lang in ("cpp", "java", "cs", "js")):
        pytest.skip("toolchains missing")
    python = _world_executable_python()
    if python is None or subprocess.run([*AS_NOBODY, "unshare", "-U", "-r", "true"], capture_output=True).returncode:
        pytest.skip("no Python the unprivileged user may run, or no unprivileged user namespaces")
    repo = Path(__file__).resolve().parent.parent
    proc = subprocess.run([*AS_NOBODY, python, str(repo / "tests" / "fixtures" / "sandbox_rootless_languages.py"),
                           str(repo)], capture_output=True, text=True, timeout=600, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["isolation"].startswith("user-namespaces+seccomp") and report["failures"] == [], report
