// The operator's page: everything comes from GET /api/operator, with the login's HttpOnly cookie
// (this script never sees it). Drawn with DOM calls only (textContent, never HTML from data) and
// SVG for the charts, so the page runs under the server's Content-Security-Policy as it is.

const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const CHART = { width: 640, height: 180, left: 48, right: 8, top: 10, bottom: 22 };
const GROUNDING = ["answered", "quoted", "unsure", "added", "replaced", "declined", "off"];
const $ = (id) => document.getElementById(id);

// What the page shows, for people and for the tests that drive it.
const state = (window.parleyOperator = { view: "loading", data: null, errors: [], ended: [] });

function show(view) {
  state.view = view;
  for (const id of ["login", "off", "dashboard"]) $(id).hidden = id !== view;
  $("logout").hidden = view !== "dashboard";
}

async function refresh() {
  let response;
  try {
    response = await fetch("/api/operator", { credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    $("status").textContent = `server unreachable (${error.message}); retrying`;
    return;
  }
  if (response.status === 401) return show("login");
  if (response.status === 403) {
    $("off-why").textContent = await response.text();
    return show("off");
  }
  if (!response.ok) {
    $("status").textContent = `the server answered ${response.status}: ${await response.text()}`;
    return;
  }
  state.data = await response.json();
  render(state.data);
  show("dashboard");
  $("status").textContent = `updated ${new Date().toLocaleTimeString()}`;
}

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function cell(node) {
  const td = el("td");
  td.append(node);
  return td;
}

function ms(value) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ms`;
}

function duration(seconds) {
  const m = Math.floor(seconds / 60);
  return m ? `${m} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`;
}

function lastTurn(turn) {
  if (!turn) return "–";
  if (turn.outcome === "failed") return `failed: ${turn.error}`;
  const t = turn.timings;
  const wait = t.end_of_speech_to_first_audio_ms ?? t.first_audio_ms;
  const parts = [`${turn.input}, ${turn.outcome}, ${turn.grounding}`, `first audio ${ms(wait)}`];
  if (t.asr_ms !== undefined) parts.push(`asr ${ms(t.asr_ms)}`);
  if (t.llm_first_token_ms !== null) parts.push(`llm first token ${ms(t.llm_first_token_ms)}`);
  parts.push(`total ${ms(t.total_ms)}`);
  return parts.join(" · ");
}

function render(data) {
  const build = data.build;
  $("build").textContent = `build ${build.git || build.version || "unknown"}` +
    (build.git && build.version ? ` (parley ${build.version})` : "");
  $("calls-count").textContent = `${data.calls.length} / ${data.max_sessions}`;
  const refused = Object.values(data.refused).reduce((a, b) => a + b, 0);
  $("refused").textContent = refused;
  $("refused-why").textContent = Object.entries(data.refused).map(([why, n]) => `${why} ${n}`).join(" · ");
  $("draining").textContent = data.draining ? "draining" : "taking calls";
  $("draining").classList.toggle("warn", data.draining);
  $("reports-failed").textContent = data.reports.enabled ? data.reports.failed : "reports off";
  $("reports-failed").classList.toggle("warn", data.reports.failed > 0);
  const recordings = data.recordings;
  $("recordings-failed").textContent = recordings.enabled ? recordings.failed : "recording off";
  $("recordings-failed").classList.toggle("warn", recordings.failed > 0);
  $("recordings-dropped").textContent = recordings.dropped ? `${recordings.dropped} frames dropped` : "";
  renderCalls(data.calls);
  renderTable($("stages"), data.stages.map((s) => [s.stage, s.runs, s.device, s.engine, s.why]));
  renderTable($("models"), Object.entries(data.models));
  renderReports(data.reports.recent);
  renderRecordings(recordings.recent);
  drawLatency($("latency-chart"), data.last_hour);
  drawGrounding($("grounding-chart"), data.last_hour);
}

function renderTable(table, rows) {
  const body = table.querySelector("tbody");
  body.replaceChildren(...rows.map((cells) => {
    const tr = el("tr");
    for (const value of cells) tr.append(el("td", value));
    return tr;
  }));
}

function renderCalls(calls) {
  $("no-calls").hidden = calls.length > 0;
  $("calls").hidden = calls.length === 0;
  $("calls").querySelector("tbody").replaceChildren(...calls.map((call) => {
    const tr = el("tr");
    tr.dataset.call = call.id;
    const button = el("button", "End call", "end");
    button.onclick = () => endCall(call.id, button);
    for (const value of [call.id, duration(call.seconds), call.rung, call.fps.toFixed(1), call.frames_skipped,
                         call.turns]) {
      tr.append(el("td", value));
    }
    tr.append(el("td", lastTurn(call.last_turn), "turn"), cell(button));
    if (!call.connected) tr.classList.add("muted");
    return tr;
  }));
}

// Each recording's three files, downloaded with the login cookie: the video (WebM with both voices),
// its captions and the transcript.
function renderRecordings(list) {
  $("no-recordings").hidden = list.length > 0;
  $("recordings").replaceChildren(...list.map((recording) => {
    const base = `/api/recordings/${encodeURIComponent(recording.id)}`;
    const li = el("li", recording.id);
    li.dataset.recording = recording.id;
    for (const [label, path] of [["video", "/media"], ["captions", "/captions"], ["transcript", ""]]) {
      const link = el("a", label);
      link.href = base + path;
      if (!path) link.target = "_blank";
      li.append(" · ", link);
    }
    const size = `${(recording.bytes / 1e6).toFixed(1)} MB`;
    li.append(el("span", ` ${new Date(recording.written * 1000).toLocaleString()} · ${size}`, "muted"));
    return li;
  }));
}

function renderReports(reports) {
  $("no-reports").hidden = reports.length > 0;
  $("reports").replaceChildren(...reports.map((report) => {
    const link = el("a", report.id);
    link.href = `/api/reports/${encodeURIComponent(report.id)}`;
    link.target = "_blank";
    const li = el("li");
    li.append(link, el("span", ` ${new Date(report.written * 1000).toLocaleString()} · ${report.bytes} bytes`, "muted"));
    return li;
  }));
}

async function endCall(id, button) {
  button.disabled = true;
  button.textContent = "ending…";
  const response = await fetch(`/api/operator/calls/${encodeURIComponent(id)}/end`,
                               { method: "POST", credentials: "same-origin" });
  if (response.ok) state.ended.push(id);
  else {
    const error = `could not end ${id}: ${response.status} ${await response.text()}`;
    state.errors.push(error);
    $("status").textContent = error;
  }
  await refresh();
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// A round top for the y axis: 1, 2 or 5 times a power of ten.
function niceTop(value) {
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((top) => top >= value);
}

function axes(chart, minutes, top, unit) {
  const { width, height, left, right, top: pad, bottom } = CHART;
  const nodes = [svg("line", { x1: left, y1: height - bottom, x2: width - right, y2: height - bottom, class: "axis" }),
                 svg("line", { x1: left, y1: pad, x2: left, y2: height - bottom, class: "axis" }),
                 svg("text", { x: left - 4, y: pad + 8, class: "tick end" }, `${top}${unit}`),
                 svg("text", { x: left - 4, y: height - bottom, class: "tick end" }, "0"),
                 svg("text", { x: left, y: height - 6, class: "tick" }, `${minutes - 1} min ago`),
                 svg("text", { x: width - right, y: height - 6, class: "tick end" }, "now")];
  chart.replaceChildren(...nodes);
}

function place(index, value, top, count) {
  const { width, height, left, right, top: pad, bottom } = CHART;
  const x = left + (index + 0.5) * (width - left - right) / count;
  const y = height - bottom - (value / top) * (height - pad - bottom);
  return [x, y];
}

function drawLatency(chart, minutes) {
  const highest = Math.max(0, ...minutes.map((m) => m.wait_p95_ms ?? 0));
  const top = niceTop(Math.max(highest, 100));
  axes(chart, minutes.length, top, " ms");
  for (const [key, name] of [["wait_p95_ms", "p95"], ["wait_p50_ms", "p50"]]) {
    // A line through the minutes that had turns; a quiet minute breaks it.
    let path = "";
    let previous = false;
    const dots = [];
    minutes.forEach((minute, i) => {
      if (minute[key] === null) return (previous = false);
      const [x, y] = place(i, minute[key], top, minutes.length);
      path += `${previous ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
      const dot = svg("circle", { cx: x, cy: y, r: 2.5, class: name });
      dot.append(svg("title", {}, `${name} ${Math.round(minute[key])} ms, ${minute.turns} turns`));
      dots.push(dot);
      previous = true;
    });
    if (path) chart.append(svg("path", { d: path, class: `line ${name}` }));
    chart.append(...dots);
  }
}

