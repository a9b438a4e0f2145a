"""Programs in other languages (C++, Java, C#, JavaScript, TypeScript, PHP, Bash) in the run's process.

Sandbox side (stdlib only). The harness (trusted) says everything in the program pipe's message, under
`native`: the files to write, the argv and environment, and the phase:

- `compile`: the sources are written read-only to the program directory, the compiler runs as a child of
  this process (its stdout goes to stderr, so the run's stdout carries only the build), and when it
  exits 0 the build directory (under the working directory, where the compiler wrote it) is packed onto
  stdout as one JSON object `{"files": {relative path: [base64, executable]}}`. A compiler that fails,
  is killed or runs out of its limits leaves stdout empty; its messages are the run's stderr.
- `run`: the sources (interpreted languages) or a build (compiled ones) are written read-only to the
  program directory, then the program replaces this process (`execve`): it has the run's stdin, stdout
  and stderr and nothing else of the sandbox's.

Files are written before the process is confined (`prepare`); the names come from the harness or from
a build the harness already checked, and are checked again here (relative, no `..`, no links followed).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
from typing import Any, NoReturn

BUILD_DIR = "build"  # under the working directory: where compilers write, what a compile run packs
MAX_BUILD_FILES = 512
MAX_PATH_LEN = 255


class BadSpec(Exception):
    """The native part of the program message is malformed."""


def safe_relative(name: Any) -> str:
    """`name` if it is a plain relative path (no '..', no absolute path, no empty part), else BadSpec."""
    if not isinstance(name, str) or not name or len(name) > MAX_PATH_LEN or "\0" in name:
        raise BadSpec(f"bad file name {name!r:.80}")
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise BadSpec(f"bad file name {name!r:.80}")
    return name


def _write(directory: str, name: str, data: bytes, executable: bool) -> None:
    path = os.path.join(directory, safe_relative(name))
    os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o555 if executable else 0o444)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def prepare(spec: dict[str, Any], program_dir: str, workdir: str) -> None:
    """Before confinement: write the sources and the build (if any) to `program_dir` (read-only for the
    program), and for compile runs the build directory the compiler writes to."""
    os.makedirs(program_dir, 0o755, exist_ok=True)
    files = spec.get("files") or {}
    if not isinstance(files, dict):
        raise BadSpec("files must be an object")
    for name, text in files.items():
        if not isinstance(text, str):
            raise BadSpec("file contents must be text")
        _write(program_dir, name, text.encode("utf-8", "surrogateescape"), False)
    build = spec.get("build")
    if build is not None:
        for name, (data, executable) in unpack_build(build).items():
            _write(program_dir, name, data, executable)
    argv = spec.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise BadSpec("argv must be a non-empty list of strings")
    env = spec.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise BadSpec("env must map strings to strings")
    if spec.get("phase") not in ("compile", "run"):
        raise BadSpec("phase must be 'compile' or 'run'")


def unpack_build(build: Any) -> dict[str, tuple[bytes, bool]]:
    """{relative path: (bytes, executable)} from a packed build; BadSpec when it is malformed."""
    files = build.get("files") if isinstance(build, dict) else None
    if not isinstance(files, dict) or len(files) > MAX_BUILD_FILES:
        raise BadSpec("a build is {'files': {path: [base64, executable]}} with at most "
                      f"{MAX_BUILD_FILES} files")
    out = {}
    for name, entry in files.items():
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise BadSpec(f"bad build entry for {name!r:.80}")
        try:
            out[safe_relative(name)] = (base64.b64decode(entry[0], validate=True), bool(entry[1]))
        except ValueError:
            raise BadSpec(f"bad base64 for {name!r:.80}") from None
    return out


def _pack(directory: str) -> bytes:
    """The build directory as JSON (regular files only; links and special files are left out)."""
    files: dict[str, list] = {}
    for root, dirs, names in os.walk(directory):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in names:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if not os.path.isfile(path) or os.path.islink(path):
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            files[os.path.relpath(path, directory)] = [base64.b64encode(data).decode(), bool(st.st_mode & 0o111)]
            if len(files) > MAX_BUILD_FILES:
                raise BadSpec(f"the build has more than {MAX_BUILD_FILES} files")
    return json.dumps({"files": files}).encode()


def start(spec: dict[str, Any], env: dict[str, str]) -> NoReturn:
    """After confinement: run the phase (never returns). fds 3 and 4 (the sandbox's control pipes) are
    closed first: a native program gets only stdin, stdout and stderr."""
    for fd in (3, 4):
        with contextlib.suppress(OSError):
            os.close(fd)
    argv, full_env = list(spec["argv"]), {**env, **(spec.get("env") or {})}
    if spec["phase"] == "run":
        _exec(argv, full_env)
    os.makedirs(BUILD_DIR, 0o755, exist_ok=True)
    pid = os.fork()
    if pid == 0:
        os.dup2(2, 1)  # the compiler's messages, all of them on stderr
        _exec(argv, full_env)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        os.write(2, f"\n[the compiler was killed by {name}]\n".encode())
        os._exit(128 + sig)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        os._exit(code)
    try:
        packed = _pack(BUILD_DIR)
    except (OSError, BadSpec) as exc:
        os.write(2, f"\n[the build could not be packed: {exc}]\n".encode())
        os._exit(1)
    view = memoryview(packed)
    try:
        while view:
            view = view[os.write(1, view):]
    except OSError:
        os._exit(1)
    os._exit(0)


def _exec(argv: list[str], env: dict[str, str]) -> NoReturn:
    try:
        os.execve(argv[0], argv, env)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.write(2, f"cannot execute {argv[0]}: {exc.strerror}\n".encode())
    os._exit(127)
