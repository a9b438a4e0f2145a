"""The languages the sandbox runs: one `Language` per language (files, compile, run, its own limits).

Harness side. Commands are argv templates run with the run's working directory as cwd; `../program` is
the read-only directory holding the sources (interpreted languages) or the build (compiled ones), and a
compiler writes its build to `build/` (see native.py). Placeholders: `{src}` the source file's name,
`{main}` the entry class (Java), `{heap_mb}` the heap a managed runtime may use (the run's memory limit).

Managed runtimes reserve far more address space than they use (the JVM's code cache and class space,
mono's and V8's heaps): their runs get `extra_address_mb` of RLIMIT_AS above the memory limit, their
heaps are capped by flags to the memory limit, and the run's cgroup still caps what they really use.
Compilers get their own time, memory and file-size limits (`compile_*`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

from r1eval.errors import UsageError

JAVATUPLES_JAR = "/usr/share/java/javatuples.jar"  # Debian's libjavatuples-java (MultiPL-E's Java tests)
JVM_FLAGS = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1", "-XX:ReservedCodeCacheSize=64m",
             "-XX:MaxMetaspaceSize=256m", "-XX:CompressedClassSpaceSize=64m", "-XX:-UsePerfData", "-Xshare:auto")


@dataclass(frozen=True)
class Language:
    """How to write, compile and run programs of one language in the sandbox."""

    name: str  # the key: 'cpp', 'java', ...
    title: str  # 'C++'
    packages: str  # Debian packages providing the toolchain
    tools: tuple[str, ...]  # executables that must be installed (looked up on PATH)
    source_file: str  # the source's file name ({main} is replaced)
    run: tuple[str, ...] | None  # argv; None: Python, run in-process by the sandbox's own interpreter
    compile: tuple[str, ...] | None = None  # argv writing the build to build/; None: interpreted
    fence_tags: tuple[str, ...] = ()  # markdown fence tags that name it (lower case)
    env: tuple[tuple[str, str], ...] = ()
    extra_address_mb: int = 0  # RLIMIT_AS above the memory limit (virtual reservations of a runtime)
    stack_mb: int | None = None  # RLIMIT_STACK, glibc's default thread stack (multi-threaded runtimes: small)
    nproc: int = 64  # processes and threads of a run
    compile_timeout_s: float = 30.0
    compile_memory_mb: int = 1024  # the compiler's memory (cgroup) ...
    compile_address_mb: int = 2048  # ... and address space (RLIMIT_AS)
    compile_nproc: int = 64
    out_of_memory: tuple[str, ...] = ()  # stderr texts meaning the program ran out of memory

    @property
    def compiled(self) -> bool:
        return self.compile is not None

    def main_name(self, source: str) -> str:
        """The entry class (Java: the public class, else the class declaring main, else Problem)."""
        if self.name != "java":
            return "main"
        public = re.search(r"^\s*public\s+(?:final\s+|abstract\s+)*class\s+(\w+)", source, re.MULTILINE)
        if public:
            return public.group(1)
        for match in re.finditer(r"\bclass\s+(\w+)", source):
            rest = source[match.end():]
            following = re.search(r"\bclass\s+\w+", rest)
            body = rest[: following.start()] if following else rest
            if re.search(r"static\s+void\s+main\s*\(", body):
                return match.group(1)
        return "Problem"

    def file_name(self, source: str) -> str:
        """The source's file name (Java: named after its entry class)."""
        return self.source_file.format(main=self.main_name(source))

    def argv(self, template: tuple[str, ...], source: str, heap_mb: int) -> list[str]:
        main = self.main_name(source)
        out = [a.format(src=self.source_file.format(main=main), main=main, heap_mb=heap_mb) for a in template]
        tool = shutil.which(out[0]) if not out[0].startswith(("/", ".")) else out[0]
        return [tool or out[0], *out[1:]]


