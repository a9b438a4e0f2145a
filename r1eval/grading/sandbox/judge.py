"""The judge: runs each run's tests outside the program's process and reports the verdict.

One judge per run slot, long-lived (started by the slot's helper, see server.py), in namespaces of its
own (PID, network, mount, IPC, UTS) and, with root, under a uid of its own; it is not dumpable, has no
capabilities and the same seccomp filter as programs. The program cannot see, signal, trace or read it;
it shares only two pipes with it (calls in, replies out). The judge reads a run's tests (HumanEval
test code, or LiveCodeBench inputs and expected outputs) from a pipe that only it holds (the harness
writes them), so they never exist in the program's memory. Values
come back from the program as plain data (`wire`): no object of the program's decides an equality.
Time limits are measured here, on the judge's clock, per call; the helper's clock bounds the whole run
and replaces a judge that does not finish.

- check runs: the test code (e.g. `def check(candidate): assert ...` then `check(f)`) runs in a fresh
  namespace where every top-level callable of the program is a proxy that calls it in the program's
  process, the program's small plain top-level values are copied (and its modules, when the judge has
  them loaded already), built-in names are never taken from the program, and the problem's own setup
  code (HumanEval's prompt) defines the helpers the tests use.
- functional runs: each input (JSON lines) is passed to `Solution().<func_name>` (or a top-level
  function), with a time limit per test and for the module's own top-level code; the result must equal
  the expected JSON value (a tuple counts as a list, as in LiveCodeBench).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import keyword
import os
import reprlib
import sys
import time
from typing import Any, NoReturn

from r1eval.grading.sandbox import wire
from r1eval.grading.sandbox.program import SOLUTION_TARGET

CONTROL_FD = 3  # the judge's socket to its slot helper
MAX_RSS_KB = 256 << 10  # a judge that ever grew past this is replaced (its memory counts in the slot's cgroup)
DETAIL_MAX = 500  # characters: a status line stays below PIPE_BUF (4096 bytes), so writers never interleave
_PLAIN_REPR = reprlib.Repr()
_PLAIN_REPR.maxstring = _PLAIN_REPR.maxother = 100
_PLAIN_REPR.maxlist = _PLAIN_REPR.maxtuple = _PLAIN_REPR.maxdict = _PLAIN_REPR.maxset = 12
_PLAIN_REPR.maxlevel = 4


class ProgramEnded(BaseException):
    """The program's process ended (or closed its channel) while the judge waited for it."""


class CallTimeout(BaseException):
    """A call ran past its time limit."""


class ReplyTooLarge(BaseException):
    """The program answered with more bytes than the judge reads."""


class MalformedReply(BaseException):
    """The program wrote something that is not a reply frame."""


class ProgramError(Exception):
    """A program exception whose type has no built-in counterpart (never happens: every exception
    derives from a built-in one) or one that the judge must not raise as itself."""


class Opaque:
    """A return value that could not cross as plain data: unequal to everything, neither true nor false
    (`assert candidate(x)` and `assert not candidate(x)` both fail on it)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        raise TypeError(f"the program returned an unserialisable {self.type_name}: it has no truth value")

    def __repr__(self) -> str:
        return f"<unserialisable {self.type_name}>"


def short(value: Any, n: int = 120) -> str:
    """A bounded repr (the value may be a huge or self-referencing structure)."""
    try:
        text = value if isinstance(value, str) else _PLAIN_REPR.repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= n else text[: n // 2] + " ... " + text[-n // 2:]


class Channel:
    """Calls into the program's process: one request frame out, one reply frame back."""

    def __init__(self, call_fd: int, reply_fd: int) -> None:
        self.call_fd, self.reply_fd = call_fd, reply_fd
        os.set_blocking(call_fd, False)
        os.set_blocking(reply_fd, False)

    def receive(self, deadline: float, cap: int) -> tuple:
        try:
            reply = wire.loads(wire.read_frame(self.reply_fd, cap, deadline))
        except wire.DeadlineExceeded:
            raise CallTimeout from None
        except wire.PeerClosed:
            raise ProgramEnded from None
        except wire.FrameTooLarge as exc:
            raise ReplyTooLarge(exc.args[0]) from None
        except Exception as exc:  # noqa: BLE001 - ValueError, TypeError, RecursionError from the JSON
            raise MalformedReply(type(exc).__name__) from None
        return reply

    def request(self, message: tuple | bytes, deadline: float, cap: int) -> tuple:
        payload = message if isinstance(message, bytes) else wire.dumps(*message)
        try:
            wire.write_frame(self.call_fd, payload, deadline)
        except wire.DeadlineExceeded:
            raise CallTimeout from None
        except wire.PeerClosed:
            raise ProgramEnded from None
        return self.receive(deadline, cap)


