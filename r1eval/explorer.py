"""The sample explorer of `r1eval report`: `explorer.html`, every sample of every run, problem by problem.

One page opened from the file system (no server, no network); its script, style and the vendored KaTeX are
package data files (r1eval/assets/) copied to `explorer_assets/`. Views, each kept in the address:
- the problem list, paginated, with each run's right/n per problem; a filter keeps the problems where the runs
  disagree (right in one, wrong in another), another the problems with right / wrong / truncated / unanswered
  samples (`#problems=disagree&filter=wrong`);
- one problem side by side across runs (`#problem=ID&runs=r0,r1`): prompt and gold answer, per run its samples
  (verdict, extracted answer, length, finish reason, seed, completion with the `<think>` part folded), a few at
  a time, math rendered with KaTeX (a checkbox shows the raw text);
- search results (`#q=TEXT`): samples whose completion, answer or problem id contains TEXT (case-insensitive),
  a page at a time, with a snippet around the match.

Scale: the page holds only a compact index (per sample: verdict, answer, length, finish reason, seed, where its
completion is). Completions are written once into data files of about `CHUNK_CHARS` characters, loaded when a
view needs them (the browser keeps the last 24). Each data file has a bitset of the hashed ASCII trigrams of its
lower-cased text (`filter.js`), so a search reads only the files that can contain the query, and stops once a
page of results is found. The data files go into the report (`explorer_data/`) when the runs' samples.jsonl
total at most `COPY_LIMIT` bytes (or `copy=True`); for larger runs they go into each run directory's own
`explorer/` folder, written once and shared by every report of that run, so a report does not duplicate the
runs' completions (a run directory that cannot be written falls back to a copy in the report).
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from r1eval.errors import UsageError
from r1eval.records import json_text

CHUNK_CHARS = 1_000_000  # completion characters per data file
FILTER_BITS = 16  # log2 of the trigram bitset per data file (8 KB)
COPY_LIMIT = 64 * 2**20  # samples.jsonl bytes over all runs copied into the report by default
DETAIL_CHARS = 400  # of a sample's grading detail shown
SIDECAR = "explorer"  # the data files' folder inside a run directory
FORMAT = 1  # of the data files; a side-car of another format (or of other samples) is rewritten


def _prompt_text(prompt: Any) -> str:
    """What a sample was asked: the rendered prompt, or the chat messages' text."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n\n".join(f"[{m.get('role', '?')}]\n{m.get('content', '')}" for m in prompt if isinstance(m, dict))
    return "" if prompt is None else json.dumps(prompt, ensure_ascii=False)


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def iter_sample_rows(path: Path) -> Iterator[dict[str, Any]]:
    """samples.jsonl rows one at a time (bounded memory); a torn last line is skipped."""
    if not path.is_file():
        return
    with path.open("rb") as fh:
        pending: tuple[int, bytes] | None = None
        for lineno, raw in enumerate(fh, 1):
            if pending is not None:
                raise UsageError(f"{path}:{pending[0]}: corrupt sample line (not JSON); remove it and rerun to resume")
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                pending = (lineno, raw)  # an error only if another line follows (else: killed mid-write)
                continue
            if isinstance(row, dict):
                yield row


def trigram_bitset(text: str, bits: int = FILTER_BITS) -> bytes:
    """The set of hashed all-ASCII trigrams of `text.lower()` (UTF-8), as a little-endian bitset of 2**bits
    bits; explorer.js hashes a query the same way (Math.imul(b0<<14 | b1<<7 | b2, 0x9E3779B1) >>> (32-bits))."""
    import numpy as np

    b = np.frombuffer(text.lower().encode("utf-8", "replace"), dtype=np.uint8)  # a lone surrogate: "?"
    bitset = np.zeros(1 << bits, dtype=bool)
    if b.size >= 3:
        ascii_ = b < 128
        keep = ascii_[:-2] & ascii_[1:-1] & ascii_[2:]
        b32 = b.astype(np.uint32)
        seen = np.zeros(1 << 21, dtype=bool)  # every all-ASCII trigram as 3 x 7 bits, then hash the distinct ones
        seen[((b32[:-2] << 14) | (b32[1:-1] << 7) | b32[2:])[keep]] = True
        codes = np.flatnonzero(seen).astype(np.uint64)
        bitset[((codes * 0x9E3779B1) & 0xFFFFFFFF) >> (32 - bits)] = True
    return np.packbits(bitset, bitorder="little").tobytes()


