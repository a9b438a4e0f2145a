"""Run untrusted Python programs: one sandboxed process tree per run, verdicts, output checkers.

Public API (thread-safe; call it from as many threads as you like):

- ``run_program(source, *, stdin="", test_code=None, timeout_s, memory_mb, ...) -> ExecResult``; with
  ``test_code`` (HumanEval's ``check(candidate)`` and a call to it) the tests run in a separate judge
  process against the program's functions, on plain data.
- ``run_many(programs, workers=None)``, ``Program``, ``ExecResult`` (``verdict`` in VERDICTS, ``detail``,
  ``stdout``, ``stderr``, ``exit_code``, ``wall_s``, ``cpu_s``).
- ``run_stdin_tests``, ``run_functional_tests`` -> ``TestsOutcome``; ``outputs_match``.
- ``isolation()`` (the level runs get, recorded by ``Bench.provenance()``), ``isolation_report()``,
  ``allow_unsafe_no_sandbox()``, ``shutdown()``.

Modules: ``executor`` (harness side: fork server client, run protocol, verdicts), ``checkers``
(LiveCodeBench/Codeforces test styles), and the sandbox side, which runs in the fork server:
``server`` (the fork server), ``slots`` (a run slot's helper and judge process), ``runs`` (a run's
processes and the slot's spawner), ``confinement`` (the host's isolation and each process's confinement),
``rootfs`` (the read-only root), ``seccomp``, ``cgroups``, ``uids`` (uid leases), ``syscalls`` (libc),
``program`` (the program's process), ``judge`` (the tests' process), ``wire`` (frames between them).
See README.md, section "Code execution sandbox".
"""

from r1eval.grading.sandbox.checkers import (
    LCB_IMPORTS,
    TestsOutcome,
    outputs_match,
    run_functional_tests,
    run_stdin_tests,
)
from r1eval.grading.sandbox.executor import (
    DEFAULT_MEMORY_MB,
    DEFAULT_STDERR_LIMIT,
    DEFAULT_STDOUT_LIMIT,
    DEFAULT_TIMEOUT_S,
    SANDBOX_VERSION,
    VERDICTS,
    ExecResult,
    Program,
    allow_unsafe_no_sandbox,
    isolation,
    isolation_report,
    run_many,
    run_program,
    shutdown,
)

__all__ = [
    "DEFAULT_MEMORY_MB", "DEFAULT_STDERR_LIMIT", "DEFAULT_STDOUT_LIMIT", "DEFAULT_TIMEOUT_S", "LCB_IMPORTS",
    "SANDBOX_VERSION", "VERDICTS", "ExecResult", "Program", "TestsOutcome", "allow_unsafe_no_sandbox", "isolation",
    "isolation_report", "outputs_match", "run_functional_tests", "run_many", "run_program", "run_stdin_tests",
    "shutdown",
]