def raise_program_exception(name: str, base: str, message: str) -> NoReturn:
    """Re-raise, in the judge, an exception the program raised: as the nearest built-in type."""
    cls = getattr(builtins, str(base), None)
    if not (isinstance(cls, type) and issubclass(cls, BaseException)) or cls in (SystemExit, KeyboardInterrupt,
                                                                                   GeneratorExit):
        raise ProgramError(f"{name}: {message}")
    try:
        exc = cls(str(message))
    except Exception:  # noqa: BLE001 - built-in exceptions with other signatures (UnicodeError family)
        raise ProgramError(f"{name}: {message}") from None
    raise exc


class Proxy:
    """A callable of the program's, called in the program's process with plain-data arguments."""

    def __init__(self, channel: Channel, name: str, deadline: float, cap: int) -> None:
        self._channel, self.__name__, self._deadline, self._cap = channel, name, deadline, cap

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            message = wire.dumps("call", self.__name__, args, kwargs)
        except (wire.NotPlain, RecursionError) as exc:
            raise TypeError(f"argument of {self.__name__} is not plain data ({exc})") from None
        return value_of(self._channel.request(message, self._deadline, self._cap))

    def __repr__(self) -> str:
        return f"<program function {self.__name__}>"


def value_of(reply: tuple) -> Any:
    kind = reply[0]
    if kind == "return" and len(reply) == 2:
        return reply[1]
    if kind == "opaque" and len(reply) == 2:
        return Opaque(str(reply[1]))
    if kind == "raise" and len(reply) == 4:
        raise_program_exception(*(str(x)[:1000] for x in reply[1:]))
    raise MalformedReply(f"unexpected reply {str(kind)[:40]!r}")


# ----------------------------------------------------------------------------------------------


class Reported(BaseException):
    """The run's verdict has been written: unwind to the judge's loop."""


class Judge:
    """One run's tests against one program."""

    def __init__(self, status_fd: int, channel: Channel) -> None:
        self.status_fd, self.channel = status_fd, channel

    def report(self, verdict: str, detail: str = "", passed: int | None = None, total: int | None = None,
               program_ended: bool = False) -> NoReturn:
        msg: dict[str, Any] = {"verdict": verdict, "detail": detail[:DETAIL_MAX]}
        if total is not None:
            msg.update(tests_passed=passed, tests_total=total)
        if program_ended:
            msg["program_ended"] = True
        line = json.dumps({"judge": msg}, ensure_ascii=False)  # short enough to be written at once
        with contextlib.suppress(OSError):
            os.write(self.status_fd, (line + "\n").encode("utf-8", "replace"))
        raise Reported

    def ready(self, deadline: float, cap: int, where: str = "") -> list:
        """Wait for the program's top-level code to finish; report and stop if it failed."""
        try:
            reply = self.channel.receive(deadline, cap)
        except CallTimeout:
            self.report("timeout", f"{where}time limit exceeded while running the program's top-level code")
        except ProgramEnded:
            self.report("runtime_error", f"{where}the program ended before the tests ran", program_ended=True)
        except (ReplyTooLarge, MalformedReply) as exc:
            self.report("runtime_error", f"{where}the program wrote a malformed message ({type(exc).__name__})")
        kind = reply[0]
        if kind == "ready" and len(reply) == 2 and isinstance(reply[1], list):
            return reply[1]
        if kind == "syntax" and len(reply) == 2:
            self.report("syntax_error", str(reply[1])[:300])
        if kind == "exception" and len(reply) == 4:
            name, _, message = (str(x) for x in reply[1:])
            verdict = "memory_limit" if name == "MemoryError" else "runtime_error"
            self.report(verdict, f"{where}{name}: {message[:200]}".rstrip(": "))
        if kind == "exit" and len(reply) == 2:
            self.report("runtime_error", f"{where}exit({short(reply[1], 40)}) before the tests ran")
        self.report("runtime_error", f"{where}the program wrote a malformed message")

    def failure(self, exc: BaseException, where: str = "") -> tuple[str, str, bool]:
        """(verdict, detail, program ended) for an exception that stopped the tests."""
        if isinstance(exc, CallTimeout):
            return "timeout", f"{where}time limit exceeded", False
        if isinstance(exc, ProgramEnded):
            return "runtime_error", f"{where}the program ended during the tests", True
        if isinstance(exc, ReplyTooLarge):
            return "wrong_answer", f"{where}the returned value is larger than {exc.args[0]} bytes", False
        if isinstance(exc, MalformedReply):
            return "runtime_error", f"{where}the program wrote a malformed reply ({exc.args[0] if exc.args else ''})", False
        if isinstance(exc, MemoryError):
            return "memory_limit", f"{where}MemoryError", False
        if isinstance(exc, AssertionError):
            return "wrong_answer", f"{where}AssertionError: {short(str(exc), 200)}".rstrip(": "), False
        return "runtime_error", f"{where}{type(exc).__name__}: {short(str(exc), 200)}".rstrip(": "), False

    # -- HumanEval-style test code ------------------------------------------------------------

    def check(self, test_code: str, setup: str | None, entry_point: str | None, deadline: float,
              cap: int) -> NoReturn:
        listing = self.ready(deadline, cap)
        namespace: dict[str, Any] = {"__name__": "__check__", "__builtins__": builtins}
        builtin_names = set(dir(builtins))
        for entry in listing:
            if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
                continue
            name, kind, payload = entry
            if not name.isidentifier() or keyword.iskeyword(name) or name in builtin_names:
                continue  # built-ins always mean Python's own, whatever the program defined
            if kind == "callable":
                namespace[name] = Proxy(self.channel, name, deadline, cap)
            elif kind == "value":
                namespace[name] = payload
            elif kind == "module" and isinstance(payload, str) and payload in sys.modules:
                namespace[name] = sys.modules[payload]  # only modules the judge already has: no import side effects
        if setup:  # the problem's own code (e.g. HumanEval's prompt): its helpers are the problem's, not the program's
            try:
                exec(compile(setup, "<setup>", "exec", dont_inherit=True), namespace)
            except Exception as exc:  # noqa: BLE001
                self.report("grader_error", f"test setup failed: {type(exc).__name__}: {short(str(exc), 200)}")
        if entry_point:
            if not any(isinstance(e, list) and e[:2] == [entry_point, "callable"] for e in listing):
                self.report("runtime_error", f"NameError: the program defines no function {entry_point!r}")
            namespace[entry_point] = Proxy(self.channel, entry_point, deadline, cap)
        try:
            exec(compile(test_code, "<tests>", "exec", dont_inherit=True), namespace)
        except BaseException as exc:  # noqa: BLE001 - every way the tests can fail
            verdict, detail, ended = self.failure(exc)
            self.report(verdict, detail, program_ended=ended)
        self.report("passed")

    # -- LiveCodeBench functional tests -------------------------------------------------------

    def functional(self, func_name: str, tests: list, timeout_s: float, use_class: bool) -> NoReturn:
        total = len(tests)
        self.ready(time.monotonic() + timeout_s, 1 << 20)
        try:
            reply = self.channel.request(("resolve", func_name, use_class), time.monotonic() + timeout_s, 1 << 16)
        except BaseException as exc:  # noqa: BLE001
            verdict, detail, ended = self.failure(exc, "setup: ")
            self.report(verdict, detail, 0, total, program_ended=ended)
        if reply[0] != "ok":
            self.report("runtime_error", short(str(reply[1] if len(reply) > 1 else "no such function"), 200), 0, total)
        for i, (test_input, expected_text) in enumerate(tests):
            where = f"test {i + 1}/{total}: "
            try:
                args = [json.loads(line) for line in str(test_input).split("\n")]
                expected = json.loads(expected_text)
            except (ValueError, TypeError):
                self.report("grader_error", f"{where}test input or expected output is not JSON", i, total)
            cap = (1 << 20) + 8 * len(expected_text)
            try:
                got = value_of(self.channel.request(("call", SOLUTION_TARGET, args, {}),
                                                    time.monotonic() + timeout_s, cap))
            except BaseException as exc:  # noqa: BLE001
                verdict, detail, ended = self.failure(exc, where)
                if verdict == "timeout":
                    detail = f"{where}time limit ({timeout_s:g} s)"
                self.report(verdict, detail, i, total, program_ended=ended)
            if type(got) is tuple:
                got = list(got)
            try:
                same = bool(got == expected)
            except Exception:  # noqa: BLE001 - RecursionError on a self-referencing value, ...
                same = False
            if not same:
                self.report("wrong_answer", f"{where}expected {short(expected_text)}, got {short(got)}", i, total)
        self.report("passed", "", total, total)


