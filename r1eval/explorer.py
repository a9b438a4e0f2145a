"""The sample explorer of `r1eval report`: `explorer.html`, every sample of every run, problem by problem.

One page, opened from the file system (no server, no network): per run a section, per problem a fold with
its prompt, gold answer and pass count, per sample its verdict, extracted answer, length, finish reason and
completion, the `<think>` part folded. A search box (case-insensitive substring over completions, answers
and problem ids) and a filter (right / wrong / truncated / no answer) narrow the samples shown; both can be
set from the address, `explorer.html#q=TEXT&filter=wrong`, which is also how a shared link reopens a view.

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


def write_explorer(runs: Sequence[tuple[str, dict[str, Any], Sequence[dict[str, Any]]]], out: Path,
                   inline_chars: int = INLINE_CHARS, inline_total_chars: int = INLINE_TOTAL_CHARS) -> Path:
    """Write `out/explorer.html` (and `out/explorer_data/` for large runs) for (label, summary, samples) runs."""
    data_dir = out / "explorer_data"
    pages: list[dict[str, Any]] = []
    embedded = 0
    for k, (label, summary, samples) in enumerate(runs):
        meta, texts = run_data(f"r{k}", label, summary, samples)
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
    path.write_text(_PAGE.replace("__DATA__", _script_json(pages)).replace("__STYLE__", _STYLE)
                    .replace("__SCRIPT__", _SCRIPT).replace("__TITLE__", html.escape("r1eval sample explorer")),
                    encoding="utf-8")
    return path


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title><style>__STYLE__</style></head>
<body>
<header>
  <h1>Sample explorer</h1>
  <div class="controls">
    <input id="search" type="search" placeholder="search completions, answers, problem ids  (/)" autocomplete="off">
    <select id="filter">
      <option value="all">all samples</option><option value="right">right</option>
      <option value="wrong">wrong</option><option value="truncated">truncated (hit max tokens)</option>
      <option value="noanswer">no answer extracted</option>
    </select>
    <span id="status" role="status"></span>
  </div>
  <p class="hint"><a href="report.html">back to the report</a> &middot; the address keeps the view:
  <code>#q=TEXT&amp;filter=wrong</code></p>
</header>
<main id="runs"></main>
<script type="application/json" id="explorer-data">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""

_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{position:sticky;top:0;background:#fff;border-bottom:1px solid #ddd;padding:.6em 1.2em;z-index:2}
h1{font-size:1.2em;margin:0 0 .4em}
.controls{display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
#search{flex:1;min-width:16em;padding:.35em .5em;font-size:1em}
#status{color:#555;font-size:.9em}.hint{margin:.3em 0 0;font-size:.8em;color:#666}
main{padding:0 1.2em 3em}
section.run>h2{font-size:1.05em;margin:1.2em 0 .4em;border-bottom:2px solid #ccc}
details.problem{background:#fff;border:1px solid #ddd;border-radius:4px;margin:.3em 0;padding:.2em .6em}
details.problem>summary{cursor:pointer;font-weight:600}
.stat{font-weight:400;color:#555;margin-left:.6em}
.sample{border-top:1px solid #eee;padding:.4em 0}
.sample .head{font-size:.88em;display:flex;gap:.8em;flex-wrap:wrap;align-items:baseline}
.verdict-right{color:#0a7b32;font-weight:700}.verdict-wrong{color:#b3261e;font-weight:700}
.badge{font-size:.78em;padding:0 .4em;border-radius:3px;background:#eee}
.badge.trunc{background:#ffe3b3}.badge.unclosed{background:#f6d0f6}
pre{white-space:pre-wrap;word-break:break-word;margin:.3em 0;font-size:.85em;background:#f6f6f6;padding:.4em;
border-radius:3px;max-height:40em;overflow:auto}
details.think>summary,details.prompt>summary{cursor:pointer;color:#555;font-size:.85em}
pre.think-text{background:#f3f0ff}mark{background:#ffe66d}
.gold{font-size:.88em;margin:.3em 0}.detail{font-size:.78em;color:#666;font-family:monospace;word-break:break-all}.loading{color:#777;font-style:italic}
"""

