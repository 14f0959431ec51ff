// The rnn-serve console. Every figure comes from the server's API, with the key entered once
// per tab; nothing is built or fetched from elsewhere. Views are hash routes: #models,
// #model/NAME, #forecast and #server.
"use strict";

const KEY = "rnn-serve.api-key";
const POLL_MS = 2000;
const HISTORY = 90; // server panel points kept for its chart (three minutes)
const COLORS = ["#1f6feb", "#d1242f", "#8250df", "#1a7f37", "#bf8700", "#57606a"];
const view = document.getElementById("view");
const keyForm = document.getElementById("key-form");
const charts = {}; // the charts drawn, by name (the browser tests read their data)
window.consoleCharts = charts;
let leave = () => {}; // stops what the current view runs in the background

class ApiError extends Error {
  constructor(status, body) {
    super(body.error || `HTTP ${status}`);
    this.status = status;
    this.details = body.details || [];
  }
}

// GET, or POST with a JSON body; the answer's JSON, or an ApiError with the server's message.
async function api(path, body) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers.authorization = `Bearer ${key}`;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let found;
  try {
    found = text ? JSON.parse(text) : {};
  } catch {
    found = { error: text };
  }
  if (response.status === 401) askForKey(found.error);
  if (!response.ok) throw new ApiError(response.status, found);
  return found;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child != null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function table(head, rows) {
  return el(
    "table",
    {},
    head ? el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))) : null,
    el("tbody", {}, rows.map((row) => el("tr", {}, row.map(cell)))),
  );
}

function cell(value) {
  if (value instanceof Node) return el("td", {}, value);
  const number = typeof value === "number";
  return el("td", { class: number ? "num" : null }, value == null ? "–" : number ? fixed(value) : value);
}

function fixed(value, digits = 3) {
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

const percent = (share) => (share == null ? "–" : `${(100 * share).toFixed(1)}%`);

// Keys

function askForKey(reason) {
  const held = sessionStorage.getItem(KEY);
  document.getElementById("key-reason").textContent = held
    ? `The server refused this key: ${reason}`
    : "This server asks for an API key.";
  keyForm.hidden = false;
  document.getElementById("key").focus();
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, document.getElementById("key").value.trim());
  keyForm.reset();
  keyForm.hidden = true;
  route();
});

document.getElementById("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  route();
});

// Charts (uPlot)

function lineChart(name, box, x, lines, options = {}) {
  charts[name]?.destroy();
  const series = [{ label: options.xLabel || "x" }];
  lines.forEach((line, i) =>
    series.push({
      label: line.label,
      stroke: line.color || COLORS[i % COLORS.length],
      width: line.width || 1.5,
      dash: line.dash,
      scale: line.scale || "y",
      spanGaps: false,
      points: { show: x.length < 40 },
    }),
  );
  const width = Math.max(320, Math.min(1060, box.clientWidth || view.clientWidth || 900));
  const chart = new uPlot(
    {
      width,
      height: options.height || 300,
      series,
      bands: options.bands,
      scales: { x: { time: false } },
      axes: [
        { label: options.xLabel },
        { label: options.yLabel, size: 60 },
        ...(options.right ? [{ scale: options.right.scale, label: options.right.label, side: 1, size: 60, grid: { show: false } }] : []),
      ],
    },
    [x, ...lines.map((line) => line.values)],
    box,
  );
  charts[name] = chart;
  return chart;
}

// Models

