// The operators' dashboard: polls the hub's JSON API every second and shows
// its edges (grouped by region, with rates computed between polls), a chart
// of messages per second and the hubs; Drain and Kick once a token is typed.
// A classic script, not a module: it imports nothing, and a module fetch
// would carry an Origin header, which older hubs refused without a token.
"use strict";

const POLL_MS = 1000;
const CHART_S = 300;         // the chart's span: 5 minutes of 1 s points
const RATE_WINDOW_MS = 3000; // rates over ~3 s: edges report about once a second
const TOKEN_KEY = "spoke-dashboard:token";

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat("en-US");

let token = sessionStorage.getItem(TOKEN_KEY) || "";
const draining = new Set();  // edges this page asked to drain
const samples = new Map();   // edge name -> [{t, msgs_in, msgs_out}] over RATE_WINDOW_MS
const series = [];           // [{t, in, out}], oldest first, at most CHART_S + 1

// ---- API calls
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, init = {}) {
  const headers = { Accept: "application/json", ...(init.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { cache: "no-store", ...init, headers });
  } catch (e) {
    throw new ApiError(0, `the hub cannot be reached (${e.message})`);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  if (!res.ok && res.status !== 503) {
    const why = body && typeof body.error === "string" ? body.error : res.statusText;
    throw new ApiError(res.status, `${path}: ${res.status} ${why}`);
  }
  return { status: res.status, body };
}

// ---- formatting
function fmtRate(r) {
  if (!Number.isFinite(r)) return "–";
  if (r === 0) return "0";
  return r < 10 ? r.toFixed(1) : fmtInt.format(Math.round(r));
}

function fmtUptime(s) {
  if (!Number.isFinite(s)) return "–";
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${Math.floor(s % 60)}s`;
  return `${Math.floor(s)}s`;
}

function plural(n, word) {
  return `${fmtInt.format(n)} ${word}${n === 1 ? "" : "s"}`;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function pill(text, state) {
  const span = document.createElement("span");
  span.className = "pill";
  span.dataset.state = state;
  span.textContent = text;
  return span;
}

// ---- the banner: the first problem of the last poll
function banner(text, kind = "error") {
  const el = $("banner");
  el.hidden = !text;
  el.textContent = text || "";
  el.dataset.kind = kind;
}

function explain(e) {
  if (e.status === 401) {
    return token ? "Token refused: the hub does not accept this admin token."
      : "Token needed: this hub requires its admin token for /api/ (type it above).";
  }
  return `API error: ${e.message}`;
}

// ---- rates: per edge, from its counters now and ~RATE_WINDOW_MS ago
function rates(edge, now) {
  let list = samples.get(edge.name);
  if (!list) samples.set(edge.name, (list = []));
  list.push({ t: now, msgs_in: edge.msgs_in, msgs_out: edge.msgs_out });
  while (list.length > 2 && now - list[1].t >= RATE_WINDOW_MS) list.shift();
  const first = list[0];
  const dt = (now - first.t) / 1000;
  if (dt <= 0) return { in: NaN, out: NaN };
  // A counter that went down is an edge that restarted: count from zero.
  const delta = (a, b) => (b >= a ? b - a : b);
  return { in: delta(first.msgs_in, edge.msgs_in) / dt, out: delta(first.msgs_out, edge.msgs_out) / dt };
}

// ---- the edges table. Rows are kept per edge (and per region) and updated
// in place, so a button or a hover survives the next poll; the body is
// reordered only when the order changes.
const COLUMNS = ["name", "state", "workers", "clients", "rate-in", "rate-out", "ratio", "rtt", "hubs", "uptime", "admin"];
const NUMERIC = new Set(["workers", "clients", "rate-in", "rate-out", "ratio", "rtt", "uptime"]);
const edgeRows = new Map();   // edge name -> {tr, cells}
const regionRows = new Map(); // region -> th's row
let emptyRow = null;

function edgeRow(name) {
  let row = edgeRows.get(name);
  if (row) return row;
  const tr = document.createElement("tr");
  tr.dataset.edge = name;
  const cells = {};
  for (const key of COLUMNS) {
    cells[key] = tr.appendChild(document.createElement("td"));
    cells[key].className = NUMERIC.has(key) ? `n ${key}` : key;
  }
  const label = document.createElement("div");
  const url = document.createElement("div");
  url.className = "sub";
  cells.name.append(label, url);
  cells.state.append(pill("", ""));
  const drain = document.createElement("button");
  drain.type = "button";
  drain.className = "danger small drain";
  drain.textContent = "Drain";
  drain.dataset.edge = name;
  cells.admin.append(drain);
  row = { tr, cells, label, url, drain };
  edgeRows.set(name, row);
  return row;
}

function regionRow(region) {
  let tr = regionRows.get(region);
  if (!tr) {
    tr = document.createElement("tr");
    tr.className = "region";
    tr.dataset.region = region;
    const th = tr.appendChild(document.createElement("th"));
    th.colSpan = COLUMNS.length;
    th.scope = "rowgroup";
    regionRows.set(region, tr);
  }
  return tr;
}

function setCell(td, text) {
  if (td.textContent !== text) td.textContent = text;
}

function updateEdgeRow(e, r, admin) {
  const row = edgeRow(e.name);
  const { cells } = row;
  const state = draining.has(e.name) ? "draining" : e.state || "?";
  row.tr.dataset.state = state;
  setCell(row.label, e.name);
  setCell(row.url, e.public_url || "");
  row.url.hidden = !e.public_url;
  cells.name.title = `version ${e.version || "?"}${e.tls ? ", TLS links" : ""}` +
    (e.addresses ? `\n${[].concat(e.addresses).join("\n")}` : "");
  const p = cells.state.firstChild;
  p.dataset.state = state;
  setCell(p, state);
  const ratio = Number(e.link_ratio);
  setCell(cells.workers, fmtInt.format(e.workers ?? 0));
  setCell(cells.clients, fmtInt.format(e.clients ?? 0));
  setCell(cells["rate-in"], fmtRate(r.in));
  setCell(cells["rate-out"], fmtRate(r.out));
  setCell(cells.ratio, Number.isFinite(ratio) && ratio > 0 ? `${ratio.toFixed(1)}×` : "–");
  setCell(cells.rtt, Number.isFinite(e.rtt_ms) ? String(Math.round(e.rtt_ms * 10) / 10) : "–");
  setCell(cells.hubs, Array.isArray(e.hubs) ? e.hubs.join(", ") : "this hub");
  setCell(cells.uptime, fmtUptime(e.uptime_s));
  cells.admin.hidden = !admin;
  row.drain.disabled = draining.has(e.name);
  return row.tr;
}

function renderEdges(edges, now) {
  const body = $("edges-body");
  const admin = Boolean(token);
  const rows = [];
  let clients = 0, rin = 0, rout = 0;
  const regions = new Map();
  for (const e of [...edges].sort((a, b) => String(a.name).localeCompare(b.name))) {
    const key = e.region || "(no region)";
    if (!regions.has(key)) regions.set(key, []);
    regions.get(key).push(e);
  }
  for (const [region, list] of [...regions].sort((a, b) => a[0].localeCompare(b[0]))) {
    const head = regionRow(region);
    const sum = list.reduce((n, e) => n + (e.clients || 0), 0);
    setCell(head.firstChild, `${region} · ${plural(list.length, "edge")} · ${plural(sum, "client")}`);
    rows.push(head);
    for (const e of list) {
      const r = rates(e, now);
      clients += e.clients || 0;
      rin += Number.isFinite(r.in) ? r.in : 0;
      rout += Number.isFinite(r.out) ? r.out : 0;
      rows.push(updateEdgeRow(e, r, admin));
    }
  }
  if (!rows.length) {
    if (!emptyRow) {
      emptyRow = document.createElement("tr");
      emptyRow.className = "empty";
      const td = cell("No edges linked. Edges appear here once their workers link to a hub.");
      td.colSpan = COLUMNS.length;
      emptyRow.append(td);
    }
    rows.push(emptyRow);
  }
  const shown = [...body.children];
  if (shown.length !== rows.length || shown.some((tr, i) => tr !== rows[i])) body.replaceChildren(...rows);
  const names = new Set(edges.map((e) => e.name));
  for (const name of [...samples.keys()]) if (!names.has(name)) samples.delete(name);
  for (const name of [...edgeRows.keys()]) if (!names.has(name)) edgeRows.delete(name);
  for (const name of [...draining]) if (!names.has(name)) draining.delete(name);
  for (const region of [...regionRows.keys()]) if (!regions.has(region)) regionRows.delete(region);

  $("total-edges").textContent = fmtInt.format(edges.length);
  $("total-clients").textContent = fmtInt.format(clients);
  setRate("total-in", rin);
  setRate("total-out", rout);
  return { in: rin, out: rout };
}

function setRate(id, r) {
  const el = $(id);
  el.textContent = fmtRate(r);
  el.dataset.rate = String(r);
}

// ---- the hubs table
// Without a cluster (memory engine) the hub lists only itself, with fewer
// fields: its edges are then the ones /api/edges gave.
let edgeCount = 0;
function renderHubs(doc) {
  const hubs = doc && Array.isArray(doc.hubs) ? doc.hubs : [];
  const rows = hubs.map((h) => {
    const tr = document.createElement("tr");
    tr.dataset.hub = h.name;
    const name = cell(h.name || "?", "name");
    if (h.self) name.append(" ", pill("this hub", "self"));
    const stateCell = cell("", "state");
    stateCell.append(pill(h.state || "?", h.state || "unknown"));
    tr.append(name, stateCell, cell(h.version || "–"), cell(fmtInt.format(h.links ?? 0), "n"),
      cell(fmtInt.format(h.edges ?? (h.self ? edgeCount : 0)), "n"), cell(h.link || "–", "mono"),
      cell(h.http ? `${h.https ? "https" : "http"}://${h.http}` : "–", "mono"), cell(fmtUptime(h.uptime_s), "n"));
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = cell("No hub listed.");
    td.colSpan = 8;
    tr.append(td);
    rows.push(tr);
  }
  $("hubs-body").replaceChildren(...rows);
  const self = hubs.find((h) => h.self) || hubs[0];
  $("hub-name").textContent = self ? self.name : "";
  if (self) document.title = `spoke hub ${self.name}`;
  const c = doc && doc.cluster;
  $("cluster").textContent = c ? `cluster ${c.state || ""}${c.local_only ? " (other hubs not read)" : ""}${c.reason ? `: ${c.reason}` : ""}` : "";
}

