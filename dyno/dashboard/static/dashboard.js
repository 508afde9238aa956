// dyno dashboard: one card per service, updated from the server-sent /stream.
"use strict";

const HISTORY = 120; // sparkline points kept per service (a minute at the default 0.5 s)
const STALE_MS = 5000; // a service not heard of for this long is greyed out
const STATE_LABELS = {
  closed: "closed",
  open: "open",
  half_open: "half-open",
  forced_open: "forced open",
  forced_closed: "forced closed",
  none: "no breaker",
};
const OPEN_STATES = new Set(["open", "half_open", "forced_open"]);

const services = document.getElementById("services");
const empty = document.getElementById("empty");
const connection = document.getElementById("connection");
const updated = document.getElementById("updated");
const summary = document.getElementById("summary");
const cards = new Map();
const SVG = "http://www.w3.org/2000/svg";

function fmt(value, digits = 1) {
  return Number.isFinite(value) ? value.toFixed(digits) : "–";
}

function fmtMs(value) {
  if (!Number.isFinite(value)) return "–";
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function field(list, label, cls) {
  const dd = element("dd", cls);
  list.append(element("dt", "", label), dd);
  return dd;
}

function svgNode(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function makeCard(name) {
  const card = element("section", "service");
  card.dataset.service = name;
  card.dataset.state = "none";

  const title = element("h2");
  title.append(element("span", "name", name));
  const state = element("span", "state");
  title.append(state);

  const headline = element("div", "headline");
  const rate = element("span", "big request-rate");
  const rateUnit = element("span", "unit", "req/s");
  const pct = element("span", "big error-pct");
  const pctUnit = element("span", "unit", "errors");
  const rateBox = element("div");
  rateBox.append(rate, rateUnit);
  const pctBox = element("div", "right");
  pctBox.append(pct, pctUnit);
  headline.append(rateBox, pctBox);

  const list = element("dl");
  const parts = {
    state,
    rate,
    pct,
    errorRate: field(list, "errors/s", "error-rate"),
    inFlight: field(list, "in flight", "in-flight"),
    p50: field(list, "p50 ms", "p50"),
    p90: field(list, "p90 ms", "p90"),
    p99: field(list, "p99 ms", "p99"),
    max: field(list, "max ms", "max"),
    timeouts: field(list, "timeouts", "timeouts"),
    shortCircuited: field(list, "short-circuited", "short-circuited"),
    rejected: field(list, "rejected", "rejected"),
    fallbacks: field(list, "fallbacks", "fallbacks"),
  };

  const svg = svgNode("svg", {
    class: "spark",
    viewBox: `0 0 ${HISTORY - 1} 40`,
    preserveAspectRatio: "none",
    role: "img",
    "aria-label": `traffic of ${name}`,
  });
  parts.requests = svgNode("polygon", { class: "requests", points: "" });
  parts.errors = svgNode("polyline", { class: "errors", points: "" });
  svg.append(svgNode("line", { x1: 0, x2: HISTORY - 1, y1: 39.5, y2: 39.5 }), parts.requests, parts.errors);
  const scale = element("div", "scale");

  parts.scale = scale;
  card.append(title, headline, list, svg, scale);
  return { card, parts, history: [], seen: 0 };
}

function sparkline(history) {
  // The line spans the whole width: it stretches while history grows, then scrolls.
  const peak = Math.max(1, ...history.map((point) => point.requests));
  const step = history.length > 1 ? (HISTORY - 1) / (history.length - 1) : 0;
  const x = (i) => (history.length > 1 ? i * step : HISTORY - 1).toFixed(2);
  const y = (value) => (38 - (value / peak) * 36).toFixed(1);
  const line = history.map((point, i) => `${x(i)},${y(point.requests)}`);
  const area = history.length ? [`${x(0)},39`, ...line, `${HISTORY - 1},39`].join(" ") : "";
  const errors = history.map((point, i) => `${x(i)},${y(point.errors)}`).join(" ");
  return { area, errors, peak };
}

function render(data) {
  let entry = cards.get(data.name);
  if (!entry) {
    entry = makeCard(data.name);
    cards.set(data.name, entry);
    const names = [...cards.keys()].sort();
    const next = cards.get(names[names.indexOf(data.name) + 1]);
    services.insertBefore(entry.card, next ? next.card : null);
    empty.hidden = true;
  }
  const { card, parts, history } = entry;
  entry.seen = Date.now();
  const state = data.circuitState ?? (data.isCircuitBreakerOpen ? "open" : "closed");
  card.dataset.state = state;
  card.classList.remove("stale");
  parts.state.textContent = STATE_LABELS[state] ?? state;

  const windowSeconds = (data.propertyValue_metricsRollingStatisticalWindowInMilliseconds || 10000) / 1000;
  const requestRate = data.requestRate ?? data.requestCount / windowSeconds;
  const errorRate = data.errorRate ?? data.errorCount / windowSeconds;
  parts.rate.textContent = fmt(requestRate);
  parts.pct.textContent = fmt(data.errorPercentage, 0) + "%";
  parts.pct.classList.toggle("bad", data.errorPercentage >= 50);
  parts.pct.classList.toggle("warn", data.errorPercentage >= 10 && data.errorPercentage < 50);
  parts.errorRate.textContent = fmt(errorRate);
  parts.inFlight.textContent = data.currentConcurrentExecutionCount;
  const latency = data.latencyMs || data.latencyExecute || {};
  parts.p50.textContent = fmtMs(latency["50"]);
  parts.p90.textContent = fmtMs(latency["90"]);
  parts.p99.textContent = fmtMs(latency["99"]);
  parts.max.textContent = fmtMs(latency["100"]);
  parts.timeouts.textContent = data.rollingCountTimeout;
  parts.shortCircuited.textContent = data.rollingCountShortCircuited;
  parts.rejected.textContent = data.rollingCountSemaphoreRejected + data.rollingCountThreadPoolRejected;
  parts.fallbacks.textContent = data.rollingCountFallbackSuccess + data.rollingCountFallbackFailure;

  history.push({ requests: requestRate, errors: errorRate });
  if (history.length > HISTORY) history.shift();
  const spark = sparkline(history);
  parts.requests.setAttribute("points", spark.area);
  parts.errors.setAttribute("points", spark.errors);
  parts.scale.textContent = `peak ${fmt(spark.peak)} req/s`;

  updated.textContent = "updated " + new Date().toLocaleTimeString();
  summarize();
}

function summarize() {
  const states = [...cards.values()].map((entry) => entry.card.dataset.state);
  const open = states.filter((state) => OPEN_STATES.has(state)).length;
  const noun = cards.size === 1 ? "service" : "services";
  summary.textContent = `${cards.size} ${noun} · ${open} open`;
  summary.classList.toggle("bad", open > 0);
  document.title = open ? `dyno dashboard (${open} open)` : "dyno dashboard";
}

function markStale() {
  const now = Date.now();
  for (const entry of cards.values()) {
    entry.card.classList.toggle("stale", now - entry.seen > STALE_MS);
  }
}

function connect() {
  const source = new EventSource("stream");
  source.onopen = () => {
    connection.dataset.status = "open";
    connection.textContent = "live";
  };
  source.onmessage = (event) => render(JSON.parse(event.data));
  source.onerror = () => {
    connection.dataset.status = "error";
    connection.textContent = "reconnecting…";
  };
}

setInterval(markStale, 1000);
connect();
