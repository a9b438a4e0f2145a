"""The sample explorer of `r1eval report`: `explorer.html`, every sample of every run, problem by problem.

One page (markup, style and script are package data files in r1eval/assets/), opened from the file
system (no server, no network): per run a section, per problem a fold with its prompt, gold answer and
pass count, per sample its verdict, extracted answer, length, finish reason and completion, the `<think>`
part folded. A search box (case-insensitive substring over completions, answers and problem ids) and a
filter (right / wrong / truncated / no answer) narrow the samples shown; both can be set from the address,
`explorer.html#q=TEXT&filter=wrong`, which is also how a shared link reopens a view.

Size: a run whose completions fit in `INLINE_CHARS` is embedded in the page and rendered at load, so its text
is in the DOM (find-in-page and `chromium --dump-dom` see it). A larger run (30 problems x 64 samples x 32k
tokens is ~200 MB of text) is written as one script per problem under `explorer_data/` and rendered when its
problem is opened; a search loads the problems' scripts one after another, reporting progress. The page
itself then holds only the per-sample metadata.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from r1eval.records import json_text

INLINE_CHARS = 8_000_000  # completion characters per run embedded in the page
INLINE_TOTAL_CHARS = 24_000_000  # and over all embedded runs
DETAIL_CHARS = 400  # of a sample's grading detail shown


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


def run_data(key: str, label: str, summary: dict[str, Any], samples: Sequence[dict[str, Any]]
             ) -> tuple[dict[str, Any], list[list[str]]]:
    """(metadata for the page, completions per problem) of one run, problems in first-appearance order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault(str(s.get("problem_id")), []).append(s)
    problems, texts = [], []
    for pid, group in groups.items():
        group.sort(key=lambda s: (s.get("sample_index") is None, s.get("sample_index") or 0))
        prompt = _prompt_text(group[0].get("prompt"))
        rows = []
        for j, s in enumerate(group):
            row = {"i": s.get("sample_index", j), "ok": s.get("correct"), "a": _as_text(s.get("extracted_answer")),
                   "t": s.get("completion_tokens"), "f": s.get("finish_reason"), "seed": s.get("seed"),
                   "chars": len(s.get("completion") or "")}
            detail = {k: v for k, v in (s.get("detail") or {}).items() if k != "backend"}
            if detail:  # the grader's account: sandbox verdict, choice order, lm-eval filter outputs...
                text = json.dumps(detail, ensure_ascii=False, default=str)
                row["d"] = text if len(text) <= DETAIL_CHARS else text[:DETAIL_CHARS] + "…"
            own_prompt = _prompt_text(s.get("prompt"))
            if own_prompt != prompt:  # e.g. GPQA shows each sample its own choice order
                row["p"] = own_prompt
            rows.append(row)
        problems.append({"id": pid, "gold": _as_text(group[0].get("gold")), "prompt": prompt, "samples": rows,
                         "right": sum(bool(s.get("correct")) for s in group),
                         "truncated": sum(s.get("finish_reason") == "length" for s in group)})
        texts.append([str(s.get("completion") or "") for s in group])
    meta = {"key": key, "label": label, "bench": summary.get("bench"), "model": summary.get("model"),
            "pass1": summary.get("pass@1"), "ci": summary.get("pass@1_ci95"), "n": summary.get("n_samples"),
            "problems": problems}
    return meta, texts


def _script_json(obj: Any) -> str:
    """JSON safe inside a <script> element (no `</script>` or `<!--` can appear)."""
    return json_text(obj).replace("<", "\\u003c")


def write_explorer(runs: Sequence[tuple[str, str, dict[str, Any], Sequence[dict[str, Any]]]], out: Path,
                   inline_chars: int = INLINE_CHARS, inline_total_chars: int = INLINE_TOTAL_CHARS) -> Path:
    """Write `out/explorer.html` (and `out/explorer_data/` for large runs) for (label, summary, samples) runs."""
    data_dir = out / "explorer_data"
    pages: list[dict[str, Any]] = []
    embedded = 0
    for key, label, summary, samples in runs:
        meta, texts = run_data(key, label, summary, samples)
        size = sum(len(t) for ts in texts for t in ts)
        if size <= inline_chars and embedded + size <= inline_total_chars:
            meta["texts"] = texts
            embedded += size
        else:
            meta["chunked"] = True
            run_dir = data_dir / meta["key"]
            run_dir.mkdir(parents=True, exist_ok=True)
            for p, ts in enumerate(texts):
                (run_dir / f"p{p}.js").write_text(f"R1Explorer.receive({json.dumps(meta['key'])}, {p}, "
                                                  f"{json_text(ts)});\n", encoding="utf-8")
        pages.append(meta)
    path = out / "explorer.html"
    page = (asset("explorer.html").replace("__TITLE__", html.escape("r1eval sample explorer"))
            .replace("__STYLE__", asset("explorer.css")).replace("__SCRIPT__", asset("explorer.js")))
    path.write_text(page.replace("__DATA__", _script_json(pages)), encoding="utf-8")  # data last: it is user text
    return path


def asset(name: str) -> str:
    """The text of one of the explorer's package data files (r1eval/assets/: page, style, script)."""
    return (resources.files("r1eval") / "assets" / name).read_text(encoding="utf-8")