class _DataWriter:
    """Writes one run's completions into data files of about CHUNK_CHARS characters and their filter."""

    def __init__(self, key: str, folder: Path | None) -> None:
        self.key, self.folder = key, folder  # folder None: the files are up to date already
        self.texts: list[str] = []
        self.size = 0
        self.chunk = 0
        self.filters: list[str] = []
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)

    def add(self, text: str) -> tuple[int, int]:
        """Place one completion; returns (data file, position in it)."""
        if self.texts and self.size + len(text) > CHUNK_CHARS:
            self.flush()
        self.texts.append(text)
        self.size += len(text)
        return self.chunk, len(self.texts) - 1

    def flush(self) -> None:
        if not self.texts:
            return
        if self.folder is not None:
            import base64

            (self.folder / f"c{self.chunk}.js").write_text(
                f"R1Explorer.receive({json.dumps(self.key)}, {self.chunk}, {json_text(self.texts)});\n", encoding="utf-8")
            self.filters.append(base64.b64encode(trigram_bitset("\x00".join(self.texts))).decode())
        self.texts, self.size = [], 0
        self.chunk += 1

    def close(self) -> None:
        self.flush()
        if self.folder is not None:
            (self.folder / "filter.js").write_text(
                f"R1Explorer.receiveFilter({json.dumps(self.key)}, {FILTER_BITS}, {json.dumps(self.filters)});\n",
                encoding="utf-8")


def _sidecar_stamp(run_dir: Path) -> dict[str, Any]:
    """What a side-car's data files were written from; its `key` names the run in the files' calls."""
    import hashlib

    st = (run_dir / "samples.jsonl").stat()
    return {"format": FORMAT, "chunk_chars": CHUNK_CHARS, "filter_bits": FILTER_BITS, "samples_bytes": st.st_size,
            "samples_mtime_ns": st.st_mtime_ns,
            "key": "s" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:10]}


