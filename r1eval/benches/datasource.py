"""Where the rows of a hub-hosted bench come from (LiveCodeBench, Codeforces, GPQA): `--data PATH` or `--hub`.

`--data PATH` takes any of
- a file: JSONL (or a JSON list), CSV or parquet;
- a directory written by `datasets`' `save_to_disk` (a Dataset, or a DatasetDict: the bench's split, or its
  only split);
- a directory of parquet (else JSONL, else CSV) files, e.g. a hub dataset's `data/` folder; files named by
  split (`test-00000-of-00001.parquet`, `test/...`) are filtered to the bench's split;
- a local Hugging Face hub cache: a snapshot (`.../datasets--ORG--NAME/snapshots/<commit>`) or the repo folder
  above it, where `--revision` picks a snapshot or ref (default `refs/main`).
A bench may pick its own files in a directory first (LiveCodeBench's version files, GPQA's
`gpqa_diamond.csv`). `--hub [--revision REV]` downloads into the hub cache and reads the snapshot the same way.

What was read is noted in `LoadOptions.extra` (`source`, `format`, `revision`), which the runner records in
config.json under `data_options`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1eval.benches.base import LoadOptions
from r1eval.errors import ConfigError, UsageError
from r1eval.records import read_jsonl

FilePicker = Callable[[Path], list[Path]]  # a bench's own data files in a directory; [] when it has none
SPLIT_NAMES = ("train", "test", "validation", "valid", "dev")
_SPLIT_STEM = re.compile(rf"^({'|'.join(SPLIT_NAMES)})(?:[-_.].*)?$")


@dataclass
class LoadedRows:
    """Rows read from one source, and what that source resolved to."""

    rows: list[dict[str, Any]]
    source: str  # the path or repo@commit read, with the files taken from it
    format: str  # jsonl | json | csv | parquet | save_to_disk | hub-snapshot | hub
    revision: str | None = None  # the hub commit, when known

    def note(self, opts: LoadOptions) -> None:
        """Record the resolved source in `opts.extra` (config.json `data_options`)."""
        opts.extra.update({"source": self.source, "format": self.format})
        if self.revision:
            opts.extra["revision"] = self.revision


def read_rows_file(path: Path) -> list[dict[str, Any]]:
    """Rows of one JSONL / JSON / CSV / parquet file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return read_jsonl(path)
    if suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return read_jsonl(path)  # JSON Lines under a .json name
        if isinstance(data, list) and all(isinstance(r, dict) for r in data):
            return data
        raise UsageError(f"{path}: expected a JSON list of objects (or JSON Lines)")
    if suffix == ".csv":
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise UsageError(f"could not read {path} as CSV: {exc}") from None
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise UsageError(f"could not read {path} as parquet: {exc}") from None
    raise UsageError(f"{path}: unsupported data file type {suffix or '(none)'}; use .jsonl, .json, .csv or .parquet, "
                     "or a directory (save_to_disk, parquet files, hub snapshot)")