async function showModels() {
  const [listing, index, server] = await Promise.all([
    api("v1/models"),
    api("v2/repository/index", {}),
    api("v1/console/server"),
  ]);
  const served = new Map(listing.models.map((m) => [m.name, m]));
  const rows = index.map((entry) => {
    const model = served.get(entry.name);
    const ready = model && model.versions.includes(entry.version);
    return [
      ready ? el("a", { href: `#model/${encodeURIComponent(entry.name)}` }, entry.name) : entry.name,
      entry.version,
      entry.state + (entry.reason ? `: ${entry.reason}` : ""),
      model ? layers(model) : null,
      model ? model.state_size : null,
      model ? layout(model.state_layout) : null,
      model ? devices(model) : null,
      model ? testMase(model.metrics, 1) : null,
      model ? testMase(model.metrics, model.metrics?.horizon) : null,
      server.may_change_models ? changeButtons(entry, ready) : null,
    ];
  });
  const head = ["model", "version", "state", "layers", "state size", "state layout", "devices"];
  head.push("test MASE h=1", "test MASE h=H", server.may_change_models ? "repository" : "");
  view.replaceChildren(
    el("h1", {}, "Models"),
    table(head, rows),
    el(
      "p",
      { class: "muted" },
      `Sequence store: ${listing.sequences.store}, ${listing.sequences.live ?? "?"} live. `,
      server.may_change_models
        ? "This key may load and unload models."
        : "Loading and unloading need RNN_SERVE_MODEL_CONTROL=explicit and an admin key.",
    ),
    el("p", { class: "error", id: "models-error" }),
  );
}

function layers(model) {
  return (model.layers || []).map((l) => `${l.cell} ${l.hidden_size}`).join(" + ") || "?";
}

function devices(model) {
  return (model.devices || []).map((d) => d.device).join(", ") || model.provider;
}

function layout(parts) {
  if (!parts) return null;
  return parts.map((p) => `${p.cell}${p.layer} ${p.part} [${p.start}:${p.stop}]`).join(", ");
}

function testMase(metrics, step) {
  const scores = step && metrics?.[`h${step}`];
  if (!scores) return null;
  const network = Object.keys(scores).find((m) => m !== "seasonal_naive" && m !== "holt_winters");
  return network ? scores[network].mase : null;
}

function changeButtons(entry, ready) {
  const action = ready ? "unload" : "load";
  return el(
    "button",
    {
      type: "button",
      "data-action": action,
      onclick: async () => {
        try {
          await api(`v2/repository/models/${encodeURIComponent(entry.name)}/${action}`, {});
          route();
        } catch (error) {
          document.getElementById("models-error").textContent = error.message;
        }
      },
    },
    ready ? "Unload" : "Load",
  );
}

// One model

async function showModel(name) {
  const model = await api(`v1/models/${encodeURIComponent(name)}`);
  const facts = [
    ["versions", model.versions.join(", ")],
    ["layers", layers(model)],
    ["features, outputs, state", `${model.features}, ${model.output_size}, ${model.state_size}`],
    ["state layout", layout(model.state_layout)],
    ["devices", devices(model)],
    ["forecasts", model.can_forecast ? `yes, from a window of ${model.window}` : "no"],
    ["source", model.converted_from ? `converted from ${model.converted_from.format}` : model.source],
    ["sha256", model.sha256],
  ];
  view.replaceChildren(el("h1", {}, `${model.name} (version ${model.version})`), table(null, facts));
  evaluation(model);
  intervals(model);
  live(model);
}

function evaluation(model) {
  const metrics = model.metrics || {};
  const steps = Object.keys(metrics).filter((k) => /^h\d+$/.test(k));
  if (!steps.length) {
    view.append(el("h2", {}, "Test metrics"), el("p", { class: "muted" }, "This model's manifest has none."));
    return;
  }
  steps.sort((a, b) => a.slice(1) - b.slice(1));
  const methods = Object.keys(metrics[steps[0]]);
  const rows = steps.map((h) => [h.slice(1), ...methods.map((m) => metrics[h][m]?.mase)]);
  const box = el("div", { class: "chart", id: "mase-chart" });
  view.append(
    el("h2", {}, `Test MASE by horizon step (${metrics.test_steps ?? "?"} test steps)`),
    box,
    table(["step", ...methods], rows),
  );
  const x = steps.map((h) => Number(h.slice(1)));
  const lines = methods.map((m) => ({ label: m, values: steps.map((h) => metrics[h][m]?.mase ?? null) }));
  lineChart("mase", box, x, lines, { xLabel: "horizon step", yLabel: "MASE" });
}