_SCRIPT = r"""
"use strict";
const R1Explorer = (() => {
  const runs = JSON.parse(document.getElementById("explorer-data").textContent);
  const texts = {};       // run key -> problem index -> completions
  const waiting = {};     // run key/problem index -> resolve callbacks
  const lowered = new Map();
  const search = document.getElementById("search"), filter = document.getElementById("filter");
  const status = document.getElementById("status"), root = document.getElementById("runs");
  let generation = 0;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // chunk files call this: R1Explorer.receive(runKey, problemIndex, completions)
  function receive(key, p, completions) {
    (texts[key] = texts[key] || {})[p] = completions;
    for (const done of waiting[key + "/" + p] || []) done(completions);
    delete waiting[key + "/" + p];
  }

  function load(run, p) {
    if (texts[run.key] && texts[run.key][p]) return Promise.resolve(texts[run.key][p]);
    return new Promise((resolve, reject) => {
      const id = run.key + "/" + p;
      const first = !waiting[id];
      (waiting[id] = waiting[id] || []).push(resolve);
      if (!first) return;
      const s = document.createElement("script");
      s.src = "explorer_data/" + run.key + "/p" + p + ".js";
      s.onerror = () => reject(new Error("cannot load " + s.src));
      document.head.appendChild(s);
    });
  }

  function verdictOf(m) { return m.ok === true ? "right" : m.ok === false ? "wrong" : "unknown"; }

  function passesFilter(m, f) {
    if (f === "right") return m.ok === true;
    if (f === "wrong") return m.ok === false;
    if (f === "truncated") return m.f === "length";
    if (f === "noanswer") return m.a === null || m.a === undefined;
    return true;
  }

  function withMarks(parent, text, q) {   // text with every case-insensitive occurrence of q in <mark>
    if (!q) { parent.textContent = text; return; }
    const low = text.toLowerCase();
    let at = 0, hit;
    while ((hit = low.indexOf(q, at)) >= 0) {
      parent.appendChild(document.createTextNode(text.slice(at, hit)));
      parent.appendChild(el("mark", null, text.slice(hit, hit + q.length)));
      at = hit + q.length;
    }
    parent.appendChild(document.createTextNode(text.slice(at)));
  }

  function splitThink(text) {   // [reasoning or null, answer part, closed?]
    const close = text.lastIndexOf("</think>");
    if (close >= 0) {
      const open = text.indexOf("<think>");
      const start = open >= 0 && open < close ? open + "<think>".length : 0;
      return [text.slice(start, close), text.slice(close + "</think>".length), true];
    }
    const open = text.indexOf("<think>");
    if (open >= 0) return [text.slice(open + "<think>".length), "", false];
    return [null, text, true];
  }

  function renderSample(m, text, q) {
    const box = el("div", "sample");
    box.dataset.verdict = verdictOf(m);
    box.dataset.truncated = String(m.f === "length");
    box.dataset.noanswer = String(m.a === null || m.a === undefined);
    box.dataset.sampleIndex = String(m.i);
    const head = el("div", "head");
    head.appendChild(el("span", null, "#" + m.i));
    head.appendChild(el("span", "verdict-" + verdictOf(m), m.ok === true ? "\u2713 right" : m.ok === false ? "\u2717 wrong" : "?"));
    head.appendChild(el("span", null, "answer: " + (m.a === null || m.a === undefined ? "(none)" : m.a)));
    head.appendChild(el("span", null, (m.t === null || m.t === undefined ? "?" : m.t) + " tokens, " + m.chars + " chars"));
    head.appendChild(el("span", "badge" + (m.f === "length" ? " trunc" : ""), m.f === "length" ? "truncated" : (m.f || "?")));
    if (m.seed !== null && m.seed !== undefined) head.appendChild(el("span", "stat", "seed " + m.seed));
    const [think, answer, closed] = splitThink(text);
    if (!closed) head.appendChild(el("span", "badge unclosed", "reasoning never closed"));
    box.appendChild(head);
    if (m.d) box.appendChild(el("div", "detail", m.d));
    if (m.p) {
      const pd = el("details", "prompt");
      pd.appendChild(el("summary", null, "this sample's prompt"));
      pd.appendChild(el("pre", null, m.p));
      box.appendChild(pd);
    }
    if (think !== null) {
      const d = el("details", "think");
      d.appendChild(el("summary", null, "reasoning (" + think.length + " chars)"));
      const pre = el("pre", "think-text");
      withMarks(pre, think, q);
      d.appendChild(pre);
      if (q && think.toLowerCase().includes(q)) d.open = true;
      box.appendChild(d);
    }
    const pre = el("pre", "answer-text");
    withMarks(pre, answer, q);
    box.appendChild(pre);
    return box;
  }

  function textMatches(run, p, j, q) {
    const id = run.key + "/" + p + "/" + j;
    if (!lowered.has(id)) lowered.set(id, texts[run.key][p][j].toLowerCase());
    return lowered.get(id).includes(q);
  }

  function sampleMatches(run, prob, p, j, q, f) {
    const m = prob.samples[j];
    if (!passesFilter(m, f)) return false;
    if (!q) return true;
    if (prob.id.toLowerCase().includes(q) || (m.a && m.a.toLowerCase().includes(q))) return true;
    return Boolean(texts[run.key] && texts[run.key][p]) && textMatches(run, p, j, q);
  }

  function fillProblem(run, prob, p, node, q, f) {   // (re)render the samples that pass; returns how many
    const box = node.querySelector(".samples");
    box.replaceChildren();
    let shown = 0;
    prob.samples.forEach((m, j) => {
      if (!sampleMatches(run, prob, p, j, q, f)) return;
      box.appendChild(renderSample(m, texts[run.key][p][j], q));
      shown++;
    });
    node.dataset.rendered = "true";
    return shown;
  }

  function problemNode(run, prob, p) {
    const node = el("details", "problem");
    node.dataset.problemId = prob.id;
    node.dataset.run = run.key;
    const sum = el("summary", null, prob.id);
    sum.appendChild(el("span", "stat", prob.right + "/" + prob.samples.length + " right"));
    if (prob.truncated) sum.appendChild(el("span", "stat", prob.truncated + " truncated"));
    node.appendChild(sum);
    const pd = el("details", "prompt");
    pd.appendChild(el("summary", null, "prompt"));
    pd.appendChild(el("pre", null, prob.prompt));
    node.appendChild(pd);
    node.appendChild(el("div", "gold", "gold: " + (prob.gold === null ? "(none)" : prob.gold)));
    node.appendChild(el("div", "samples"));
    node.addEventListener("toggle", () => {
      if (node.open && node.dataset.rendered !== "true") {
        node.querySelector(".samples").replaceChildren(el("div", "loading", "loading samples\u2026"));
        load(run, p).then(() => fillProblem(run, prob, p, node, query(), filter.value),
                          (err) => node.querySelector(".samples").replaceChildren(el("div", "loading", String(err))));
      }
    });
    return node;
  }

  function query() { return search.value.trim().toLowerCase(); }

  async function apply() {
    const gen = ++generation, q = query(), f = filter.value;
    const hash = new URLSearchParams();
    if (q) hash.set("q", search.value.trim());
    if (f !== "all") hash.set("filter", f);
    history.replaceState(null, "", hash.toString() ? "#" + hash.toString() : location.pathname + location.search);
    if (q) {   // full-text search needs every completion: load the problems not loaded yet
      const missing = [];
      for (const run of runs) run.problems.forEach((_, p) => { if (!(texts[run.key] && texts[run.key][p])) missing.push([run, p]); });
      for (let k = 0; k < missing.length; k++) {
        status.textContent = "searching: loaded " + k + "/" + missing.length + " problems\u2026";
        try { await load(missing[k][0], missing[k][1]); } catch (err) { status.textContent = String(err); return; }
        if (gen !== generation) return;
      }
    }
    let samples = 0, problems = 0;
    for (const run of runs) {
      run.problems.forEach((prob, p) => {
        const node = run.nodes[p];
        const loaded = Boolean(texts[run.key] && texts[run.key][p]);
        let shown;
        if (loaded && (q || node.dataset.rendered === "true" || !run.chunked)) {
          shown = fillProblem(run, prob, p, node, q, f);
        } else {   // not loaded: count from the metadata; rendered when opened
          shown = prob.samples.filter((m) => passesFilter(m, f)).length;
          node.dataset.rendered = "false";
        }
        node.hidden = shown === 0 && (q !== "" || f !== "all");
        if (q) node.open = shown > 0;
        if (shown) { samples += shown; problems++; }
      });
    }
    status.textContent = (q || f !== "all") ? samples + " sample" + (samples === 1 ? "" : "s") + " in " + problems +
      " problem" + (problems === 1 ? "" : "s") + " match" : samples + " samples in " + problems + " problems";
    status.dataset.samples = String(samples);
  }

  function build() {
    for (const run of runs) {
      if (run.texts) texts[run.key] = Object.assign({}, run.texts);
      const section = el("section", "run");
      section.dataset.run = run.key;
      const ci = run.ci ? " (95% CI " + run.ci.map((x) => Number(x).toFixed(3)).join("\u2013") + ")" : "";
      section.appendChild(el("h2", null, run.label + " \u2014 " + run.bench + " \u00b7 " + run.model + " \u00b7 pass@1 " +
        (run.pass1 === null || run.pass1 === undefined ? "?" : Number(run.pass1).toFixed(3)) + ci + " \u00b7 " +
        run.problems.length + " problems" + (run.chunked ? " (samples load when a problem is opened)" : "")));
      run.nodes = run.problems.map((prob, p) => section.appendChild(problemNode(run, prob, p)));
      root.appendChild(section);
    }
    const params = new URLSearchParams(location.hash.slice(1));
    if (params.get("q")) search.value = params.get("q");
    if (params.get("filter")) filter.value = params.get("filter");
    let timer = null;
    search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(apply, 200); });
    filter.addEventListener("change", apply);
    document.addEventListener("keydown", (e) => {
      if (e.key === "/" && document.activeElement !== search) { e.preventDefault(); search.focus(); }
    });
    apply();
  }

  build();
  return { receive, apply };
})();
"""
