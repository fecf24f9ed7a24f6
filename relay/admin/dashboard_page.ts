/**
 * The live dashboard at `/dashboard`: one static page, no external assets (Ferry's hosts often
 * have no internet). The page itself holds no data; its script calls the token-protected API
 * with the token taken from the `#token=` fragment (never sent to the server in the URL) or
 * asked for once, kept in sessionStorage.
 *
 * Shown: queue depth by status, deliveries per second over the last 15 minutes (inline SVG),
 * the top destinations with their actor state (concurrency: open / adaptive limit / maximum; rate
 * budget: configured rates, the adaptive rate, tokens free or the next free time; throttled: paused
 * until, the last throttling reply), alerts, and the latest events streamed live
 * over `GET /api/v1/events`. `?refresh=<ms>` sets the polling period of the numbers.
 *
 * @module
 */

const STYLE = `
*{box-sizing:border-box}body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1d2430}
header{display:flex;align-items:center;gap:1rem;padding:.7rem 1.5rem;background:#1d2430;color:#fff}
header h1{font-size:1.1rem;margin:0}#conn{font-size:.8rem;opacity:.85}#conn.live::before{content:"● ";color:#48c774}
main{padding:1rem 1.5rem;display:grid;gap:1rem;grid-template-columns:2fr 1fr}
section{background:#fff;border:1px solid #e1e5eb;border-radius:6px;padding:.8rem 1rem}
h2{font-size:.95rem;margin:.1rem 0 .6rem;color:#4a5568}.wide{grid-column:1/-1}
#counts{display:grid;grid-template-columns:repeat(9,1fr);gap:.5rem}
.card{background:#f8fafc;border-radius:5px;padding:.4rem .6rem;border-left:4px solid #cbd2dc}
.card .label{display:block;font-size:.75rem;color:#6b7688}.card .value{font-size:1.4rem;font-weight:600}
.queued{border-color:#2f7ed8}.sending{border-color:#8e5bd6}.deferred{border-color:#e0a526}
.delivered{border-color:#2e9d57}.bounced{border-color:#c9483d}.expired{border-color:#9a5a3c}
table{width:100%;border-collapse:collapse;font-size:.85rem}th,td{text-align:left;padding:.25rem .4rem;border-bottom:1px solid #edf0f4}
th{color:#6b7688;font-weight:500}td.n{text-align:right;font-variant-numeric:tabular-nums}
#events{list-style:none;margin:0;padding:0;font:12px/1.5 ui-monospace,monospace;max-height:22rem;overflow:auto}
#events li{border-bottom:1px solid #f0f2f5;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.k-delivered{color:#2e9d57}.k-bounced{color:#c9483d}.k-deferred{color:#b7841b}.k-expired{color:#9a5a3c}
#alerts .alert{background:#fdecea;border-left:4px solid #c9483d;padding:.3rem .6rem;margin:.2rem 0}
#error{display:none;background:#c9483d;color:#fff;padding:.5rem 1.5rem}
.legend span{margin-right:1rem;font-size:.8rem}.legend i{display:inline-block;width:.8rem;height:.2rem;margin-right:.3rem;vertical-align:middle}
`;

