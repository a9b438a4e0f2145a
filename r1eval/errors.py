"""The one error type for user mistakes; `r1eval.cli` prints it as one line and exits 2."""


class UsageError(Exception):
    """Bad input from the user: a message that names the problem and, where possible, the fix."""
