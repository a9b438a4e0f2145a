"""The run directory: config.json (provenance), samples.jsonl (append + flush + fsync), summary.json.

Resume: rerunning the same command reopens the directory, repairs the end of samples.jsonl left by a
killed process (a torn last line is dropped; a complete last record that lost only its newline gets it
back), keeps every finished sample and generates only the missing (problem, sample_index) pairs.

One writer at a time: `open()` takes an exclusive `flock` on `run.lock` (holding the writer's PID) until
`close()`. A second run of the same directory fails at once naming that PID, or waits with `wait=True`.
The kernel drops the lock when its holder dies, so a killed run never leaves the directory locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from r1eval.errors import UsageError
from r1eval.records import SAMPLING_IDENTITY, MissingFieldError, Sample, json_text

# config.json fields that must match for a directory to be resumed (n and --limit may grow)
IDENTITY_KEYS = ("bench", "model", "model_sha256", "tokenizer", "tokenizer_sha256", "chat_template_sha256",
                 "data_sha256", "bench_provenance", "backend", "dtype", "server_defaults", "judge", *SAMPLING_IDENTITY,
                 "shard")  # shard: which 1/N of the (problem, sample) pairs a `--shard I/N` run holds
LOCK_FILE = "run.lock"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new file in `path` durable (the directory entry itself)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file through a temp file and a rename: a failure leaves no half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.filename in (None, str(tmp)):  # name the file meant
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically and durably: temp file, fsync, rename, fsync of the directory. A kill or a
    power cut leaves either the old file or the new one, never half of one; a failed write (disk full)
    leaves the old one and no temp file. NaN and infinities are written as null (strict JSON)."""
    write_text_atomic(path, json_text(finite(obj), indent=2) + "\n")
    fsync_dir(path.parent)


def finite(obj: Any) -> Any:
    """`obj` with every NaN or infinite float replaced by None (JSON has no NaN; strict readers reject it)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [finite(v) for v in obj]
    return obj


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """A JSON file r1eval wrote; one line naming the file and `fix` when it is truncated or not JSON."""
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        ending = raw.rstrip()[-1:]
        reason = "truncated" if ending not in (b"}", b"]") else "not valid JSON"
        raise UsageError(f"{path}: {what} is {reason}; {fix}") from None


def iter_rows(path: Path, repair: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) for every record of samples.jsonl, read one line at a time (memory bounded
    whatever the file's size). Only the last line can be torn by a kill: if it is not JSON it is skipped
    (and cut off the file when `repair`); a complete last record that lost only its newline is kept (and
    its newline written back when `repair`). A bad line elsewhere is one UsageError naming it."""
    if not path.is_file():
        return
    good_bytes = 0
    with path.open("rb") as fh:
        lineno, raw = 1, fh.readline()
        while raw:
            following = fh.readline()
            last = not following
            if raw.strip():
                try:
                    row = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    if last:  # killed mid-write
                        if repair:
                            with path.open("r+b") as out:
                                out.truncate(good_bytes)
                                out.flush()
                                os.fsync(out.fileno())
                        return
                    raise UsageError(f"{path}:{lineno}: corrupt sample line (not JSON); remove that line and "
                                     "rerun the same command to resume") from None
                if not isinstance(row, dict):
                    raise UsageError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
                if repair and last and not raw.endswith(b"\n"):  # torn exactly at the newline
                    with path.open("ab") as out:
                        out.write(b"\n")
                        out.flush()
                        os.fsync(out.fileno())
                yield lineno, row
            good_bytes += len(raw)
            lineno, raw = lineno + 1, following


def read_sample_rows(path: Path) -> list[dict[str, Any]]:
    """samples.jsonl rows as plain dicts, whatever fields they carry (export, report and audit read these);
    a torn last line is skipped. A missing file gives no rows."""
    return [row for _, row in iter_rows(path)]


def read_samples(path: Path, repair: bool = False, strict: bool = False,
                 keep: Callable[[Sample], Any] | None = None) -> list[Any]:
    """Read samples.jsonl as `Sample`s (or as what `keep` makes of each: a summary keeps only a light copy).

    `strict` (the writer resuming) refuses a row that lacks a field, naming it (`samples.jsonl:17:
    missing field 'seed'`); readers that don't need every field (gate, distill filter) leave it off and
    get None there.
    """
    samples: list[Any] = []
    for lineno, row in iter_rows(path, repair):
        try:
            sample = Sample.from_dict(row, strict=strict)
        except MissingFieldError as exc:
            raise UsageError(f"{path}:{lineno}: missing field '{exc.args[0]}'; this row was not written by "
                             "`r1eval run` (remove it, or pass a new `output`)") from None
        samples.append(keep(sample) if keep is not None else sample)
    return samples


def identity_changes(old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...] = IDENTITY_KEYS) -> list[str]:
    """The identity fields (of `keys`) that differ, with both values when they are short."""
    changed = []
    for key in keys:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        short = all(x is None or isinstance(x, bool | int | float) or (isinstance(x, str) and len(x) <= 24)
                    for x in (a, b))
        changed.append(f"{key} ({json.dumps(a)} there, {json.dumps(b)} now)" if short else key)
    return changed