function drawGrounding(chart, minutes) {
  const totals = minutes.map((m) => Object.values(m.grounding).reduce((a, b) => a + b, 0));
  const top = niceTop(Math.max(...totals, 1));
  axes(chart, minutes.length, top, "");
  const { width, left, right } = CHART;
  const barWidth = ((width - left - right) / minutes.length) * 0.8;
  const hour = {};
  minutes.forEach((minute, i) => {
    let stacked = 0;
    for (const outcome of GROUNDING) {
      const count = minute.grounding[outcome] || 0;
      if (!count) continue;
      hour[outcome] = (hour[outcome] || 0) + count;
      const [x, y] = place(i, stacked + count, top, minutes.length);
      const [, base] = place(i, stacked, top, minutes.length);
      const bar = svg("rect", { x: x - barWidth / 2, y, width: barWidth, height: base - y, class: `g-${outcome}` });
      bar.append(svg("title", {}, `${outcome}: ${count}`));
      chart.append(bar);
      stacked += count;
    }
  });
  $("grounding-legend").replaceChildren(...GROUNDING.filter((o) => hour[o]).map((outcome) => {
    const item = el("span", `${outcome} ${hour[outcome]}`);
    item.prepend(el("span", "", `key g-${outcome}`));
    return item;
  }));
  if (!Object.keys(hour).length) $("grounding-legend").append(el("span", "no reply in the last hour", "muted"));
}

$("login-form").onsubmit = async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const response = await fetch("/operator/login", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: $("token").value }),
  });
  $("token").value = "";
  if (!response.ok) {
    $("login-error").textContent = await response.text();
    state.errors.push(`login: ${response.status}`);
    return;
  }
  await refresh();
};

$("logout").onclick = async () => {
  await fetch("/operator/logout", { method: "POST", credentials: "same-origin" });
  state.data = null;
  show("login");
};

refresh();
setInterval(refresh, REFRESH_MS);