LANGUAGES: dict[str, Language] = {lang.name: lang for lang in (
    Language("python", "Python", "python3", (), "solution.py", None, fence_tags=("python", "py", "python3", "py3")),
    Language("cpp", "C++", "g++", ("g++",), "main.cpp", ("../program/main",),
             ("g++", "-std=c++17", "-O2", "-pipe", "-o", "build/main", "../program/{src}"),
             fence_tags=("cpp", "c++", "cc", "cxx"), compile_address_mb=3072,
             out_of_memory=("std::bad_alloc",)),
    Language("java", "Java", "default-jdk-headless libjavatuples-java", ("javac", "java"), "{main}.java",
             ("java", "-ea", "-Xmx{heap_mb}m", "-Xss16m", *JVM_FLAGS, "-cp", f"../program:{JAVATUPLES_JAR}", "{main}"),
             ("javac", "-J-Xmx768m", *(f"-J{f}" for f in JVM_FLAGS), "-encoding", "UTF-8", "-nowarn", "-d", "build",
              "-cp", JAVATUPLES_JAR, "../program/{src}"),
             fence_tags=("java",), extra_address_mb=1536, stack_mb=16, nproc=128, compile_address_mb=4096, compile_nproc=128,
             compile_memory_mb=1536, out_of_memory=("java.lang.OutOfMemoryError",)),
    Language("cs", "C#", "mono-mcs mono-runtime", ("mcs", "mono"), "main.cs", ("mono", "../program/main.exe"),
             ("mcs", "-d:DEBUG", "-r:System.Numerics.dll", "-nowarn:219,414,162,168", "-out:build/main.exe",
              "../program/{src}"),
             fence_tags=("cs", "csharp", "c#"), env=(("MONO_GC_PARAMS", "max-heap-size={heap_mb}m"),),
             extra_address_mb=1536, stack_mb=16, nproc=128, compile_address_mb=4096, compile_nproc=128,
             out_of_memory=("System.OutOfMemoryException",)),
    Language("js", "JavaScript", "nodejs", ("node",), "main.js",
             ("node", "--max-old-space-size={heap_mb}", "--stack-size=8000", "../program/{src}"),
             fence_tags=("javascript", "js", "node"), extra_address_mb=1536, stack_mb=16, nproc=128,
             out_of_memory=("JavaScript heap out of memory",)),
    Language("ts", "TypeScript", "node-typescript nodejs", ("tsc", "node"), "main.ts",
             ("node", "--max-old-space-size={heap_mb}", "--stack-size=8000", "../program/main.js"),
             ("tsc", "--target", "es2020", "--lib", "es2020,dom", "--skipLibCheck", "--pretty", "false",
              "--outDir", "build", "../program/{src}"),
             fence_tags=("typescript", "ts"), extra_address_mb=1536, stack_mb=16, nproc=128, compile_address_mb=4096,
             compile_nproc=128, out_of_memory=("JavaScript heap out of memory",)),
    Language("php", "PHP", "php-cli", ("php",), "main.php",
             ("php", "-d", "memory_limit={heap_mb}M", "-d", "display_errors=stderr", "../program/{src}"),
             fence_tags=("php",), out_of_memory=("Allowed memory size",)),
    Language("sh", "Bash", "bash", ("bash",), "main.sh", ("bash", "../program/{src}"),
             fence_tags=("bash", "sh", "shell")),
)}
# fence tag -> language name
FENCE_TAGS = {tag: lang.name for lang in LANGUAGES.values() for tag in lang.fence_tags}


def get_language(name: str) -> Language:
    """The language called `name` (or one of its fence tags, e.g. 'c++'); UsageError naming the known ones."""
    key = FENCE_TAGS.get(name.lower(), name.lower())
    if key not in LANGUAGES:
        raise UsageError(f"unknown language {name!r}; known: {', '.join(LANGUAGES)}")
    return LANGUAGES[key]


def missing_tools(language: Language) -> list[str]:
    """The language's executables that are not installed here."""
    extra = [JAVATUPLES_JAR] if language.name == "java" and not _exists(JAVATUPLES_JAR) else []
    return [t for t in language.tools if shutil.which(t) is None] + extra


def require_toolchains(names: list[str] | tuple[str, ...]) -> None:
    """UsageError (one line naming the Debian packages to install) unless every language's toolchain is here."""
    lacking = [(LANGUAGES[n], missing_tools(LANGUAGES[n])) for n in names]
    lacking = [(lang, tools) for lang, tools in lacking if tools]
    if lacking:
        what = "; ".join(f"{lang.title} needs {', '.join(tools)}" for lang, tools in lacking)
        packages = " ".join(dict.fromkeys(p for lang, _ in lacking for p in lang.packages.split()))
        raise UsageError(f"missing toolchain: {what}; install the Debian packages: apt-get install {packages}")


def _exists(path: str) -> bool:
    import os

    return os.path.isfile(path)
