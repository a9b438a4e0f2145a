"""Error types for user mistakes; `r1eval.cli` prints them as one line and exits 2.

Library code names settings by their field names (`top_p`), never by command-line flags: a `ConfigError`
carries the field, and only the CLI words it as the flag that sets it (`--top-p`)."""


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
