"""The program's own process: run the untrusted source as a fresh module, then answer the judge's calls.

Everything here runs after the process has been confined (see `confinement.confine`); nothing it holds
decides a verdict. It has stdin, stdout and stderr, and one more descriptor per direction:

- stdin runs: CTL_FD, a *hint* pipe to the harness ("syntax", "exception" or "exit" and a short text),
  used only to name the failure of a program that already failed (exit status and output decide the
  rest);
- check and functional runs: CTL_FD carries replies to the judge and CALL_FD carries the judge's calls.
  Replies are plain data (`wire.dumps`); a program can answer anything, but only for itself.

The source is also written to a read-only file (`write_source`), the module's `__file__`, whose directory
is first on `sys.path`: `multiprocessing`'s spawn and forkserver start methods re-import the program from
it, as they would `python solution.py`.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import os
import sys
import traceback
import types
from typing import Any, NoReturn

from r1eval.grading.sandbox import wire

CTL_FD, CALL_FD = 3, 4
SOLUTION_TARGET = "__r1eval_target__"  # the callable the functional tests call
LISTED_VALUE_MAX_LEN, LISTED_VALUE_MAX_BYTES = 10_000, 64 << 10  # top-level values offered to test code


def _describe(exc: BaseException) -> tuple[str, str, str]:
    """(type name, nearest built-in exception type, message) of an exception the program raised."""
    base = next((k.__name__ for k in type(exc).__mro__ if getattr(builtins, k.__name__, None) is k), "Exception")
    try:
        message = str(exc)[:1000]
    except BaseException:  # noqa: BLE001 - a __str__ of the program's
        message = "<unprintable>"
    return type(exc).__name__[:100], base, message


def write_source(source: str, directory: str) -> str:
    """Write the program to `directory`/solution.py (read-only; the directory is the sandbox's, not the
    program's working directory); returns the path."""
    os.makedirs(directory, 0o755, exist_ok=True)
    path = os.path.join(directory, "solution.py")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o444)
    with open(fd, "w", encoding="utf-8", errors="surrogatepass") as fh:
        fh.write(source)
    return path


def run(mode: str, source: str, module_name: str, path: str) -> NoReturn:
    """Execute `source` (also at `path`); in check and functional runs, then serve calls until the judge
    closes."""
    exit_, write = os._exit, os.write  # the program may rebind anything in os or sys
    sys.argv = ["solution.py"]
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding="utf-8")
    stdout = sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8")
    stderr = sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                           errors="backslashreplace", line_buffering=True)
    for name in [n for n in sys.modules if n == "r1eval" or n.startswith("r1eval.")]:
        del sys.modules[name]  # the sandbox's own modules are not the program's business

    def flush() -> None:
        for stream in (stdout, stderr):
            with contextlib.suppress(BaseException):  # a closed or broken stream
                stream.flush()

    def report(*fields: Any) -> None:
        try:
            if mode == "stdin":
                text = "\t".join(str(f).replace("\t", " ").replace("\n", " ")[:1000] for f in fields)
                write(CTL_FD, (text + "\n").encode("utf-8", "replace"))
            else:
                wire.write_frame(CTL_FD, wire.dumps(*fields))
        except BaseException:  # noqa: BLE001, S110 - nobody listening: the verdict does not depend on it
            pass

    try:
        code = compile(source, path, "exec", dont_inherit=True)
    except BaseException as exc:  # noqa: BLE001 - SyntaxError, ValueError (null bytes), RecursionError, ...
        where = f" (line {exc.lineno})" if getattr(exc, "lineno", None) else ""
        report("syntax", f"{type(exc).__name__}: {getattr(exc, 'msg', exc)}{where}"[:500])
        exit_(1)
    module = types.ModuleType(module_name)
    module.__dict__.update(__builtins__=builtins, __file__=path)
    sys.path.insert(0, os.path.dirname(path))  # as `python solution.py` would: spawned children import it
    sys.modules["__main__"] = module if module_name == "__main__" else types.ModuleType("__main__")
    sys.modules[module_name] = module  # pickle and multiprocessing find the program's functions here
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        status = exc.code
        if status is not None and not isinstance(status, int):
            print(status, file=stderr)
            status = 1
        flush()
        if mode == "stdin":
            if status:
                report("exit", status)
            exit_(status or 0)
        report("exit", status or 0)
        exit_(status or 0)
    except BaseException as exc:  # noqa: BLE001 - every failure of the program's code
        with contextlib.suppress(BaseException):
            traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next, file=stderr)
        flush()
        report("exception", *_describe(exc))
        exit_(1)
    flush()
    if mode == "stdin":
        exit_(0)
    _serve(module, mode, report, flush, exit_)


def _listing(namespace: dict[str, Any]) -> list[list]:
    """What the program defined at top level, for the judge: callables, modules and small plain values."""
    out = []
    for name, value in list(namespace.items()):
        if not isinstance(name, str) or name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            out.append([name, "module", str(getattr(value, "__name__", ""))])
        elif callable(value):
            out.append([name, "callable", None])
        else:
            try:
                if len(value) > LISTED_VALUE_MAX_LEN:
                    continue
            except Exception:  # noqa: BLE001, S112 - no length: a scalar (or not plain data)
                pass
            try:
                if len(wire.dumps("value", value)) <= LISTED_VALUE_MAX_BYTES:
                    out.append([name, "value", value])
            except BaseException:  # noqa: BLE001, S112 - not plain data: the tests cannot use it
                continue
    return out


def _serve(module: types.ModuleType, mode: str, report, flush, exit_) -> NoReturn:
    namespace = module.__dict__
    targets: dict[str, Any] = {}

    def send(payload: bytes) -> None:
        with contextlib.suppress(BaseException):  # the judge is gone: the next read ends the loop
            wire.write_frame(CTL_FD, payload)

    report("ready", _listing(namespace) if mode == "check" else [])
    while True:
        try:
            request = wire.loads(wire.read_frame(CALL_FD, 1 << 30))
        except BaseException:  # noqa: BLE001 - the judge is done (or gone)
            flush()
            exit_(0)
        op = request[0]
        if op == "resolve":  # LiveCodeBench: Solution().<name> when the code has a Solution class
            name, use_class = request[1], request[2]
            try:
                target = getattr(namespace["Solution"](), name) if use_class else namespace[name]
                targets[SOLUTION_TARGET] = target
                report("ok")
            except BaseException as exc:  # noqa: BLE001
                report("missing", f"no function or Solution method named {name} ({_describe(exc)[0]})")
            continue
        name, args, kwargs = request[1], request[2], request[3]
        try:
            func = targets[name] if name in targets else namespace[name]
            value = func(*args, **kwargs)
        except SystemExit as exc:
            flush()
            report("raise", "SystemExit", "SystemExit", str(exc.code)[:200])
            exit_(exc.code if isinstance(exc.code, int) else 1)
        except BaseException as exc:  # noqa: BLE001
            report("raise", *_describe(exc))
            continue
        send(_encode_reply(value))


def _encode_reply(value: Any) -> bytes:
    """("return", value) as plain data, or ("opaque", type name) for what cannot cross."""
    try:
        return wire.dumps("return", value)
    except BaseException:  # noqa: BLE001 - NotPlain, RecursionError, or a __int__ of the program's that raised
        return wire.dumps("opaque", type(value).__name__[:100])