def run_one(tests_fd: int, status_fd: int, call_fd: int, reply_fd: int, deadline: float) -> None:
    """Read one run's tests, run them against the program, write one status line."""
    judge = Judge(status_fd, Channel(call_fd, reply_fd))
    try:
        spec = wire.read_json_message(tests_fd)  # the run's tests, from the harness to this process only
        if spec["kind"] == "check":
            judge.check(spec["test_code"], spec.get("setup"), spec.get("entry_point"), deadline, int(spec["reply_cap"]))
        judge.functional(spec["func_name"], spec["tests"], float(spec["test_timeout_s"]), bool(spec["use_class"]))
    except Reported:
        pass
    except BaseException as exc:  # noqa: BLE001 - a bug of ours: this run's verdict, nobody else's
        with contextlib.suppress(Reported):
            judge.report("grader_error", f"judge: {type(exc).__name__}: {short(str(exc), 200)}")


def serve(control_fd: int) -> NoReturn:
    """The judge's loop: one run per message from the slot's helper (the run's descriptors and deadline),
    answered with b"done" once the run's descriptors are closed."""
    import gc
    import resource
    import socket

    sock = socket.socket(fileno=control_fd)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 4)
        except InterruptedError:
            continue
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        try:
            if len(fds) == 4:
                run_one(*fds, float(json.loads(msg)["deadline"]))
        except Exception:  # noqa: BLE001, S110 - a malformed message from the helper: nothing to judge
            pass
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        gc.collect()
        try:
            sock.send(b"done")
        except OSError:
            os._exit(0)
        if resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > MAX_RSS_KB:
            os._exit(0)  # a large run left its mark: the helper starts a fresh judge for the next one
