"""Harness side for languages other than Python: compile once, run the build per test.

- `compile_program(language, source)` -> `Build`: the compiler runs in a sandboxed run of its own (the same
  isolation as programs; the language's compile time, memory and file limits), and its build comes back
  on that run's stdout. Builds are cached per harness process by (language, source bytes): a program is
  compiled once for all its tests, and byte-identical programs (the same reply sampled twice) once per
  run. Concurrent requests for the same program wait for the first compile.
- `run_native(language, source, stdin=..., ...)` -> `ExecResult`: compile (cached) if the language is
  compiled, then run the build (or the interpreted source) with the run's limits; `compile_error`
  carries the first lines of the compiler's message.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from r1eval.grading.sandbox import native
from r1eval.grading.sandbox.executor import (
    DEFAULT_MEMORY_MB,
    DEFAULT_STDERR_LIMIT,
    DEFAULT_STDOUT_LIMIT,
    DEFAULT_TIMEOUT_S,
    ExecResult,
    RunRequest,
    execute,
)
from r1eval.grading.sandbox.languages import Language, get_language

BUILD_MAX_BYTES = 32 << 20  # a packed build larger than this is a compile error
COMPILE_FILE_MB = 64  # largest file a compiler may write (RLIMIT_FSIZE): object files included
COMPILE_TMP_MB = 256  # the compile run's /tmp (sources, temporary files, the build)
CACHE_MAX_BYTES = 256 << 20  # packed builds kept per harness process (least recently used go first)
COMPILE_WALL_FACTOR = 2  # a compile's wall clock: this many times its CPU limit (a loaded machine stays fair)
ERROR_LINES, ERROR_CHARS = 12, 1500  # of the compiler's message kept in a compile_error


@dataclass
class Build:
    """A program's build: `files` (the packed build directory) when it compiled, else `error` (a
    compile_error result)."""

    language: str
    files: dict[str, Any] | None
    error: ExecResult | None = None
    compile_s: float = 0.0
    size: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


class _BuildCache:
    """Builds by key, least recently used dropped past CACHE_MAX_BYTES; one compile per key at a time."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._builds: OrderedDict[str, Build] = OrderedDict()
        self._pending: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._bytes = 0
        self.compiles = 0  # compile runs started (tests and the benchmark read it)

    def get(self, key: str, make) -> Build:
        while True:
            with self._lock:
                if key in self._builds:
                    self._builds.move_to_end(key)
                    return self._builds[key]
                waiting = self._pending.get(key)
                if waiting is None:
                    self._pending[key] = threading.Event()
                    self.compiles += 1
                    break
            waiting.wait()
        try:
            build = make()
        finally:
            with self._lock:
                event = self._pending.pop(key)
        with self._lock:
            if build.error is None or build.error.verdict == "compile_error":  # never cache the machinery's failures
                self._builds[key] = build
                self._bytes += build.size
                while self._bytes > self.max_bytes and len(self._builds) > 1:
                    _, old = self._builds.popitem(last=False)
                    self._bytes -= old.size
        event.set()
        return build

    def clear(self) -> None:
        with self._lock:
            self._builds.clear()
            self._bytes = 0


BUILDS = _BuildCache(CACHE_MAX_BYTES)


def _compile_error(res: ExecResult, language: Language) -> ExecResult:
    """The compile run's result as a compile_error with the first lines of the compiler's message."""
    if res.verdict == "timeout":
        detail = (f"the compiler ran past its time limit ({language.compile_timeout_s:g} s of CPU, "
                  f"{language.compile_timeout_s * COMPILE_WALL_FACTOR:g} s of wall time)")
    elif "SIGXCPU" in res.stderr[-200:]:
        detail = f"the compiler ran past its time limit ({language.compile_timeout_s:g} s of CPU)"
    elif res.verdict == "memory_limit":
        detail = f"the compiler ran past its memory limit ({language.compile_memory_mb} MB)"
    else:
        lines = [line.rstrip()[:300] for line in res.stderr.strip().splitlines() if line.strip()]
        detail = "\n".join(lines[:ERROR_LINES])[:ERROR_CHARS] or (res.detail or f"compiler exit code {res.exit_code}")
    return ExecResult("compile_error", detail, "", res.stderr[-ERROR_CHARS:], res.exit_code, res.wall_s, res.cpu_s)