function intervals(model) {
  if (!model.intervals) return;
  const coverage = model.intervals.coverage_on_test_period || {};
  view.append(
    el("h2", {}, "Prediction intervals"),
    el("p", { class: "muted" }, model.intervals.method),
    table(
      ["level", "coverage on the test period"],
      model.intervals.levels.map((level) => [`${level}%`, percent(coverage[String(level)])]),
    ),
  );
}

function live(model) {
  view.append(el("h2", {}, "Live scores"));
  if (!model.live) {
    const why = model.can_forecast
      ? "Not yet: they appear once a forecasting sequence of this model receives the values it forecast."
      : "This model does not forecast.";
    view.append(el("p", { class: "muted", id: "live-scores" }, why));
    return;
  }
  const steps = Object.keys(model.live.mae);
  view.append(
    el(
      "div",
      { id: "live-scores" },
      table(
        ["step", "scored", "MAE", "MASE"],
        steps.map((h) => [h.slice(1), model.live.scored[h], model.live.mae[h], model.live.mase?.[h]]),
      ),
    ),
    el("h2", {}, "Live interval coverage"),
    table(
      ["level", "recent coverage", "scored", "drifting"],
      Object.entries(model.live.drift).map(([level, d]) => [
        `${level}%`,
        percent(d.coverage),
        d.scored,
        d.drifting ? "yes" : "no",
      ]),
    ),
  );
}

// Forecast playground

