"""The one error type for user mistakes; `r1eval.cli` prints it as one line and exits 2."""


class UsageError(Exception):
    """Bad input from the user: a message that names the problem and, where possible, the fix."""


class BackendError(UsageError):
    """A generation engine or server failed in a way the user can fix (server down, wrong model name,
    context too long, out of memory). Finished samples are already saved; rerunning resumes."""
