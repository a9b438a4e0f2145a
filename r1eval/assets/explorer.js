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
