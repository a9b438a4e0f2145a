"""Shared test helpers: the CLI in a subprocess exactly as a user runs it (`cli`), or in this process
(`main_cli`: `r1eval.cli.main(argv)` with its exit code and captured output, no interpreter start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (CI runs `-n 2`) every worker, and every process it starts, computes on one thread:
    two workers with torch's default thread per core would oversubscribe a 2-core machine several times over
    (r1eval's own runs already default to one thread there, see r1eval/threads.py; the trainers do not). Set
    before any test module imports torch, which reads it once."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    # xdist hands out test files in collection order (see pytest_collection_modifyitems), not by test count
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files with slow tests first (otherwise in their usual order): under `-n 2 --dist loadfile` the minutes-long
    files then start at once and the many short ones fill the gaps, instead of one long file starting last and
    running alone at the end."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
            ) -> subprocess.CompletedProcess:
    """`python -m r1eval.cli ARGS` with this checkout first on the path."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "r1eval.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=full_env)


def copy_model_dir(source: Path, dest: Path, generation_config: dict | None = None) -> Path:
    """A copy of a model directory (JSON files copied, weights linked), its generation_config.json updated
    with `generation_config`: a model that ships its own generation defaults."""
    import json

    dest.mkdir()
    for f in source.iterdir():
        if f.suffix == ".json":
            (dest / f.name).write_text(f.read_text())
        else:
            (dest / f.name).symlink_to(f)
    if generation_config is not None:
        config = json.loads((dest / "generation_config.json").read_text())
        (dest / "generation_config.json").write_text(json.dumps({**config, **generation_config}))
    return dest


def wait_until(condition, timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Poll `condition()` until it is true (True) or `timeout` seconds pass (False): wait for the event
    itself, never a fixed sleep; the timeout only bounds a hang."""
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def main_cli(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """`run_cli`'s contract in-process: `main(argv)`, returning (returncode, stdout, stderr) as a
    CompletedProcess. An exception escaping `main` fails the test (a subprocess would print a traceback)."""
    from r1eval.cli import main

    def run(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float | None = None
            ) -> subprocess.CompletedProcess:
        capsys.readouterr()  # output from before this command is not its output
        with monkeypatch.context() as m:
            m.setenv("TQDM_DISABLE", "1")
            for key, value in (env or {}).items():
                m.setenv(key, value)
            if cwd is not None:
                m.chdir(cwd)
            try:
                code = main(list(args))
            except SystemExit as exc:  # --help, --version
                code = exc.code if isinstance(exc.code, int) else 0
        out = capsys.readouterr()
        return subprocess.CompletedProcess(["r1eval", *args], code, out.out, out.err)

    return run
