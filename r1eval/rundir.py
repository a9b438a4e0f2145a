"""The run directory: config.json (provenance), samples.jsonl (append + flush + fsync), summary.json.

Resume: rerunning the same command reopens the directory, drops a torn last line left by a killed
process, keeps every finished sample and generates only the missing (problem, sample_index) pairs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from r1eval.errors import UsageError
from r1eval.records import Sample

# config.json fields that must match for a directory to be resumed (n and --limit may grow)
IDENTITY_KEYS = ("bench", "model", "model_sha256", "data_sha256", "bench_provenance", "backend", "temperature",
                 "top_p", "max_tokens", "seed", "force_think")


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (temp file + rename), so a kill never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_samples(path: Path, repair: bool = False) -> list[Sample]:
    """Read samples.jsonl; a torn final line (killed mid-write) is dropped, and cut off when `repair`."""
    if not path.is_file():
        return []
    samples: list[Sample] = []
    good_bytes = 0
    with path.open("rb") as fh:
        lines = fh.readlines()
    for lineno, raw in enumerate(lines, 1):
        try:
            samples.append(Sample.from_dict(json.loads(raw)))
            good_bytes += len(raw)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
            if lineno == len(lines):  # only the last line can be torn by a kill
                if repair:
                    with path.open("r+b") as fh:
                        fh.truncate(good_bytes)
                break
            raise UsageError(f"{path}:{lineno}: corrupt sample line; remove it and rerun to resume") from None
    return samples


class RunDir:
    """One evaluation run on disk."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.samples_path = self.path / "samples.jsonl"
        self.summary_path = self.path / "summary.json"
        self._fh = None

    def exists(self) -> bool:
        return self.config_path.is_file()

    def config(self) -> dict[str, Any]:
        if not self.exists():
            raise UsageError(f"{self.path} is not a run directory (no config.json)")
        return json.loads(self.config_path.read_text(encoding="utf-8"))

    def summary(self) -> dict[str, Any]:
        if not self.summary_path.is_file():
            raise UsageError(f"{self.path} has no summary.json; finish the run first (rerun its command)")
        return json.loads(self.summary_path.read_text(encoding="utf-8"))

    def open(self, config: dict[str, Any]) -> list[Sample]:
        """Create the directory or reopen it for resume; return the samples already finished."""
        self.path.mkdir(parents=True, exist_ok=True)
        if self.exists():
            old = self.config()
            changed = [k for k in IDENTITY_KEYS if old.get(k) != config.get(k)]
            if changed:
                raise UsageError(f"{self.path} holds a run with different {', '.join(changed)}; "
                                 "pass a new --output (or delete that directory) to start fresh")
            config = {**config, "created": old.get("created", config.get("created")),
                      "resumed": old.get("resumed", 0) + 1}
        write_json(self.config_path, config)
        samples = read_samples(self.samples_path, repair=True)
        self._fh = self.samples_path.open("a", encoding="utf-8")
        return samples

    def update_config(self, fields: dict[str, Any]) -> None:
        """Add provenance known only later (e.g. the started engine's versions and options)."""
        write_json(self.config_path, {**self.config(), **fields})

    def append(self, samples: list[Sample]) -> None:
        """Append finished samples and make them durable before returning."""
        assert self._fh is not None, "open() the run directory first"
        self._fh.write("".join(s.to_json() + "\n" for s in samples))
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def write_summary(self, summary: dict[str, Any]) -> None:
        write_json(self.summary_path, summary)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
