"""Frames on the sandbox's pipes.

- Between the judge and the program: a 4-byte length, then a marshal payload of plain data. marshal
  builds only built-in types (numbers, strings, bytes, tuples, lists, dicts, sets, None, bools), so a
  value decoded here carries no code of the program's: equality, hashing and repr are Python's own.
  Reads are capped (the length is checked before the payload is read) and bounded by a deadline.
- On the request pipe, from the harness (trusted): an 8-byte length, then JSON (`json_message`).
"""

from __future__ import annotations

import json
import marshal
import os
import select
import struct
import time
from typing import Any

_LENGTH = struct.Struct("<I")
_JSON_LENGTH = struct.Struct("<Q")


class PeerClosed(Exception):
    """The other side closed the channel (the process ended or closed its end)."""


class FrameTooLarge(Exception):
    """A frame longer than the reader's cap: it is not read."""


class DeadlineExceeded(Exception):
    """The deadline passed before the frame was complete."""


def encode(obj: Any) -> bytes:
    return marshal.dumps(obj, 4)


def decode(data: bytes) -> Any:
    return marshal.loads(data)


def _wait(fd: int, event: int, deadline: float | None) -> None:
    if deadline is None:
        return
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded
    poller = select.poll()
    poller.register(fd, event)
    if not poller.poll(max(1, int(remaining * 1000) + 1)):
        raise DeadlineExceeded


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        _wait(fd, select.POLLIN, deadline)
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise PeerClosed
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, cap: int, deadline: float | None = None) -> bytes:
    (size,) = _LENGTH.unpack(_read_exact(fd, _LENGTH.size, deadline))
    if size > cap:
        raise FrameTooLarge(size)
    return _read_exact(fd, size, deadline)


def write_frame(fd: int, payload: bytes, deadline: float | None = None) -> None:
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        _wait(fd, select.POLLOUT, deadline)
        try:
            n = os.write(fd, view[: 1 << 16])
        except BlockingIOError:
            continue
        except BrokenPipeError:
            raise PeerClosed from None
        view = view[n:]


def json_message(obj: Any) -> bytes:
    """`obj` as a request-pipe message: length, then JSON."""
    data = json.dumps(obj).encode()
    return _JSON_LENGTH.pack(len(data)) + data


def read_json_message(fd: int) -> Any:
    """The next request-pipe message (blocking)."""
    (size,) = _JSON_LENGTH.unpack(_read_exact(fd, _JSON_LENGTH.size, None))
    return json.loads(_read_exact(fd, size, None))
