"""Frames on the sandbox's pipes.

- Between the judge and the program: a 4-byte length, then one JSON array `[kind, field, ...]` whose
  fields are plain data (`dumps`/`loads`). JSON is decoded by the C parser, which builds only built-in
  objects and is safe on hostile bytes (unlike marshal or pickle); tuples, sets, frozensets, dicts (any
  hashable keys), bytes, complex numbers, very large ints, Fractions and Decimals travel as one-key
  tagged objects, so types survive the trip (`(1, 2) != [1, 2]`, `{1} != [1]`, `True is True`, NaN stays
  NaN, `Fraction(1, 2) == 0.5`); numpy scalars and arrays cross as the Python values `.item()` and
  `.tolist()` give. A decoded value carries no code of the program's: equality, hashing and repr are
  Python's own (or the standard library's, for Fraction and Decimal). Reads are capped (the
  length is checked before the payload is read) and bounded by a deadline.
- On the program and tests pipes, from the harness (trusted): an 8-byte length, then JSON (`json_message`).
"""

from __future__ import annotations

import base64
import decimal
import fractions
import json
import os
import select
import struct
import sys
import time
from typing import Any

_LENGTH = struct.Struct("<I")
_JSON_LENGTH = struct.Struct("<Q")
MAX_DEPTH = 200  # nesting of a value
_HUGE_INT_BITS = 12_000  # larger ints cross as hex text (JSON numbers stop at 4,300 digits on reading)
EXACT_NUMBER_BITS = 65_536  # a Fraction's numerator and denominator at most (normalising it is a gcd)
EXACT_NUMBER_CHARS = 100_000  # a Decimal's text at most
_SCALARS = (type(None), bool, str, float)


class PeerClosed(Exception):
    """The other side closed the channel (the process ended or closed its end)."""


class FrameTooLarge(Exception):
    """A frame longer than the reader's cap: it is not read."""


class DeadlineExceeded(Exception):
    """The deadline passed before the frame was complete."""


class NotPlain(Exception):
    """A value that cannot cross as plain data."""


def _to_json(value: Any, depth: int = 0) -> Any:
    """`value` as JSON-ready built-ins, with tags for the types JSON lacks. Subclasses of built-in types
    (namedtuple, Counter, IntEnum, ...) become their base type; anything else raises NotPlain."""
    if depth > MAX_DEPTH:
        raise NotPlain("nested too deeply")
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        return value if value.bit_length() < _HUGE_INT_BITS else {"i": format(value, "x")}
    if kind is list:
        if all(type(x) in _SCALARS or (type(x) is int and x.bit_length() < _HUGE_INT_BITS) for x in value):
            return value  # the common case, without a Python call per element
        return [_to_json(x, depth + 1) for x in value]
    if kind is tuple:
        return {"t": _to_json(list(value), depth)}
    if kind is dict:
        return {"d": [[_to_json(k, depth + 1), _to_json(v, depth + 1)] for k, v in value.items()]}
    if kind is set or kind is frozenset:
        return {"s" if kind is set else "f": [_to_json(x, depth + 1) for x in value]}
    if kind is bytes:
        return {"b": base64.b64encode(value).decode()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    for base, convert in ((bool, bool), (int, int), (float, float), (complex, complex), (str, str.__str__),
                          (bytes, bytes)):
        if isinstance(value, base):
            out = convert(value)  # may run code of the program's: this happens in its own process
            if type(out) is not base:
                raise NotPlain(type(value).__name__)
            return _to_json(out, depth)
    if isinstance(value, dict):
        return _to_json(dict(list(value.items())), depth)
    for base in (list, tuple, set, frozenset):
        if isinstance(value, base):
            return _to_json(base(list(value)), depth)
    return _exact_number(value, depth)


def _exact_number(value: Any, depth: int) -> Any:
    """Numbers of the standard library's and numpy's types, by their exact value: a numpy scalar as the
    Python scalar `.item()` gives (a numpy array as `.tolist()`), a Fraction or a Decimal as itself (they
    compare with ints and floats exactly, as `==` in the program's own process would)."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.generic | numpy.ndarray):
        plain = value.tolist() if isinstance(value, numpy.ndarray) else value.item()
        if isinstance(plain, numpy.generic):  # e.g. longdouble: no exact Python counterpart
            raise NotPlain(type(value).__name__)
        return _to_json(plain, depth + 1)
    if isinstance(value, fractions.Fraction):
        numerator, denominator = value.numerator, value.denominator
        if type(numerator) is not int or type(denominator) is not int or denominator <= 0:
            raise NotPlain(type(value).__name__)
        if max(numerator.bit_length(), denominator.bit_length()) > EXACT_NUMBER_BITS:
            raise NotPlain(f"{type(value).__name__} too large")
        return {"q": [_to_json(numerator), _to_json(denominator)]}
    if isinstance(value, decimal.Decimal):
        text = decimal.Decimal.__str__(value)
        if len(text) > EXACT_NUMBER_CHARS:
            raise NotPlain(f"{type(value).__name__} too large")
        return {"m": text}
    raise NotPlain(type(value).__name__)


def _from_tag(obj: dict) -> Any:
    if len(obj) != 1:
        raise ValueError("a JSON object that is not a plain-data tag")
    ((tag, v),) = obj.items()
    if tag == "t" and type(v) is list:
        return tuple(v)
    if tag == "d" and type(v) is list and all(type(kv) is list and len(kv) == 2 for kv in v):
        return {k: x for k, x in v}
    if tag in ("s", "f") and type(v) is list:
        return set(v) if tag == "s" else frozenset(v)
    if tag == "b" and type(v) is str:
        return base64.b64decode(v, validate=True)
    if tag == "c" and type(v) is list and len(v) == 2 and all(type(x) in (int, float) for x in v):
        return complex(v[0], v[1])
    if tag == "i" and type(v) is str:
        return int(v, 16)
    if tag == "q" and type(v) is list and len(v) == 2 and all(type(x) is int for x in v) and v[1] > 0 \
            and max(v[0].bit_length(), v[1].bit_length()) <= EXACT_NUMBER_BITS:
        return fractions.Fraction(v[0], v[1])
    if tag == "m" and type(v) is str and len(v) <= EXACT_NUMBER_CHARS:
        try:
            return decimal.Decimal(v)
        except (ArithmeticError, ValueError):
            raise ValueError("a decimal tag that is not a number") from None
    raise ValueError(f"unknown plain-data tag {str(tag)[:20]!r}")


def dumps(kind: str, *fields: Any) -> bytes:
    """A frame's payload: `[kind, *fields]`; raises NotPlain (or RecursionError) for other values."""
    return json.dumps([kind, *(_to_json(f) for f in fields)], separators=(",", ":")).encode()


def loads(data: bytes) -> tuple:
    """`(kind, *fields)` from a payload; raises ValueError (or TypeError, RecursionError) when malformed."""
    message = json.loads(data, object_hook=_from_tag)
    if type(message) is not list or not message or type(message[0]) is not str:
        raise ValueError("not a message")
    return tuple(message)


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