const SCRIPT = `
"use strict";
const STATUSES = ["queued","sending","deferred","delivered","bounced","expired","cancelled","suppressed","rejected"];
const SERIES = [["delivered","#2e9d57"],["deferred","#e0a526"],["bounced","#c9483d"]];
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
const params = new URLSearchParams(location.search);
const REFRESH = Math.max(500, Number(params.get("refresh")) || 3000);
let events = 0;

function readToken() {
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem("ferry-token", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  let t = sessionStorage.getItem("ferry-token");
  if (!t) {
    t = prompt("Ferry API token (a key with the read scope, or FERRY_ADMIN_TOKEN)") || "";
    if (t) sessionStorage.setItem("ferry-token", t);
  }
  return t;
}
const TOKEN = readToken();
const auth = { authorization: "Bearer " + TOKEN };

function fail(message) {
  $("error").textContent = message;
  $("error").style.display = "block";
}

async function api(path) {
  const res = await fetch(path, { headers: auth });
  if (res.status === 401) {
    sessionStorage.removeItem("ferry-token");
    throw new Error("The token was refused: reload the page and enter the right one.");
  }
  if (res.status === 403) throw new Error((await res.json()).error);
  if (!res.ok) throw new Error(path + ": HTTP " + res.status);
  return res.json();
}

function renderCounts(counts) {
  $("counts").innerHTML = STATUSES.map((s) =>
    '<div class="card ' + s + '" id="count-' + s + '"><span class="label">' + s +
    '</span><span class="value">' + (counts[s] ?? 0) + "</span></div>").join("");
}

function renderChart(data) {
  const w = 900, h = 200, pad = 34;
  const b = data.bucket_seconds, buckets = data.buckets;
  const rates = SERIES.map(([k]) => buckets.map((x) => (x.counts[k] || 0) / b));
  const max = Math.max(1, ...rates.flat()) * 1.1;
  const x = (i) => pad + (i * (w - pad - 8)) / Math.max(1, buckets.length - 1);
  const y = (v) => h - pad + 10 - (v / max) * (h - pad - 10);
  let svg = '<svg viewBox="0 0 ' + w + " " + h + '" width="100%" role="img" aria-label="deliveries per second">';
  for (let g = 0; g <= 4; g++) {
    const v = (max * g) / 4;
    svg += '<line x1="' + pad + '" x2="' + w + '" y1="' + y(v) + '" y2="' + y(v) + '" stroke="#edf0f4"/>' +
      '<text x="2" y="' + (y(v) + 4) + '" font-size="10" fill="#6b7688">' + v.toFixed(v < 10 ? 1 : 0) + "</text>";
  }
  SERIES.forEach(([k, color], s) => {
    const pts = rates[s].map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    svg += '<polyline id="series-' + k + '" fill="none" stroke="' + color + '" stroke-width="2" points="' + pts + '"/>';
  });
  const label = (i) => new Date(buckets[i].at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  if (buckets.length > 1) {
    svg += '<text x="' + pad + '" y="' + (h - 4) + '" font-size="10" fill="#6b7688">' + label(0) + "</text>" +
      '<text x="' + (w - 4) + '" y="' + (h - 4) + '" font-size="10" fill="#6b7688" text-anchor="end">' + label(buckets.length - 1) + "</text>";
  }
  $("chart").innerHTML = svg + "</svg>";
  // The headline: deliveries per second averaged over the last minute of buckets.
  const recent = buckets.slice(-Math.max(1, Math.round(60 / b)));
  const delivered = recent.reduce((n, x) => n + (x.counts.delivered || 0), 0);
  $("rate").textContent = (delivered / (recent.length * b)).toFixed(2);
}

const time = (at) => new Date(at).toLocaleTimeString();

// Concurrency: open connections / the adaptive limit now / the configured maximum.
function concurrency(live) {
  return [live.connections, live.connection_limit ?? "—", live.connection_max ?? "—"].join(" / ");
}

// The rate budget: the configured rates, the rate a throttling receiver left, and the tokens free
// now or when the next one is.
function budget(live) {
  const b = live.rate_budget;
  if (!b) return "";
  const parts = [b.rate || "no rate limit"];
  if (b.adaptive_per_second != null) parts.push("adaptive " + b.adaptive_per_second.toFixed(2) + "/s");
  const free = b.available + (b.capacity != null ? "/" + b.capacity : "") + " free";
  const next = b.next_free_at ? new Date(b.next_free_at) : null;
  parts.push(b.available > 0 || !next || next <= Date.now() ? free : "next " + time(next));
  return parts.join(" · ");
}

// Throttled: paused by a "slow down" reply until when, and the last such reply.
function throttled(live) {
  const parts = [];
  if (live.paused_until) parts.push("paused until " + time(live.paused_until));
  if (live.last_throttle) parts.push(time(live.last_throttle.at) + " " + live.last_throttle.text);
  return parts.join(" · ");
}

function cell(col, text, cls) {
  const t = String(text ?? "");
  return '<td data-col="' + col + '"' + (cls ? ' class="' + cls + '"' : "") + ' title="' + esc(t) + '">' +
    esc(t.length > 70 ? t.slice(0, 70) + "…" : t) + "</td>";
}

function renderDomains(data) {
  const rows = data.domains.map((d) => {
    const live = d.live;
    const suspended = d.suspended ? "until " + time(d.suspended.until) : "";
    const reply = live && live.last_reply ? live.last_reply.text : "";
    return '<tr data-domain="' + esc(d.domain) + '">' + cell("domain", d.domain) +
      cell("queued", d.queued, "n") + cell("deferred", d.deferred, "n") + cell("sending", d.sending, "n") +
      cell("actor", live ? live.state : "—") + cell("concurrency", live ? concurrency(live) : "", "n") +
      cell("budget", live ? budget(live) : "") + cell("throttled", live ? throttled(live) : "") +
      cell("backoff", live && live.backoff_until ? time(live.backoff_until) : "") +
      cell("suspended", suspended) + cell("reply", reply) + "</tr>";
  }).join("");
  $("domains").innerHTML = rows || '<tr><td colspan="11">nothing waiting</td></tr>';
}

function renderAlerts(data) {
  $("alerts").innerHTML = data.alerts.length
    ? data.alerts.map((a) => '<div class="alert"><b>' + esc(a.name) + "</b> " + esc(a.message) + "</div>").join("")
    : data.monitored ? "none" : "not monitored";
}

async function refresh() {
  try {
    const [queue, domains, chart, alerts] = await Promise.all([
      api("/api/v1/queue"), api("/api/v1/domains?limit=10"),
      api("/api/v1/stats/throughput?minutes=15&bucket=10"), api("/api/v1/alerts"),
    ]);
    renderCounts(queue.counts);
    renderDomains(domains);
    renderChart(chart);
    renderAlerts(alerts);
    $("error").style.display = "none";
    $("updated").textContent = new Date().toLocaleTimeString();
    document.body.dataset.ready = "1";
  } catch (err) {
    fail(err.message);
  }
}

function showEvent(e) {
  events++;
  document.body.dataset.events = String(events);
  $("event-count").textContent = events;
  const li = document.createElement("li");
  li.className = "k-" + e.kind;
  const reply = e.reply || "";
  const code = e.code && !reply.startsWith(String(e.code)) ? e.code + " " : "";
  // The TLS decision of the attempt: its policy, and whether it was encrypted and authenticated.
  const t = e.tls_detail;
  const tls = t ? " [tls " + t.policy + (t.tls ? (t.verified ? ", verified" : ", unverified") : ", none") + "]" : "";
  li.textContent = new Date(e.at).toLocaleTimeString() + " " + e.kind.padEnd(9) + " " + (e.recipient || "") + " " + code + reply + tls;
  if (t) li.title = t.reason;
  $("events").prepend(li);
  while ($("events").children.length > 25) $("events").lastChild.remove();
}

async function stream(after) {
  let last = after;
  for (;;) {
    try {
      const res = await fetch("/api/v1/events" + (last ? "?after=" + last : ""), { headers: auth });
      if (!res.ok) throw new Error("event stream: HTTP " + res.status);
      $("conn").className = "live";
      $("conn").textContent = "live";
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let cut;
        while ((cut = buf.indexOf("\\n\\n")) >= 0) {
          const block = buf.slice(0, cut);
          buf = buf.slice(cut + 2);
          const data = block.split("\\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\\n");
          const id = /^id: (\\d+)/m.exec(block);
          if (id) last = Number(id[1]);
          if (data && /^event: delivery/m.test(block)) showEvent(JSON.parse(data));
        }
      }
    } catch (err) {
      $("conn").className = "";
      $("conn").textContent = "reconnecting: " + err.message;
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}

renderCounts({});
refresh();
setInterval(refresh, REFRESH);
stream(0);
`;