def read_local(path: Path, *, split: str = "test", pick: FilePicker | None = None,
               revision: str | None = None) -> LoadedRows:
    """Rows from `--data PATH` in any of the forms in the module docstring."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("data", f"not found: {path}")
    if path.is_file():
        if revision:
            raise ConfigError("revision", "pins a hub revision: use it with a hub load or a hub cache directory, not a file")
        return LoadedRows(read_rows_file(path), str(path), path.suffix.lower().lstrip("."))
    directory, commit = hub_snapshot(path, revision)
    if (directory / "dataset_dict.json").is_file() or (directory / "state.json").is_file():
        return LoadedRows(_load_from_disk(directory, split), str(path), "save_to_disk", commit)
    files = (pick(directory) if pick else []) or data_files(directory, split)
    if not files:
        raise UsageError(f"{path}: no data found; expected a save_to_disk directory, parquet/JSONL/CSV files or a hub "
                         "cache snapshot")
    rows = [row for f in files for row in read_rows_file(f)]
    names = ", ".join(str(f.relative_to(directory)) for f in files)
    fmt = "hub-snapshot" if commit else files[0].suffix.lstrip(".")
    return LoadedRows(rows, f"{directory} ({names})", fmt, commit)


def hub_snapshot(path: Path, revision: str | None) -> tuple[Path, str | None]:
    """(snapshot directory, commit) for a hub cache repo folder or snapshot; (path, None) for other folders."""
    if (path / "snapshots").is_dir():  # datasets--ORG--NAME: pick a snapshot
        snapshots = path / "snapshots"
        wanted = revision or "main"
        ref = path / "refs" / wanted
        commit = ref.read_text().strip() if ref.is_file() else wanted
        if (snapshots / commit).is_dir():
            return snapshots / commit, commit
        available = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
        if revision is None and len(available) == 1:
            return snapshots / available[0], available[0]
        raise UsageError(f"{path}: no snapshot for revision {wanted!r} (snapshots: {', '.join(available) or 'none'}); "
                         "pass `revision` COMMIT")
    if path.parent.name == "snapshots":  # a snapshot itself: its name is the commit
        commit = path.name
        if revision and revision != commit:
            ref = path.parent.parent / "refs" / revision
            if not (ref.is_file() and ref.read_text().strip() == commit):
                raise UsageError(f"{path} is snapshot {commit}, not revision {revision}")
        return path, commit
    if revision:
        raise ConfigError("revision", f"pins a hub revision: {path} is not a hub cache directory (load from the hub, "
                          "or point the data at .../datasets--ORG--NAME)")
    return path, None


def _split_of(file: Path, root: Path) -> str | None:
    for part in [file.stem, *reversed(file.relative_to(root).parts[:-1])]:
        m = _SPLIT_STEM.match(part)
        if m:
            return m.group(1)
    return None


def data_files(directory: Path, split: str) -> list[Path]:
    """The data files of a directory: parquet, else JSONL, else CSV (hidden paths skipped); when files are named
    by split, only `split`'s."""
    for pattern in ("*.parquet", "*.jsonl", "*.csv"):
        files = sorted(f for f in directory.rglob(pattern)
                       if f.is_file() and not any(p.startswith(".") for p in f.relative_to(directory).parts))
        if not files:
            continue
        splits = {f: _split_of(f, directory) for f in files}
        if not any(splits.values()):
            return files
        chosen = [f for f in files if splits[f] == split]
        if not chosen:
            raise UsageError(f"{directory}: no '{split}' files (found splits: "
                             f"{', '.join(sorted({s for s in splits.values() if s}))})")
        return chosen
    return []


def _load_from_disk(directory: Path, split: str) -> list[dict[str, Any]]:
    import datasets

    try:
        ds = datasets.load_from_disk(str(directory))
    except Exception as exc:
        raise UsageError(f"could not load {directory} with datasets.load_from_disk: {exc}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split in ds:
            ds = ds[split]
        elif len(ds) == 1:
            ds = next(iter(ds.values()))
        else:
            raise UsageError(f"{directory}: a DatasetDict without a '{split}' split (splits: {', '.join(ds)})")
    return ds.to_list()


def read_hub_files(repo_id: str, patterns: list[str], *, revision: str | None, split: str = "test",
                   pick: FilePicker | None = None, hint: str = "pass `data` PATH instead") -> LoadedRows:
    """Download the files matching `patterns` from a hub dataset repo (or find them in the hub cache when
    offline) and read that snapshot; the commit is recorded as the revision."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError

    try:
        snapshot = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, allow_patterns=patterns))
    except GatedRepoError:
        raise UsageError(f"{repo_id} is gated: accept its terms at https://huggingface.co/datasets/{repo_id} and log in "
                         f"(`hf auth login` or HF_TOKEN), or {hint}") from None
    except Exception as exc:  # network, auth, unknown revision: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"could not fetch {repo_id}@{revision or 'main'} from the hub ({first}); {hint}") from None
    loaded = read_local(snapshot, split=split, pick=pick)
    files = loaded.source.rsplit(" (", 1)[-1]
    return LoadedRows(loaded.rows, f"{repo_id}@{snapshot.name} ({files}", "hub", snapshot.name)


def read_hub_dataset(repo_id: str, *, split: str, revision: str | None,
                     hint: str = "pass `data` PATH instead") -> LoadedRows:
    """A hub dataset's split through `datasets` (its configs and file layout), with the commit it resolved."""
    import datasets

    try:
        builder = datasets.load_dataset_builder(repo_id, revision=revision)
        builder.download_and_prepare()
        rows = builder.as_dataset(split=split).to_list()
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"could not load {repo_id}@{revision or 'main'} ({split}) from the hub ({first}); {hint}") from None
    return LoadedRows(rows, f"{repo_id}@{builder.hash} ({split})", "hub", builder.hash)
