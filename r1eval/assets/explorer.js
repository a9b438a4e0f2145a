"use strict";
// r1eval sample explorer. The page holds a compact index (per run, per problem, per sample: verdict, answer,
// length, finish reason, and where its completion lives); completions live in data files of about 1 MB
// (explorer_data/<run>/c<N>.js, or the run directory's own explorer/ folder) loaded when a view needs them,
// and only the last KEEP_CHUNKS stay in memory. Views: the problem list (paginated), one problem side by side
// across runs, and search results (paginated; a per-file trigram filter skips data files that cannot match).
const R1Explorer = (() => {
  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const runs = DATA.runs;
  const PROBLEMS_PAGE = 50, SAMPLES_PAGE = 8, RESULTS_PAGE = 50, KEEP_CHUNKS = 24, SNIPPET = 120, PREFETCH = 6;
  const $ = (id) => document.getElementById(id);
  const search = $("search"), filter = $("filter"), scope = $("problems"), mathBox = $("math");
  const status = $("status"), view = $("view");

  // ------------------------------------------------------------------ problems across runs
  const problems = [], byKey = new Map();
  for (const run of runs) {
    run.byChunk = [];
    run.problems.forEach((prob, p) => {
      const key = run.bench + "\u0000" + prob.id;
      let entry = byKey.get(key);
      if (!entry) { entry = { key, bench: run.bench, id: prob.id, runs: [] }; byKey.set(key, entry); problems.push(entry); }
      entry.runs.push({ run, prob, p });
      prob.samples.forEach((m, j) => { (run.byChunk[m.c] = run.byChunk[m.c] || []).push([p, j]); });
    });
  }
  const runByKey = new Map(runs.map((r) => [r.key, r]));
  const multiBench = new Set(runs.map((r) => r.bench)).size > 1;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const link = (href, text) => { const a = el("a", null, text); a.href = href; return a; };
  const solved = (prob) => prob.samples.length > 0 && prob.right * 2 >= prob.samples.length;
  const disagree = (entry) => { const s = entry.runs.map((x) => solved(x.prob)); return s.includes(true) && s.includes(false); };
  const noAnswer = (m) => m.a === null || m.a === undefined;
  const verdictOf = (m) => (m.ok === true ? "right" : m.ok === false ? "wrong" : "unknown");
  function passes(m, f) {
    if (f === "right") return m.ok === true;
    if (f === "wrong") return m.ok === false;
    if (f === "truncated") return m.f === "length";
    if (f === "noanswer") return noAnswer(m);
    return true;
  }
  const entryShown = (entry, f, sc) => (sc !== "disagree" || disagree(entry)) &&
    (f === "all" || entry.runs.some((x) => x.prob.samples.some((m) => passes(m, f))));

  // ------------------------------------------------------------------ data files
  const chunks = new Map(), pending = new Map(), filters = new Map();

  function loadScript(src, id, store) {
    if (pending.has(id)) return pending.get(id).promise;
    let resolve, reject;
    const promise = new Promise((a, b) => { resolve = a; reject = b; });
    pending.set(id, { promise, resolve, reject, store });
    const s = document.createElement("script");
    s.src = src;
    s.onerror = () => { pending.delete(id); s.remove(); reject(new Error("cannot load " + src)); };
    s.onload = () => s.remove();
    document.head.appendChild(s);
    return promise;
  }
  function settle(id, value) {
    const p = pending.get(id);
    if (p) { pending.delete(id); p.resolve(value); }
  }
  // data files call these
  function receive(key, c, texts) {
    const id = key + "/" + c;
    chunks.set(id, texts);
    while (chunks.size > KEEP_CHUNKS) chunks.delete(chunks.keys().next().value);
    settle(id, texts);
  }
  function receiveFilter(key, bits, encoded) {
    const value = { bits, encoded };
    filters.set(key, value);
    settle(key + "/filter", value);
  }
  function loadChunk(run, c) {
    const id = run.dataKey + "/" + c;
    if (chunks.has(id)) { const t = chunks.get(id); chunks.delete(id); chunks.set(id, t); return Promise.resolve(t); }
    return loadScript(run.data + "c" + c + ".js", id);
  }
  function loadFilter(run) {
    if (filters.has(run.dataKey)) return Promise.resolve(filters.get(run.dataKey));
    return loadScript(run.data + "filter.js", run.dataKey + "/filter");
  }
  async function textOf(run, m) { return (await loadChunk(run, m.c))[m.o]; }

  function trigramHashes(q, bits) {   // the hashes of the query's all-ASCII trigrams (as explorer.py builds them)
    const b = new TextEncoder().encode(q), out = [];
    for (let i = 0; i + 2 < b.length; i++) {
      if (b[i] > 127 || b[i + 1] > 127 || b[i + 2] > 127) continue;
      out.push(Math.imul((b[i] << 14) | (b[i + 1] << 7) | b[i + 2], 0x9E3779B1) >>> (32 - bits));
    }
    return out;
  }
  // a data file's bitset stays base64: each test decodes only the 4 characters holding its byte
  const B64 = new Uint8Array(128);
  [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].forEach((ch, i) => { B64[ch.charCodeAt(0)] = i; });
  function byteAt(str, k) {
    const g = ((k / 3) | 0) * 4;
    const n = (B64[str.charCodeAt(g)] << 18) | (B64[str.charCodeAt(g + 1)] << 12) | (B64[str.charCodeAt(g + 2)] << 6) |
      B64[str.charCodeAt(g + 3)];
    return (n >> (16 - 8 * (k % 3))) & 255;
  }
  function mayContain(filter, c, hashes) {
    const set = filter.encoded[c];
    return hashes.every((h) => (byteAt(set, h >> 3) >> (h & 7)) & 1);
  }

  // ------------------------------------------------------------------ rendering
  function typeset(node) {
    if (!mathBox.checked || typeof renderMathInElement !== "function") return;
    renderMathInElement(node, {
      delimiters: [{ left: "$$", right: "$$", display: true }, { left: "\\[", right: "\\]", display: true },
                   { left: "\\(", right: "\\)", display: false }, { left: "$", right: "$", display: false }],
      ignoredTags: ["script", "noscript", "style", "textarea", "option"], throwOnError: false,
    });
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
  function sampleHead(m) {
    const head = el("div", "head");
    head.appendChild(el("span", null, "#" + m.i));
    head.appendChild(el("span", "verdict-" + verdictOf(m), m.ok === true ? "\u2713 right" : m.ok === false ? "\u2717 wrong" : "?"));
    head.appendChild(el("span", null, "answer: " + (noAnswer(m) ? "(none)" : m.a)));
    head.appendChild(el("span", null, (m.t === null || m.t === undefined ? "?" : m.t) + " tokens, " + m.chars + " chars"));
    head.appendChild(el("span", "badge" + (m.f === "length" ? " trunc" : ""), m.f === "length" ? "truncated" : (m.f || "?")));
    if (m.seed !== null && m.seed !== undefined) head.appendChild(el("span", "stat", "seed " + m.seed));
    return head;
  }
  function renderSample(run, m, text, q, open) {
    const box = el("div", "sample");
    Object.assign(box.dataset, { run: run.key, verdict: verdictOf(m), truncated: String(m.f === "length"),
                                 noanswer: String(noAnswer(m)), sampleIndex: String(m.i) });
    const head = sampleHead(m);
    const [think, answer, closed] = splitThink(text);
    if (!closed) head.appendChild(el("span", "badge unclosed", "reasoning never closed"));
    box.appendChild(head);
    if (m.d) box.appendChild(el("div", "detail", m.d));
    if (m.p) {
      const pd = el("details", "prompt");
      pd.appendChild(el("summary", null, "this sample's prompt"));
      pd.appendChild(el("div", "text", m.p));
      box.appendChild(pd);
    }
    if (think !== null) {
      const d = el("details", "think");
      d.appendChild(el("summary", null, "reasoning (" + think.length + " chars)"));
      const body = el("div", "text think-text");
      d.appendChild(body);
      const fill = () => { if (!body.dataset.filled) { body.dataset.filled = "1"; withMarks(body, think, q); typeset(body); } };
      d.addEventListener("toggle", () => { if (d.open) fill(); });
      if (open || (q && think.toLowerCase().includes(q))) { d.open = true; fill(); }
      box.appendChild(d);
    }
    const body = el("div", "text answer-text");
    withMarks(body, answer, q);
    typeset(body);
    box.appendChild(body);
    return box;
  }
  function pager(page, pages, go) {
    const nav = el("nav", "pager");
    const prev = el("button", null, "\u2190 previous"), next = el("button", null, "next \u2192");
    prev.disabled = page <= 0; next.disabled = page >= pages - 1;
    prev.onclick = () => go(page - 1); next.onclick = () => go(page + 1);
    nav.append(prev, el("span", null, " page " + (page + 1) + " of " + Math.max(1, pages) + " "), next);
    return nav;
  }
  const problemHref = (entry, keys, sample) => "#" + params({ problem: entry.id, bench: multiBench ? entry.bench : "",
                                                               runs: keys.join(","), sample: sample || "" });

  // ------------------------------------------------------------------ views
  function showList(state) {
    const shown = problems.filter((e) => entryShown(e, state.filter, state.problems));
    const pages = Math.ceil(shown.length / PROBLEMS_PAGE), page = Math.min(state.page, Math.max(0, pages - 1));
    const table = el("table", "problems");
    const head = table.createTHead().insertRow();
    head.append(el("th", null, "problem"), ...(multiBench ? [el("th", null, "bench")] : []),
                ...runs.map((r) => el("th", null, r.label)));
    const body = table.createTBody();
    for (const entry of shown.slice(page * PROBLEMS_PAGE, (page + 1) * PROBLEMS_PAGE)) {
      const row = body.insertRow();
      row.dataset.problemId = entry.id;
      if (disagree(entry)) row.className = "disagree";
      const cell = row.insertCell();
      cell.appendChild(link(problemHref(entry, entry.runs.map((x) => x.run.key)), entry.id));
      if (multiBench) row.insertCell().textContent = entry.bench;
      for (const run of runs) {
        const x = entry.runs.find((y) => y.run === run), c = row.insertCell();
        if (!x) { c.textContent = "-"; continue; }
        c.className = solved(x.prob) ? "solved" : "unsolved";
        c.textContent = x.prob.right + "/" + x.prob.samples.length + " right" +
          (x.prob.truncated ? ", " + x.prob.truncated + " cut" : "") +
          (state.filter !== "all" ? " (" + x.prob.samples.filter((m) => passes(m, state.filter)).length + " " + state.filter + ")" : "");
      }
    }
    const summary = el("h2", null, runs.map((r) => r.label + " \u2014 " + r.bench + " \u00b7 " + r.model + " \u00b7 pass@1 " +
      (r.pass1 === null || r.pass1 === undefined ? "?" : Number(r.pass1).toFixed(3))).join("  |  "));
    view.replaceChildren(summary, table, pager(page, pages, (p) => setParams({ page: p ? String(p + 1) : "" })));
    setStatus(shown.length + " problem" + (shown.length === 1 ? "" : "s") +
      (state.problems === "disagree" ? " where the runs disagree" : "") + (state.filter !== "all" ? " with " + state.filter + " samples" : ""),
      shown.reduce((n, e) => n + e.runs.reduce((k, x) => k + x.prob.samples.filter((m) => passes(m, state.filter)).length, 0), 0));
  }

  async function fillColumn(col, run, prob, state, gen, count) {
    const list = col.querySelector(".samples"), more = col.querySelector(".more");
    const chosen = prob.samples.filter((m) => passes(m, state.filter));
    const target = state.sample && state.sample.startsWith(run.key + ":") ? Number(state.sample.split(":")[1]) : null;
    let upto = Math.max(count, target === null ? 0 : chosen.findIndex((m) => m.i === target) + 1);
    upto = Math.min(chosen.length, upto);
    for (let j = list.children.length; j < upto; j++) {
      const m = chosen[j];
      let node;
      try { node = renderSample(run, m, await textOf(run, m), state.q, m.i === target); } catch (err) { node = el("div", "loading", String(err)); }
      if (gen !== generation) return;
      list.appendChild(node);
      if (m.i === target) { node.classList.add("target"); node.scrollIntoView({ block: "start" }); }
    }
    more.hidden = upto >= chosen.length;
    more.textContent = "show " + Math.min(SAMPLES_PAGE, chosen.length - upto) + " more of " + (chosen.length - upto);
    more.onclick = () => fillColumn(col, run, prob, state, generation, list.children.length + SAMPLES_PAGE);
    col.dataset.shown = String(list.children.length);
  }

  async function showProblem(state, gen) {
    const entry = problems.find((e) => e.id === state.problem && (!state.bench || e.bench === state.bench));
    if (!entry) { view.replaceChildren(el("p", "loading", "no problem " + state.problem + " in these runs")); setStatus("", 0); return; }
    const keys = state.runs ? state.runs.split(",").filter((k) => entry.runs.some((x) => x.run.key === k)) : [];
    const chosen = keys.length ? entry.runs.filter((x) => keys.includes(x.run.key)) : entry.runs;
    const top = el("section", "problem-view");
    top.dataset.problemId = entry.id;
    top.appendChild(el("h2", null, "problem " + entry.id + (multiBench ? " (" + entry.bench + ")" : "") +
      (disagree(entry) ? " \u2014 the runs disagree" : "")));
    const first = entry.runs[0].prob;
    const gold = el("div", "gold text", "gold: " + (first.gold === null ? "(none)" : first.gold));
    const prompt = el("details", "prompt");
    prompt.appendChild(el("summary", null, "prompt"));
    prompt.appendChild(el("div", "text", first.prompt));
    prompt.open = true;
    const picker = el("div", "picker");
    for (const x of entry.runs) {
      const label = el("label"), box = el("input");
      box.type = "checkbox"; box.checked = chosen.includes(x); box.value = x.run.key;
      box.onchange = () => setParams({ runs: [...picker.querySelectorAll("input:checked")].map((b) => b.value).join(","), sample: "" });
      label.append(box, " " + x.run.label);
      picker.appendChild(label);
    }
    top.append(gold, prompt, picker);
    typeset(gold); typeset(prompt);
    const grid = el("div", "columns");
    grid.style.gridTemplateColumns = "repeat(" + chosen.length + ", minmax(0, 1fr))";
    for (const x of chosen) {
      const col = el("div", "column");
      col.dataset.run = x.run.key;
      col.appendChild(el("h3", null, x.run.label));
      col.appendChild(el("div", "stat", x.prob.right + "/" + x.prob.samples.length + " right" +
        (x.prob.truncated ? ", " + x.prob.truncated + " truncated" : "")));
      col.append(el("div", "samples"), el("button", "more"));
      grid.appendChild(col);
    }
    top.appendChild(grid);
    view.replaceChildren(top);
    setStatus("problem " + entry.id + " in " + chosen.length + " run" + (chosen.length === 1 ? "" : "s"),
      chosen.reduce((n, x) => n + x.prob.samples.filter((m) => passes(m, state.filter)).length, 0));
    await Promise.all(chosen.map((x, k) => fillColumn(grid.children[k], x.run, x.prob, state, gen, SAMPLES_PAGE)));
  }

  // search: metadata matches first (problem id, answer), then completions file by file; stops once a page is full
  let scan = null;
  function newScan(state) {
    return { key: [state.q, state.filter, state.problems].join("\u0000"), q: state.q, filter: state.filter,
             problems: state.problems, results: [], seen: new Set(), run: 0, chunk: 0, done: false, scanned: 0,
             queue: [], listed: false, metaDone: false,
             remaining() { return runs.slice(this.run).reduce((n, r, k) => n + r.byChunk.length - (k ? 0 : this.chunk), 0); } };
  }
  function consider(s, run, p, j, where) {
    const id = run.key + "/" + p + "/" + j;
    if (s.seen.has(id)) return;
    const prob = run.problems[p], m = prob.samples[j];
    if (!passes(m, s.filter) || (s.problems === "disagree" && !disagree(byKey.get(run.bench + "\u0000" + prob.id)))) return;
    s.seen.add(id);
    s.results.push({ run, p, j, where });
  }
  async function extend(s, want, gen) {
    if (!s.metaDone) {
      for (const run of runs) run.problems.forEach((prob, p) => prob.samples.forEach((m, j) => {
        if (prob.id.toLowerCase().includes(s.q)) consider(s, run, p, j, { kind: "problem id" });
        else if (!noAnswer(m) && String(m.a).toLowerCase().includes(s.q)) consider(s, run, p, j, { kind: "answer" });
      }));
      s.metaDone = true;
    }
    while (s.results.length < want) {
      while (s.queue.length < PREFETCH && !s.listed) await nextCandidate(s);   // keep PREFETCH files loading
      if (!s.queue.length) { s.done = true; break; }
      const item = s.queue[0];
      let texts;
      try { texts = await item.texts; } catch (err) { s.queue.shift(); continue; }
      if (gen !== generation || scan !== s) return;   // another view: this file stays first in the queue
      s.queue.shift();
      const run = item.run;
      for (const [p, j] of run.byChunk[item.c]) {
        const m = run.problems[p].samples[j], hit = texts[m.o].toLowerCase().indexOf(s.q);
        if (hit >= 0) {
          const from = Math.max(0, hit - SNIPPET);
          consider(s, run, p, j, { kind: "completion", snippet: (from ? "\u2026" : "") + texts[m.o].slice(from, hit + s.q.length + SNIPPET) });
        }
      }
      s.scanned++;
      setStatus("searching\u2026 " + s.results.length + " match" + (s.results.length === 1 ? "" : "es") + " so far (" +
                s.scanned + " of at most " + (s.scanned + s.queue.length + s.remaining()) + " data files read)", s.results.length);
    }
  }
  async function nextCandidate(s) {   // queue the next data file the trigram filter admits (s.listed: none left)
    while (s.run < runs.length) {
      const run = runs[s.run];
      if (s.chunk >= run.byChunk.length) { s.run++; s.chunk = 0; continue; }
      const c = s.chunk++;
      if (!run.byChunk[c]) continue;
      const filt = await loadFilter(run).catch(() => null);
      if (filt && !mayContain(filt, c, trigramHashes(s.q, filt.bits))) continue;
      const texts = loadChunk(run, c);
      texts.catch(() => null);
      s.queue.push({ run, c, texts });
      return;
    }
    s.listed = true;
  }
  async function showSearch(state, gen) {
    if (!scan || scan.key !== [state.q, state.filter, state.problems].join("\u0000")) scan = newScan(state);
    const s = scan, page = state.page;
    await extend(s, (page + 1) * RESULTS_PAGE + 1, gen);
    if (gen !== generation) return;
    const list = el("ol", "results");
    list.start = page * RESULTS_PAGE + 1;
    for (const r of s.results.slice(page * RESULTS_PAGE, (page + 1) * RESULTS_PAGE)) {
      const prob = r.run.problems[r.p], m = prob.samples[r.j], entry = byKey.get(r.run.bench + "\u0000" + prob.id);
      const item = el("li", "result");
      Object.assign(item.dataset, { run: r.run.key, problemId: prob.id, sampleIndex: String(m.i), verdict: verdictOf(m) });
      const head = sampleHead(m);
      head.prepend(link(problemHref(entry, entry.runs.map((x) => x.run.key), r.run.key + ":" + m.i), prob.id),
                   el("span", "stat", r.run.label));
      item.appendChild(head);
      const snip = el("div", "text snippet");
      if (r.where.kind === "completion") withMarks(snip, r.where.snippet, s.q); else snip.textContent = "matched in its " + r.where.kind;
      item.appendChild(snip);
      list.appendChild(item);
    }
    const more = s.done ? Math.ceil(s.results.length / RESULTS_PAGE) : page + 2;
    view.replaceChildren(el("h2", null, "samples matching \u201c" + state.rawQ + "\u201d"), list,
                         pager(page, more, (p) => setParams({ page: p ? String(p + 1) : "" })));
    const n = s.results.length;
    setStatus(s.done ? n + " sample" + (n === 1 ? "" : "s") + " match" + (n === 1 ? "es" : "")
                     : "at least " + n + " samples match (more load with the next page)", n);
  }

  // ------------------------------------------------------------------ routing: the address is the view
  function params(obj) {
    const h = new URLSearchParams();
    for (const [k, v] of Object.entries(obj)) if (v !== "" && v !== null && v !== undefined) h.set(k, v);
    return h.toString();
  }
  function currentState() {
    const h = new URLSearchParams(location.hash.slice(1));
    const rawQ = (h.get("q") || "").trim();
    return { rawQ, q: rawQ.toLowerCase(), filter: h.get("filter") || "all", problems: h.get("problems") || "all",
             problem: h.get("problem"), bench: h.get("bench") || "", runs: h.get("runs") || "",
             sample: h.get("sample") || "", page: Math.max(0, Number(h.get("page") || 1) - 1) };
  }
  function setParams(changes) {
    const h = new URLSearchParams(location.hash.slice(1));
    for (const [k, v] of Object.entries(changes)) { if (v === "" || v === null || v === "all") h.delete(k); else h.set(k, v); }
    location.hash = h.toString();
  }
  function setStatus(text, samples) { status.textContent = text; status.dataset.samples = String(samples); }

  let generation = 0, lastRender = Promise.resolve();
  async function route() {
    const gen = ++generation, state = currentState();
    search.value = state.rawQ; filter.value = state.filter; scope.value = state.problems;
    document.body.dataset.view = state.problem ? "problem" : state.q ? "search" : "list";
    if (state.problem) await showProblem(state, gen);
    else if (state.q) await showSearch(state, gen);
    else showList(state);
    if (gen === generation) document.body.dataset.rendered = String(gen);
  }
  function render() { lastRender = route(); return lastRender; }

  let timer = null;
  search.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => setParams({ q: search.value.trim(), page: "", problem: "", sample: "" }), 250); });
  filter.addEventListener("change", () => setParams({ filter: filter.value, page: "" }));
  scope.addEventListener("change", () => setParams({ problems: scope.value, page: "" }));
  mathBox.addEventListener("change", render);
  $("home").addEventListener("click", (e) => { e.preventDefault(); setParams({ problem: "", runs: "", sample: "", q: "", page: "" }); });
  window.addEventListener("hashchange", render);
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && document.activeElement !== search) { e.preventDefault(); search.focus(); }
  });
  const ready = render().then(() => {
    api.openedMs = performance.now();
    // the search filters (~11 KB per MB of completions) load once the page is shown, before a search needs them
    setTimeout(() => runs.forEach((run) => loadFilter(run).catch(() => null)), 0);
  });

  // for scripts and tests: search(q) resolves once the first page of results is shown
  function searchFor(q) {
    const h = new URLSearchParams(location.hash.slice(1));
    for (const k of ["page", "problem", "sample", "bench", "runs"]) h.delete(k);
    if (q) h.set("q", q); else h.delete("q");
    history.replaceState(null, "", "#" + h.toString());
    return render();
  }
  // show(fragment) renders the view of an address fragment (as following a link does) and resolves when shown
  function show(fragment) { history.replaceState(null, "", "#" + fragment); return render(); }
  const api = { receive, receiveFilter, ready, search: searchFor, show, rendered: () => lastRender, openedMs: null };
  return api;
})();
