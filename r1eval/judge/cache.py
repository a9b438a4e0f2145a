"""Judge verdicts cached in a JSONL file beside the output (calibrate, audit, distill filter): one reply per
prompt key (the judge's identity and the exact prompt), appended and fsynced as it arrives, so a rerun asks
the judge only what it has not answered yet."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from r1eval.judge.client import Judge, JudgeDown, JudgeSpec
from r1eval.records import json_text


class VerdictCache:
    """verdicts.jsonl: {key, verdict, error, reply} rows; the last row of a key wins."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies: dict[str, dict[str, Any]] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn last line of a killed run
                if isinstance(row, dict) and "key" in row:
                    self.replies[row["key"]] = row

    def add(self, row: dict[str, Any]) -> None:
        self.replies[row["key"]] = row
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json_text(row) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def ask_cached(spec: JudgeSpec, prompts: dict[str, str], cache: VerdictCache, what: str = "items",
               progress: bool = False) -> None:
    """Ask the judge every prompt not in `cache` and cache each reply as it arrives. A judge that stays down
    is one line naming it and how many `what` still lack a verdict."""
    from tqdm import tqdm

    todo = {k: p for k, p in prompts.items() if k not in cache.replies}
    if not todo:
        return
    judge = Judge(spec)
    bar = tqdm(total=len(todo), desc="judge", unit="verdict", disable=not progress, dynamic_ncols=True)
    try:
        for key, reply in judge.ask(todo):
            cache.add({"key": key, "verdict": reply.verdict, "error": reply.error, "reply": reply.reply})
            bar.update(1)
    except JudgeDown as exc:
        raise exc.lacking(len(todo) - bar.n, what) from None
    finally:
        bar.close()
        judge.close()