async function showForecast() {
  const { models } = await api("v1/models");
  const forecasters = models.filter((m) => m.can_forecast);
  if (!forecasters.length) {
    view.replaceChildren(el("h1", {}, "Forecast"), el("p", {}, "No served model forecasts."));
    return;
  }
  const field = (name, label, input) =>
    el("div", { class: "field" }, el("label", { for: name }, label), input, el("div", { class: "error", id: `${name}-error` }));
  const model = el("select", { id: "model" }, forecasters.map((m) => el("option", { value: m.name }, m.name)));
  const csv = el("textarea", { id: "csv", placeholder: "date,value\n2001-01-06,370.1\n…", spellcheck: "false" });
  const file = el("input", { id: "file", type: "file", accept: ".csv,text/csv" });
  const columns = ["time", "value", "id"].map((c) => el("select", { id: `${c}-column` }));
  const horizon = el("input", { id: "horizon", type: "number", min: "1", value: "12" });
  const levels = el("input", { id: "levels", value: "80, 95" });
  const result = el("div", { id: "result" });
  const setDefaults = () => {
    const chosen = forecasters.find((m) => m.name === model.value);
    horizon.value = chosen.intervals?.horizon || chosen.training?.horizon || chosen.metrics?.horizon || 12;
    levels.value = (chosen.intervals?.levels || []).filter((l) => l === 80 || l === 95).join(", ");
  };
  model.addEventListener("change", setDefaults);
  csv.addEventListener("input", () => fillColumns(csv.value, columns));
  file.addEventListener("change", async () => {
    csv.value = await file.files[0].text();
    fillColumns(csv.value, columns);
  });
  const form = el(
    "form",
    { id: "forecast-form", novalidate: true }, // the server's checks, and its words
    el("div", { class: "row" }, field("model", "model", model), field("horizon", "horizon", horizon), field("levels", "interval levels (%)", levels)),
    field("csv", "CSV: a time column, a value column, optionally an id column", csv),
    el("div", { class: "row" }, file, ...columns.map((s, i) => field(s.id, `${["time", "value", "id"][i]} column`, s))),
    el("button", { type: "submit" }, "Forecast"),
    el("div", { class: "error", id: "form-error" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    forecast(model.value, csv.value, columns.map((s) => s.value), horizon.value, levels.value, result);
  });
  setDefaults();
  view.replaceChildren(el("h1", {}, "Forecast"), form, result);
}

// Rows of cells; a quoted cell may hold commas.
function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const split = (line) => [...line.matchAll(/\s*("(?:[^"]|"")*"|[^,]*)\s*(?:,|$)/g)]
    .map((m) => m[1].replace(/^"(.*)"$/s, "$1").replace(/""/g, '"'))
    .slice(0, line.split(",").length);
  return { header: lines.length ? split(lines[0]) : [], rows: lines.slice(1).map(split) };
}

function fillColumns(text, [time, value, id]) {
  const { header } = parseCsv(text);
  const guess = (pattern, fallback) => header.find((h) => pattern.test(h)) ?? fallback;
  const options = (select, names, chosen) => {
    select.replaceChildren(...names.map((n) => el("option", { value: n, selected: n === chosen }, n || "(none)")));
  };
  options(time, header, guess(/^(date|time|ds|timestamp|period)$/i, header[0]));
  options(value, header, guess(/^(value|y|target|co2)$/i, header[header.length - 1]));
  options(id, ["", ...header], guess(/^(id|unique_id|series)$/i, ""));
}

// The series the CSV holds, in the order their ids first appear, each sorted by time; a cell
// that is not a number goes to the server as it is, which names it in its answer.
function seriesOf(text, [timeColumn, valueColumn, idColumn]) {
  const { header, rows } = parseCsv(text);
  const at = (name) => header.indexOf(name);
  const [t, v, i] = [at(timeColumn), at(valueColumn), idColumn ? at(idColumn) : -1];
  const groups = new Map();
  rows.forEach((row, line) => {
    const key = i >= 0 ? row[i] : "series";
    if (!groups.has(key)) groups.set(key, []);
    const raw = row[v] ?? "";
    const number = raw.trim() === "" ? null : Number(raw);
    groups.get(key).push({ time: row[t], line: line + 2, value: Number.isFinite(number) || number === null ? number : raw });
  });
  const numeric = (s) => s !== "" && Number.isFinite(Number(s));
  for (const points of groups.values()) {
    points.sort((a, b) => (numeric(a.time) && numeric(b.time) ? a.time - b.time : String(a.time).localeCompare(String(b.time))));
  }
  return { ids: [...groups.keys()], points: [...groups.values()], named: i >= 0 };
}

async function forecast(name, text, columns, horizonText, levelsText, result) {
  for (const node of view.querySelectorAll(".error")) node.textContent = "";
  if (!text.trim()) {
    document.getElementById("csv-error").textContent = "paste or upload a CSV first";
    return;
  }
  const data = seriesOf(text, columns);
  const body = { series: data.points.map((points) => points.map((p) => p.value)), horizon: Number(horizonText) };
  if (horizonText.trim() === "" || !Number.isInteger(body.horizon)) body.horizon = horizonText; // the server says why
  const levels = levelsText.split(",").map((s) => s.trim()).filter(Boolean);
  if (levels.length) body.levels = levels.map((s) => (Number.isFinite(Number(s)) ? Number(s) : s));
  if (data.named) body.ids = data.ids;
  let answer;
  try {
    answer = await api(`v1/models/${encodeURIComponent(name)}/forecast`, body);
  } catch (error) {
    showFieldErrors(error, data);
    return;
  }
  drawForecast(name, data, answer, result);
}

// Each of the server's errors next to the field it names (its loc), the rest under the form.
function showFieldErrors(error, data) {
  const details = error.details.length ? error.details : [{ loc: [], msg: error.message }];
  for (const detail of details) {
    const loc = detail.loc.filter((part) => part !== "body");
    let target = "form-error";
    let where = "";
    if (loc[0] === "series" || loc[0] === "ids") {
      target = "csv-error";
      const [, series, step] = /\[(\d+)\]\[(\d+)\]/.exec(detail.msg || "") || [];
      const point = data.points[series]?.[step];
      if (point) where = `line ${point.line}: `;
    } else if (loc[0] === "horizon" || loc[0] === "levels") {
      target = `${loc[0]}-error`;
    }
    const box = document.getElementById(target);
    box.textContent += `${box.textContent ? "\n" : ""}${where}${detail.msg || error.message}`;
  }
}

function drawForecast(name, data, answer, result) {
  const pick = el("select", { id: "series-pick" }, data.ids.map((id, i) => el("option", { value: i }, id)));
  const box = el("div", { class: "chart", id: "forecast-chart" });
  const download = el("a", { id: "download", download: `forecast-${name}.csv`, href: URL.createObjectURL(csvOf(data, answer)) }, "Download the forecast (CSV)");
  const draw = () => {
    const i = Number(pick.value);
    const history = data.points[i].map((p) => (typeof p.value === "number" ? p.value : null));
    const ahead = answer.forecasts[i];
    const n = history.length;
    const x = [...history.map((_, k) => k - n + 1), ...ahead.map((_, k) => k + 1)];
    const pad = (values) => [...Array(n).fill(null), ...values];
    const lines = [
      { label: data.ids[i], values: [...history, ...Array(ahead.length).fill(null)], color: "#1d2430" },
      { label: "forecast", values: pad(ahead), color: COLORS[0], width: 2 },
    ];
    const bands = [];
    Object.entries(answer.intervals || {}).forEach(([level, bounds], k) => {
      const color = COLORS[k + 1];
      lines.push({ label: `${level}% lower`, values: pad(bounds.lower[i]), color, dash: [4, 4] });
      lines.push({ label: `${level}% upper`, values: pad(bounds.upper[i]), color, dash: [4, 4] });
      bands.push({ series: [lines.length, lines.length - 1], fill: `${color}22` });
    });
    lineChart("forecast", box, x, lines, { xLabel: "steps from the last observation", bands });
  };
  pick.addEventListener("change", draw);
  const last = data.points[0].at(-1)?.time;
  result.replaceChildren(
    el("h2", {}, `${answer.model} (version ${answer.version}): ${answer.forecasts[0].length} steps ahead`),
    el("div", { class: "row" }, data.ids.length > 1 ? pick : null, download),
    box,
    last ? el("p", { class: "muted" }, `Step 0 is the last observation (${data.ids[0]}: ${last}).`) : null,
  );
  draw();
}

function csvOf(data, answer) {
  const levels = Object.keys(answer.intervals || {});
  const head = ["id", "step", "forecast", ...levels.flatMap((l) => [`lower_${l}`, `upper_${l}`])];
  const lines = [head.join(",")];
  answer.forecasts.forEach((values, i) =>
    values.forEach((value, k) => {
      const bounds = levels.flatMap((l) => [answer.intervals[l].lower[i][k], answer.intervals[l].upper[i][k]]);
      lines.push([JSON.stringify(data.ids[i]), k + 1, value, ...bounds].join(","));
    }),
  );
  return new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
}

// Server

// The q-quantile of a histogram's counts (non-cumulative, the last above every bound),
// interpolated within its bucket as Prometheus' histogram_quantile does.
function quantile(q, bounds, counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] && below + counts[i] >= rank) {
      if (i === bounds.length) return bounds[i - 1];
      const lower = i === 0 ? 0 : bounds[i - 1];
      return lower + ((bounds[i] - lower) * (rank - below)) / counts[i];
    }
    below += counts[i];
  }
  return bounds[bounds.length - 1];
}