class RunDir:
    """One evaluation run on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.samples_path = self.path / "samples.jsonl"
        self.summary_path = self.path / "summary.json"
        self.lock_path = self.path / LOCK_FILE
        self._fh: IO[bytes] | None = None
        self._lock: IO[str] | None = None

    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict[str, Any]:
        if not self.exists():
            raise UsageError(f"{self.path} is not a run directory (no config.json)")
        return read_json_file(self.config_path, "the run's config", "restore it, or delete it and rerun the same "
                              "command (it is rebuilt from the command; samples.jsonl is kept and resumed)")

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.is_file():
            raise UsageError(f"{self.path} has no summary.json; finish the run first (rerun its command)")
        return read_json_file(self.summary_path, "the run's summary", "rerun the run's command to rewrite it")

    def lock(self, wait: bool = False) -> None:
        """Take the directory's writer lock; without `wait`, a held lock is a UsageError naming its PID."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = self.lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = ""
            for _ in range(50):  # the holder writes its PID right after taking the lock: give it a moment
                fh.seek(0)
                holder = fh.read().strip()
                if holder:
                    break
                time.sleep(0.02)
            holder = holder or "unknown"
            fh.close()
            raise UsageError(f"{self.path} is being written by another r1eval run (PID {holder}); wait for it to "
                             "finish, rerun with `wait_lock` to queue behind it, or pass another `output`") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._lock = fh

    def refuse_changed_identity(self, config: dict[str, Any], keys: tuple[str, ...] = IDENTITY_KEYS) -> None:
        """UsageError naming the identity fields (of `keys`) in which `config` differs from the directory's."""
        if not self.exists():
            return
        changed = identity_changes(self.config(), config, keys)
        if changed == ["bench_provenance"]:
            from r1eval.grading.provenance import grader_change_message

            message = grader_change_message(self.path, self.config(), config)
            if message:
                raise UsageError(message)
        if changed:
            raise UsageError(f"{self.path} holds a run with different {', '.join(changed)}; "
                             "pass a new `output` (or delete that directory) to start fresh")

    def open(self, config: dict[str, Any], wait: bool = False,
             keep: Callable[[Sample], Any] | None = None) -> list[Any]:
        """Lock the directory, create it or reopen it for resume (refusing a different identity), and return
        the samples already finished (each passed through `keep` when given). Hold the lock until `close()`.
        A summary.json written for another n or --limit than config.json now asks for is marked stale."""
        self.lock(wait)
        try:
            self.refuse_changed_identity(config)
            if self.exists():
                old = self.config()
                # keys added after the start (backend_info, effective_sampling, a label) stay until replaced
                config = {**old, **config, "created": old.get("created", config.get("created")),
                          "resumed": old.get("resumed", 0) + 1}
            self.mark_summary_stale(config)
            write_json(self.config_path, config)
            samples = read_samples(self.samples_path, repair=True, strict=True, keep=keep)
            self._fh = self.samples_path.open("ab", buffering=0)  # unbuffered: `append` writes whole batches
            fsync_dir(self.path)  # samples.jsonl's directory entry, if it was just created
        except BaseException:
            self.close()
            raise
        return samples

    def mark_summary_stale(self, config: dict[str, Any]) -> None:
        """Before config.json changes: a summary.json counted for another n or --limit than `config` asks for
        gets `complete: false` and `stale` saying why (and loses its `summary_key`, so it is recomputed), so
        no reader takes it for this run until the run finishes and rewrites it."""
        if not self.summary_path.is_file():
            return
        try:
            summary = json.loads(self.summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = None
        if not isinstance(summary, dict):  # unreadable: a new one is written at the end of the run
            self.summary_path.unlink()
            return
        if summary.get("n_samples") == config.get("n") and summary.get("limit", config.get("limit")) == \
                config.get("limit") and not summary.get("stale"):
            return
        summary.pop("summary_key", None)
        summary.update(complete=False, stale=f"the run was reopened for n={config.get('n')}, limit="
                                             f"{config.get('limit')} and has not finished since; this summary "
                                             f"counted n={summary.get('n_samples')}; rerun its command")
        write_json(self.summary_path, summary)

    def update_config(self, fields: dict[str, Any]) -> None:
        """Add provenance known only later (e.g. the started engine's versions and options)."""
        write_json(self.config_path, {**self.config(), **fields})

    def append(self, samples: list[Sample]) -> None:
        """Append finished samples and make them durable before returning. A failed write (disk full) is
        undone: the file is cut back to its last whole line, so it never holds half a record."""
        assert self._fh is not None, "open() the run directory first"
        data = "".join(s.to_json() + "\n" for s in samples).encode("utf-8")
        # Ctrl-C / SIGTERM wait until the batch is on disk: an interrupted run leaves whole lines only
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        fd = self._fh.fileno()
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:  # name the file (a failed write's error has no path)
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise OSError(exc.errno, exc.strerror, str(self.samples_path)) from None
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary_path, summary)

    def close(self) -> None:
        """Close samples.jsonl and release the writer lock."""
        if self._fh is not None:
            with contextlib.suppress(OSError):  # a failed append already raised (disk full); keep that error
                self._fh.close()
            self._fh = None
        if self._lock is not None:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None