export function dashboardPage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ferry dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>${STYLE}</style></head>
<body>
<header><h1>Ferry</h1><span id="conn">connecting…</span>
<span style="margin-left:auto;font-size:.8rem">updated <span id="updated">—</span> · <a href="/docs" style="color:#9cc3f5">API docs</a></span></header>
<div id="error"></div>
<main>
<section class="wide"><h2>Queue depth by status</h2><div id="counts"></div></section>
<section><h2>Deliveries per second, last 15 minutes — last minute <span id="rate">0</span>/s</h2>
<div id="chart"></div>
<div class="legend"><span><i style="background:#2e9d57"></i>delivered</span><span><i style="background:#e0a526"></i>deferred</span><span><i style="background:#c9483d"></i>bounced</span></div>
</section>
<section><h2>Alerts</h2><div id="alerts">—</div>
<h2 style="margin-top:1rem">Live events (<span id="event-count">0</span>)</h2><ul id="events"></ul></section>
<section class="wide"><h2>Top destinations</h2>
<table><thead><tr><th>domain</th><th>queued</th><th>deferred</th><th>in flight</th><th>actor</th><th title="open / adaptive limit / max">connections</th><th title="configured rates · adaptive rate · tokens free or next free time">rate budget</th><th title="paused until · last throttling reply">throttled</th><th>backoff until</th><th>suspended</th><th>last reply</th></tr></thead>
<tbody id="domains"></tbody></table></section>
</main>
<script>${SCRIPT}</script>
</body></html>`;
}