const minus = (now, before) => now.map((value, i) => value - before[i]);

function rates(now, before) {
  const seconds = Math.max(now.time - before.time, 1e-3);
  const latency = minus(now.latency_s.counts, before.latency_s.counts);
  const batches = minus(now.batch.counts, before.batch.counts).reduce((a, b) => a + b, 0);
  const devices = Object.entries(now.device_calls).map(
    ([device, calls]) => `${device} ${fixed((calls - (before.device_calls[device] || 0)) / seconds, 1)}`,
  );
  return {
    rps: (now.requests - before.requests) / seconds,
    p50: quantile(0.5, now.latency_s.bounds, latency),
    p99: quantile(0.99, now.latency_s.bounds, latency),
    errors: (now.client_errors + now.server_errors - before.client_errors - before.server_errors) / seconds,
    refused: (now.refused - before.refused) / seconds,
    batch: batches ? (now.batch.sum - before.batch.sum) / batches : null,
    devices: devices.join(", ") || "–",
  };
}

async function showServer() {
  const cards = el("div", { class: "cards", id: "server-cards" });
  const box = el("div", { class: "chart", id: "server-chart" });
  const status = el("p", { class: "muted", id: "server-status" });
  view.replaceChildren(el("h1", {}, "Server"), cards, box, status);
  const points = { t: [], rps: [], p99: [] };
  let before = null;
  const ms = (s) => (s == null ? "–" : `${fixed(1000 * s, 1)} ms`);
  const tick = async () => {
    const now = await api("v1/console/server");
    const r = before ? rates(now, before) : null;
    const card = (name, value, label) =>
      el("div", { class: "card", "data-figure": name }, el("b", {}, value), el("span", {}, label));
    cards.replaceChildren(
      card("rps", r ? fixed(r.rps, 1) : "…", "requests/s"),
      card("p50", r ? ms(r.p50) : "…", "p50 latency"),
      card("p99", r ? ms(r.p99) : "…", "p99 latency"),
      card("errors", r ? fixed(r.errors, 1) : "…", "errors/s (4xx and 5xx)"),
      card("refused", r ? fixed(r.refused, 1) : "…", "refused/s (overload)"),
      card("queued", `${fixed(now.queued_work_s, 3)} s`, "queued work"),
      card("in-flight", now.in_flight, "in flight"),
      card("batch", r?.batch != null ? fixed(r.batch, 1) : "–", "requests per batch"),
      card("devices", r ? r.devices : "…", "device calls/s"),
      card("sequences", now.sequences.live ?? "unavailable", `live sequences (${now.sequences.store})`),
      card("requests", now.requests, "requests since start"),
      card("models", now.models, "models served"),
    );
    if (r) {
      points.t.push(now.time);
      points.rps.push(r.rps);
      points.p99.push(r.p99 == null ? null : 1000 * r.p99);
      for (const list of Object.values(points)) if (list.length > HISTORY) list.shift();
      const start = points.t[0];
      const x = points.t.map((t) => t - start);
      if (charts.server && charts.server.root.isConnected) {
        charts.server.setData([x, points.rps, points.p99]);
      } else {
        const lines = [
          { label: "requests/s", values: points.rps },
          { label: "p99 (ms)", values: points.p99, scale: "ms" },
        ];
        const right = { scale: "ms", label: "p99 latency (ms)" };
        lineChart("server", box, x, lines, { xLabel: "seconds", yLabel: "requests/s", height: 240, right });
      }
    }
    before = now;
    status.textContent = `Updated ${new Date(now.time * 1000).toLocaleTimeString()}, every ${POLL_MS / 1000} s.`;
  };
  await tick();
  const timer = setInterval(() => tick().catch((error) => (status.textContent = error.message)), POLL_MS);
  leave = () => clearInterval(timer);
}

// Routing

const views = { models: showModels, model: showModel, forecast: showForecast, server: showServer };

async function route() {
  leave();
  leave = () => {};
  const [name, ...rest] = (location.hash.slice(1) || "models").split("/");
  document.getElementById("forget-key").hidden = !sessionStorage.getItem(KEY);
  for (const link of document.querySelectorAll("header nav a")) {
    link.toggleAttribute("aria-current", link.getAttribute("href") === `#${name}`);
  }
  view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    await (views[name] || showModels)(decodeURIComponent(rest.join("/")));
  } catch (error) {
    view.replaceChildren(el("h1", {}, "This page could not load"), el("p", { class: "error", id: "page-error" }, error.message));
  }
}

window.addEventListener("hashchange", route);
route();