def _data_folder(key: str, run_dir: Path, out: Path, copy: bool) -> tuple[Path, Path | None, str]:
    """(folder the page loads the run's data files from, folder to write them to or None when they are up to
    date, the run's key in the data files)."""
    own = out / "explorer_data" / key
    if copy:
        return own, own, key
    side = run_dir / SIDECAR
    stamp = _sidecar_stamp(run_dir)
    try:
        old = json.loads((side / "stamp.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if old == stamp and (side / "filter.js").is_file():
        return side, None, stamp["key"]
    try:
        side.mkdir(exist_ok=True)
        (side / "stamp.json").unlink(missing_ok=True)
        return side, side, stamp["key"]
    except OSError:  # a read-only run directory: copy into the report
        return own, own, key


def run_index(key: str, label: str, summary: dict[str, Any], samples_path: Path, writer: _DataWriter
              ) -> dict[str, Any]:
    """One run's entry of the page's index, streaming samples.jsonl once and placing each completion."""
    groups: dict[str, list[dict[str, Any]]] = {}
    prompts: dict[str, str] = {}
    for s in iter_sample_rows(samples_path):
        pid = str(s.get("problem_id"))
        c, o = writer.add(str(s.get("completion") or ""))
        row = {"i": s.get("sample_index"), "ok": s.get("correct"), "a": _as_text(s.get("extracted_answer")),
               "t": s.get("completion_tokens"), "f": s.get("finish_reason"), "seed": s.get("seed"),
               "chars": len(s.get("completion") or ""), "c": c, "o": o, "gold": _as_text(s.get("gold"))}
        detail = {k: v for k, v in (s.get("detail") or {}).items() if k != "backend"}
        if detail:  # the grader's account: sandbox verdict, choice order, lm-eval filter outputs...
            text = json.dumps(detail, ensure_ascii=False, default=str)
            row["d"] = text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"
        prompt = _prompt_text(s.get("prompt"))
        if pid not in groups:
            groups[pid], prompts[pid] = [], prompt
        elif prompt != prompts[pid]:  # e.g. GPQA shows each sample its own choice order
            row["p"] = prompt
        groups[pid].append(row)
    writer.close()
    problems = []
    for pid, group in groups.items():
        by_index = {r["i"]: r for r in group}  # a sample written twice (a resumed run): the last counts
        rows = sorted(by_index.values(), key=lambda r: (r["i"] is None, r["i"] or 0))
        for j, r in enumerate(rows):
            r["i"] = j if r["i"] is None else r["i"]
        gold = rows[0].pop("gold")
        for r in rows[1:]:
            r.pop("gold")
        problems.append({"id": pid, "gold": gold, "prompt": prompts[pid], "samples": rows,
                         "right": sum(bool(r["ok"]) for r in rows), "truncated": sum(r["f"] == "length" for r in rows)})
    return {"key": key, "label": label, "bench": summary.get("bench"), "model": summary.get("model"),
            "pass1": summary.get("pass@1"), "ci": summary.get("pass@1_ci95"), "n": summary.get("n_samples"),
            "problems": problems}


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` or `<!--` can appear)."""
    return json_text(obj).replace("<", "\\u003c")


def asset(name: str) -> str:
    """The text of one of the explorer's package data files (r1eval/assets/)."""
    return (resources.files("r1eval") / "assets" / name).read_text(encoding="utf-8")


def _copy_assets(out: Path) -> None:
    """explorer.js, explorer.css and KaTeX (script, style, woff2 fonts, license) into out/explorer_assets/."""
    target = out / "explorer_assets"
    root = resources.files("r1eval") / "assets"
    with resources.as_file(root) as src:
        shutil.copytree(src / "katex", target / "katex", dirs_exist_ok=True)
        for name in ("explorer.js", "explorer.css"):
            shutil.copyfile(src / name, target / name)


def write_explorer(runs: Sequence[tuple[str, str, dict[str, Any], Path]], out: Path, *, copy: bool | None = None
                   ) -> Path:
    """Write `out/explorer.html` (+ explorer_assets/, and explorer_data/ or the runs' side-cars) for
    (key, label, summary, run directory) runs. `copy`: data files into the report (default: when the runs'
    samples.jsonl total at most COPY_LIMIT bytes)."""
    if copy is None:
        copy = sum((Path(d) / "samples.jsonl").stat().st_size for *_, d in runs
                   if (Path(d) / "samples.jsonl").is_file()) <= COPY_LIMIT
    shutil.rmtree(out / "explorer_data", ignore_errors=True)  # a previous report's files
    index = []
    for key, label, summary, run_dir in runs:
        run_dir = Path(run_dir)
        folder, write_to, data_key = _data_folder(key, run_dir, out, copy or not (run_dir / "samples.jsonl").is_file())
        if write_to is not None:
            shutil.rmtree(write_to, ignore_errors=True)
        entry = run_index(data_key, label, summary, run_dir / "samples.jsonl", _DataWriter(data_key, write_to))
        if write_to is not None and data_key != key:
            (write_to / "stamp.json").write_text(json.dumps(_sidecar_stamp(run_dir)) + "\n", encoding="utf-8")
        entry["key"], entry["dataKey"] = key, data_key
        entry["data"] = quote(Path(os.path.relpath(folder, out)).as_posix()) + "/"
        index.append(entry)
    _copy_assets(out)
    page = asset("explorer.html").replace("__TITLE__", html.escape("r1eval sample explorer"))
    path = out / "explorer.html"
    path.write_text(page.replace("__DATA__", _script_json({"runs": index})), encoding="utf-8")  # data last: user text
    return path