def _compile(language: Language, source: str) -> Build:
    """One compile run (see the module docstring); a failure is a Build with a compile_error."""
    started = time.monotonic()
    spec = {"phase": "compile", "files": {language.file_name(source): source},
            "argv": language.argv(language.compile, source, language.compile_memory_mb),
            "env": {k: v.format(heap_mb=language.compile_memory_mb) for k, v in language.env}}
    res = execute(RunRequest(
        "stdin", "", native=spec, wall_s=language.compile_timeout_s * COMPILE_WALL_FACTOR,
        cpu_s=int(language.compile_timeout_s) + 1,
        memory_mb=language.compile_memory_mb, address_mb=language.compile_address_mb, file_mb=COMPILE_FILE_MB,
        tmp_mb=COMPILE_TMP_MB, nproc=language.compile_nproc, stack_mb=16 if language.stack_mb else None, stdout_limit=BUILD_MAX_BYTES * 4 // 3 + 4096,
        stdout_kept=BUILD_MAX_BYTES * 4 // 3 + 4096, timeout_label=language.compile_timeout_s))
    elapsed = time.monotonic() - started
    if res.verdict == "grader_error":
        return Build(language.name, None, res, elapsed)
    if res.verdict != "passed":
        return Build(language.name, None, _compile_error(res, language), elapsed)
    import json

    try:
        packed = json.loads(res.stdout)
        native.unpack_build(packed)
    except (ValueError, native.BadSpec) as exc:
        bad = replace(res, verdict="runtime_error", detail=f"the build could not be read back ({exc})"[:300])
        return Build(language.name, None, _compile_error(bad, language), elapsed)
    return Build(language.name, packed, None, elapsed, len(res.stdout))


def compile_program(language: str, source: str, *, compile_timeout_s: float | None = None) -> Build:
    """The program's build (compiled once per harness process for each distinct source). `compile_timeout_s`
    replaces the language's compile time limit (and is part of the cache key)."""
    lang = get_language(language)
    if compile_timeout_s is not None:
        lang = replace(lang, compile_timeout_s=float(compile_timeout_s))
    if not lang.compiled:
        return Build(lang.name, None)
    key = f"{lang.name}\0{lang.compile_timeout_s}\0{hashlib.sha256(source.encode('utf-8', 'surrogateescape')).hexdigest()}"
    return BUILDS.get(key, lambda: _compile(lang, source))


def run_native(language: str, source: str, *, stdin: str | bytes = "", timeout_s: float = DEFAULT_TIMEOUT_S,
               memory_mb: int = DEFAULT_MEMORY_MB, file_mb: int = 16, tmp_mb: int = 64,
               stdout_limit: int = DEFAULT_STDOUT_LIMIT, stderr_limit: int = DEFAULT_STDERR_LIMIT,
               compile_timeout_s: float | None = None) -> ExecResult:
    """Compile (once) and run a program of another language than Python with `stdin`; it passes when it
    exits 0. Limits as `run_program`'s; managed runtimes get their heap capped at `memory_mb`."""
    lang = get_language(language)
    build = compile_program(lang.name, source, compile_timeout_s=compile_timeout_s)
    if not build.ok:
        return replace(build.error)
    spec = {"phase": "run", "files": {} if lang.compiled else {lang.file_name(source): source},
            "build": build.files, "argv": lang.argv(lang.run, source, memory_mb),
            "env": {k: v.format(heap_mb=memory_mb) for k, v in lang.env}}
    res = execute(RunRequest(
        "stdin", "", stdin=stdin if isinstance(stdin, bytes) else stdin.encode("utf-8", "surrogateescape"),
        native=spec, wall_s=timeout_s, cpu_s=int(timeout_s) + 1, memory_mb=memory_mb,
        address_mb=memory_mb + lang.extra_address_mb if lang.extra_address_mb else None, file_mb=file_mb,
        tmp_mb=tmp_mb, nproc=lang.nproc, stack_mb=lang.stack_mb, stdout_limit=stdout_limit, stdout_kept=stdout_limit,
        stderr_limit=stderr_limit, timeout_label=timeout_s))
    if res.verdict == "runtime_error" and any(marker in res.stderr for marker in lang.out_of_memory):
        res.verdict, res.detail = "memory_limit", f"{res.detail} ({lang.title} ran out of memory)"
    return res