// ---- the chart: two polylines over the last CHART_S seconds
function niceMax(v) {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function renderChart(now) {
  const svg = $("chart");
  const [w, h] = [600, 160];
  const max = niceMax(Math.max(0, ...series.map((p) => Math.max(p.in, p.out))));
  const x = (t) => (w * (t - (now - CHART_S * 1000))) / (CHART_S * 1000);
  const y = (v) => h - 4 - ((h - 8) * v) / max;
  const path = (key) => series.map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)}`).join("");
  const lineIn = path("in");
  $("line-in").setAttribute("d", lineIn);
  // The in line's area, so that it shows where out runs on top of it.
  $("area-in").setAttribute("d", series.length < 2 ? "" :
    `${lineIn}L${x(series.at(-1).t).toFixed(1)},${h}L${x(series[0].t).toFixed(1)},${h}Z`);
  $("line-out").setAttribute("d", path("out"));
  svg.dataset.points = String(series.length);
  $("chart-max").textContent = `${fmtInt.format(max)} / s`;
}

// ---- one poll
let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  const now = Date.now();
  const problems = [];
  try {
    const [edges, hubs, ready] = await Promise.allSettled([api("/api/edges"), api("/api/hubs"), api("/readyz")]);
    if (ready.status === "fulfilled") {
      const r = ready.value.body || {};
      const ok = ready.value.status === 200;
      const el = $("health");
      el.dataset.state = ok ? "ok" : "bad";
      el.textContent = ok ? `ready · ${r.engine || "?"}` : `not ready · ${r.engine || "?"}`;
      el.title = r.reason || "";
      if (!ok && r.reason) problems.push(`Hub not ready: ${r.reason}`);
    } else {
      $("health").dataset.state = "bad";
      $("health").textContent = "unreachable";
      problems.push(explain(ready.reason));
    }
    if (edges.status === "fulfilled") {
      const list = Array.isArray(edges.value.body?.edges) ? edges.value.body.edges : [];
      edgeCount = list.length;
      const total = renderEdges(list, now);
      series.push({ t: now, in: total.in, out: total.out });
      while (series.length && series[0].t < now - CHART_S * 1000) series.shift();
      renderChart(now);
    } else {
      problems.push(explain(edges.reason));
    }
    if (hubs.status === "fulfilled") renderHubs(hubs.value.body);
    else if (hubs.reason.status !== (edges.reason && edges.reason.status)) problems.push(explain(hubs.reason));
    if (problems.length) banner(problems[0], problems[0].startsWith("Token") ? "token" : "error");
    else if ($("banner").dataset.kind !== "info") banner("");
    $("updated").textContent = `updated ${new Date(now).toLocaleTimeString()}`;
  } finally {
    polling = false;
  }
}

// ---- the token and the admin controls
function applyToken(value) {
  token = value.trim();
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  $("token").value = token;
  $("token-forget").hidden = !token;
  for (const el of document.querySelectorAll(".admin")) el.hidden = !token;
  banner("");
  poll();
}

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  applyToken($("token").value);
});
$("token-forget").addEventListener("click", () => applyToken(""));

async function act(what, path, body) {
  try {
    const { status, body: answer } = await api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (status >= 400) throw new ApiError(status, `${path}: ${status} ${answer?.error || answer?.reason || ""}`);
    banner(`${what}: ${JSON.stringify(answer)}`, "info");
    return true;
  } catch (e) {
    banner(`${what} failed: ${explain(e)}`);
    return false;
  }
}

$("edges-body").addEventListener("click", async (ev) => {
  const b = ev.target.closest("button.drain");
  if (!b) return;
  const name = b.dataset.edge;
  if (!confirm(`Drain edge ${name}?\n\nIt stops accepting, closes its clients with 1001 over its drain period (they reconnect elsewhere), then exits.`)) return;
  b.disabled = true;
  if (await act(`Drain ${name}`, `/api/edges/${encodeURIComponent(name)}/drain`, {})) draining.add(name);
  else b.disabled = false;
  poll();
});

$("kick-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const conn = $("kick-conn").value.trim();
  if (!conn || !confirm(`Disconnect ${conn}?\n\nIts edge closes it with 4001 "disconnected by the operator".`)) return;
  if (await act(`Kick ${conn}`, "/api/disconnect", { conn })) $("kick-conn").value = "";
});

applyToken(token);
setInterval(poll, POLL_MS);
