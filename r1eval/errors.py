"""Error types for user mistakes; `r1eval.cli` prints them as one line and exits 2.

Library code names settings by their API field names, never by command-line flags: a `ConfigError` carries
the field, and any other message names a setting in backquotes ("lower `max_tokens`", "pass a new `output`"),
so `str(exc)` reads right from Python. Only the CLI (`r1eval.cli.flag_words`) words them as the flags of the
chosen command (`--max-tokens`, `--output`); a backquoted name no flag sets is printed bare."""


class UsageError(Exception):
    """Bad input from the user: a message that names the problem and, where possible, the fix."""


class ConfigError(UsageError):
    """A setting with a bad value. `field` is its name in the API (a dataclass field or keyword argument,
    e.g. "top_p"); `message` says what is wrong without the name ("must be in (0, 1] (got 1.5)")."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}")
        self.field = field
        self.message = message


class BackendError(UsageError):
    """A generation engine or server failed in a way the user can fix (server down, wrong model name,
    context too long, out of memory). Finished samples are already saved; rerunning resumes."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C so the same cleanup runs (exit 143 instead of 130)."""


# errno -> what the user can do about it
_OS_FIXES = {
    "ENOSPC": "free space on that file system (or pass `output` on another disk), then rerun the same command",
    "EDQUOT": "free space in your quota (or pass `output` elsewhere), then rerun the same command",
    "EROFS": "that file system is read-only; remount it writable or pass `output` elsewhere",
    "EACCES": "no permission to write there; fix its permissions or pass `output` elsewhere",
    "EPERM": "the file is protected (immutable or not yours); fix that or pass `output` elsewhere",
    "EISDIR": "that path is a directory; pass a file path",
    "ENOTDIR": "a part of that path is a file, not a directory; pass a path whose parents are directories",
    "EEXIST": "that path exists and is not a directory; pass another path",
    "ENOENT": "that path does not exist; check it",
}


def os_error_line(exc: OSError) -> str:
    """One line for a file-system fault: the path, what went wrong, and the fix."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    path = exc.filename if exc.filename is not None else "a file"
    fix = _OS_FIXES.get(name, "fix that path or pass another one")
    return f"{path}: {exc.strerror or exc} ({name or 'OSError'}); {fix}"
