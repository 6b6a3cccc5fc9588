// The search page: one query, two modes side by side (POST /search each), scores, titles and passages with the
// query's terms highlighted, and the time each mode took. Plain browser JavaScript, no build step.
"use strict";

const $ = (selector) => document.querySelector(selector);
const STOPWORDS = new Set("a an and are as at be by do does for from how in is it of on or that the to was what when which who why with".split(" "));

/** Lower-cased words of the query worth highlighting (two characters or more, not a stop word). */
function queryTerms(query) {
  const words = query.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [];
  return [...new Set(words.filter((w) => w.length >= 2 && !STOPWORDS.has(w)))];
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Appends `text` to `parent`, each word that starts with a query term wrapped in <mark> (built as DOM nodes, no HTML parsing). */
function appendHighlighted(parent, text, terms) {
  if (terms.length === 0) {
    parent.append(text);
    return;
  }
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])(?:${terms.map(escapeRegExp).join("|")})[\\p{L}\\p{N}]*`, "giu");
  let at = 0;
  for (const match of text.matchAll(pattern)) {
    parent.append(text.slice(at, match.index));
    const mark = document.createElement("mark");
    mark.textContent = match[0];
    parent.append(mark);
    at = match.index + match[0].length;
  }
  parent.append(text.slice(at));
}

function showMessage(text) {
  const el = $("#message");
  el.textContent = text;
  el.hidden = !text;
}

function column(side) {
  const root = $(`#column-${side}`);
  return { root, name: root.querySelector(".mode-name"), timing: root.querySelector(".timing"), error: root.querySelector(".column-error"), list: root.querySelector(".results") };
}

function clearColumn(col) {
  col.list.replaceChildren();
  col.timing.textContent = "";
  col.error.hidden = true;
  col.error.textContent = "";
}

function renderResults(col, results, terms) {
  const items = results.map((r) => {
    const li = document.createElement("li");
    li.className = "result";
    li.dataset.id = r.id;
    li.dataset.score = String(r.score);
    const head = document.createElement("div");
    head.className = "head";
    const title = document.createElement("span");
    title.className = "title";
    appendHighlighted(title, r.title || "(no title)", terms);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = r.score.toFixed(4);
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = r.id;
    head.append(title, score, id);
    const text = document.createElement("p");
    text.className = "text";
    appendHighlighted(text, r.text || "", terms);
    li.append(head, text);
    return li;
  });
  col.list.replaceChildren(...items);
}

async function searchInto(side, query, mode, k, terms) {
  const col = column(side);
  clearColumn(col);
  col.name.textContent = mode;
  col.root.dataset.state = "loading";
  const t0 = performance.now();
  try {
    const response = await fetch("/search", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, k, mode }) });
    const body = await response.json();
    const ms = performance.now() - t0;
    if (!response.ok) throw new Error(body.message || `HTTP ${response.status}`);
    renderResults(col, body.results, terms);
    col.timing.textContent = `${ms.toFixed(1)} ms (server ${body.took_ms.toFixed(1)} ms)`;
    if (body.results.length === 0) {
      col.error.textContent = "no results";
      col.error.hidden = false;
    }
    col.root.dataset.state = "done";
  } catch (err) {
    col.error.textContent = `error: ${err.message}`;
    col.error.hidden = false;
    col.root.dataset.state = "error";
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const query = $("#query").value.trim();
  if (!query) {
    for (const side of ["left", "right"]) clearColumn(column(side));
    showMessage("Type a query to search.");
    return;
  }
  const k = Number($("#k").value) || 10;
  if (!Number.isInteger(k) || k < 1 || k > 100) {
    showMessage("k must be a whole number from 1 to 100.");
    return;
  }
  showMessage("");
  const terms = queryTerms(query);
  await Promise.all([searchInto("left", query, $("#mode-left").value, k, terms), searchInto("right", query, $("#mode-right").value, k, terms)]);
}

function fillModes(modes) {
  const left = modes.includes("bm25") ? "bm25" : modes[0];
  const right = ["rerank", "hybrid", "dense"].find((m) => modes.includes(m) && m !== left) || modes[modes.length - 1];
  for (const [id, chosen] of [["#mode-left", left], ["#mode-right", right]]) {
    const select = $(id);
    select.replaceChildren(...modes.map((m) => new Option(m, m, m === chosen, m === chosen)));
  }
}

async function connect() {
  try {
    const response = await fetch("/health");
    const health = await response.json();
    if (health.status === "ok") {
      fillModes(health.modes);
      const index = health.index ? `${health.index.count} passages (${health.index.kind} index)` : `${health.bm25.documents} passages (BM25)`;
      $("#status").textContent = `${index}; modes: ${health.modes.join(", ")}`;
      document.body.dataset.ready = "true";
      return;
    }
    $("#status").textContent = health.status === "loading" ? "loading the models…" : `unavailable: ${health.message}`;
  } catch (err) {
    $("#status").textContent = `cannot reach the server: ${err.message}`;
  }
  setTimeout(connect, 1000);
}

$("#search-form").addEventListener("submit", onSubmit);
connect();
