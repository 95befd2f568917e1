// monitoring/web/dashboard.js - the dashboard's logic: every 5 s it reads
// ecom-metrics' /api/latest (the last round of scrapes), /api/series (the
// last hour, for the charts) and /api/shop (the shop's tables in
// PostgreSQL) and redraws. Charts with uPlot (/vendor/, scripts/web-vendor.sh).
"use strict";

const REFRESH_MS = 5000;
const HOUR = 3600, STEP = 15;
const charts = {};
let previous = null; // the last /api/latest, for rates between rounds

const $ = (id) => document.getElementById(id);
const num = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v)) ? "\u2013"
    : Number(v).toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const esc = (s) => String(s === null || s === undefined ? "" : s)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const time = (t) => t ? new Date(t).toISOString().replace("T", " ").slice(0, 19) : "\u2013";

async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store" });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
}

// rows: arrays of cells; a cell is text or {v, cls, n (numeric), key (data-k)}.
function table(id, head, rows, empty) {
    const el = $(id);
    if (rows === null) { el.innerHTML = `<tr><td class="empty">not available</td></tr>`; return; }
    if (!rows.length) { el.innerHTML = `<tr><td class="empty">${esc(empty || "none yet")}</td></tr>`; return; }
    const th = head.map((h) => `<th class="${h.startsWith("#") ? "n" : ""}">${esc(h.replace(/^#/, ""))}</th>`).join("");
    const tr = rows.map((r) => "<tr>" + r.map((c) => {
        const o = (c !== null && typeof c === "object") ? c : { v: c };
        const cls = [o.n ? "n" : "", o.cls || ""].join(" ").trim();
        return `<td${cls ? ` class="${cls}"` : ""}${o.key ? ` data-k="${esc(o.key)}"` : ""}>${esc(o.v)}</td>`;
    }).join("") + "</tr>").join("");
    el.innerHTML = `<thead><tr>${th}</tr></thead><tbody>${tr}</tbody>`;
}

function samples(latest, source) {
    const s = latest.sources.find((x) => x.source === source);
    return s && s.up ? s.samples : [];
}

function topicTotals(latest) {
    const t = {};
    for (const x of samples(latest, "kafka")) {
        if (x.name !== "kafka_topic_partition_current_offset" && x.name !== "kafka_topic_partition_oldest_offset") continue;
        const e = t[x.labels.topic] || (t[x.labels.topic] = { hi: 0, lo: 0, parts: 0 });
        if (x.name === "kafka_topic_partition_current_offset") { e.hi += x.value; e.parts++; } else e.lo += x.value;
    }
    return t;
}

function drawLatest(latest) {
    $("sources").innerHTML = latest.sources.map((s) =>
        `<span class="pill ${s.up ? "up" : "down"}" title="${esc(s.error || "up")}" data-k="source-${esc(s.source)}">${esc(s.source)}</span>`).join("");
    const topics = topicTotals(latest), before = previous ? topicTotals(previous) : null;
    const dt = previous ? (latest.ts - previous.ts) / 1000 : 0;
    let rate = 0, known = false;
    const rows = Object.keys(topics).sort().map((name) => {
        const e = topics[name];
        let r = null;
        if (before && before[name] && dt > 0) { r = (e.hi - before[name].hi) / dt; rate += r; known = true; }
        return [name, { v: num(e.parts), n: 1 }, { v: num(e.hi - e.lo), n: 1, key: "topic-messages-" + name },
                { v: num(e.hi), n: 1, key: "topic-offset-" + name }, { v: r === null ? "\u2013" : num(r, 1), n: 1 }];
    });
    table("topics", ["topic", "#partitions", "#messages", "#end offset", "#msg/s"], rows, "no topic (is Kafka scraped?)");
    $("kafka-rate").textContent = known ? num(rate, 1) : "\u2013";

    const lags = samples(latest, "kafka").filter((x) => x.name === "kafka_consumergroup_lag_sum");
    $("lag-total").textContent = lags.length ? num(lags.reduce((a, x) => a + x.value, 0)) : "\u2013";
    $("lag-total").dataset.k = "lag-total";
    $("lag-groups").textContent = lags.map((x) => `${x.labels.group}: ${num(x.value)}`).join(", ") || "no consumer group";

    const pg = samples(latest, "postgres");
    table("tables", ["table", "#rows", "#size MB"], pg.filter((x) => x.name === "pg_table_rows").map((x) => {
        const size = pg.find((y) => y.name === "pg_table_size_bytes" && y.labels.table === x.labels.table);
        return [x.labels.table, { v: num(x.value), n: 1, key: "rows-" + x.labels.table },
                { v: size ? num(size.value / 1048576, 1) : "\u2013", n: 1 }];
    }), "PostgreSQL not scraped");
    const ages = pg.filter((x) => x.name === "pg_data_age_seconds").map((x) => x.value);
    $("data-age").textContent = ages.length ? num(Math.min(...ages)) : "\u2013";

    const sp = samples(latest, "spark"), get = (n, st) => {
        const x = sp.find((y) => y.name === n && (!st || y.labels.state === st));
        return x ? x.value : null;
    };
    table("spark", ["master", "#workers", "#cores used", "#apps"], sp.length ?
        [[get("spark_master_alive", null) ? "ALIVE" : "down", { v: num(get("spark_workers", "alive")), n: 1 },
          { v: `${num(get("spark_cores_used"))} / ${num(get("spark_cores"))}`, n: 1 },
          { v: num(get("spark_apps_active")), n: 1 }]] : [], "no Spark master configured");
    previous = latest;
}

// Series of one metric into {ts seconds: value} per group key, summed.
function byKey(series, keyOf) {
    const out = {};
    for (const s of series) {
        const k = keyOf(s.labels), m = out[k] || (out[k] = {});
        for (const [ms, v] of s.points) { const t = Math.round(ms / 1000); m[t] = (m[t] || 0) + (v === null ? 0 : Number(v)); }
    }
    return out;
}
function rates(m) { // counter samples -> per-second rates between steps
    const ts = Object.keys(m).map(Number).sort((a, b) => a - b), r = {};
    for (let i = 1; i < ts.length; i++) r[ts[i]] = Math.max(0, (m[ts[i]] - m[ts[i - 1]]) / (ts[i] - ts[i - 1]));
    return r;
}
function aligned(maps) { // [{t: v}] -> uPlot data [[ts...], [v...], ...]
    const all = new Set();
    maps.forEach((m) => Object.keys(m).forEach((t) => all.add(Number(t))));
    const ts = [...all].sort((a, b) => a - b);
    return [ts, ...maps.map((m) => ts.map((t) => (t in m ? m[t] : null)))];
}
function chart(id, names, data) {
    const el = $(id), palette = ["#2f6fdf", "#1b8a4a", "#c77d00", "#c0392b", "#7b3fc0", "#0a8f8f"];
    if (!charts[id] || charts[id].series.length !== names.length + 1) {
        if (charts[id]) charts[id].destroy();
        charts[id] = new uPlot({
            width: Math.max(280, el.clientWidth || 380), height: 180, legend: { live: false },
            series: [{}, ...names.map((n, i) => ({ label: n, stroke: palette[i % palette.length], width: 1.5, spanGaps: true }))],
            axes: [{}, { size: 60 }],
        }, data, el);
    } else charts[id].setData(data);
}

async function drawSeries() {
    const q = (name) => getJSON(`/api/series?name=${encodeURIComponent(name)}&since=${HOUR}&step=${STEP}`);
    const [offsets, lag, stored, csum, ccount] = await Promise.all([
        q("kafka_topic_partition_current_offset"), q("kafka_consumergroup_lag_sum"), q("ecom_stream_messages_stored_total"),
        q("ecom_stream_commit_latency_seconds_sum"), q("ecom_stream_commit_latency_seconds_count")]);
    const topics = byKey(offsets, (l) => l.topic), names = Object.keys(topics).sort();
    chart("chart-topics", names, aligned(names.map((n) => rates(topics[n]))));
    const groups = byKey(lag, (l) => l.group), gnames = Object.keys(groups).sort();
    chart("chart-lag", gnames, aligned(gnames.map((n) => groups[n])));
    const st = rates(byKey(stored, () => "all").all || {});
    const s = byKey(csum, () => "all").all || {}, c = byKey(ccount, () => "all").all || {};
    const ts = Object.keys(s).map(Number).sort((a, b) => a - b), ms = {};
    for (let i = 1; i < ts.length; i++) {
        const dc = (c[ts[i]] || 0) - (c[ts[i - 1]] || 0);
        if (dc > 0) ms[ts[i]] = 1000 * (s[ts[i]] - s[ts[i - 1]]) / dc;
    }
    chart("chart-stream", ["rows/s", "commit ms"], aligned([st, ms]));
    const stTs = Object.keys(st).map(Number).sort((a, b) => a - b), msTs = Object.keys(ms).map(Number).sort((a, b) => a - b);
    $("stream-rate").textContent = stTs.length ? num(st[stTs[stTs.length - 1]], 1) : "\u2013";
    $("commit-ms").textContent = msTs.length ? num(ms[msTs[msTs.length - 1]], 1) : "\u2013";
}

function drawShop(shop) {
    table("categories", ["category", "window", "#views", "#carts", "#orders", "#revenue", "#conv."], shop.categories &&
        shop.categories.map((r) => [r.category, time(r.window_start).slice(11, 16) + (r.is_final ? "" : " (open)"),
            { v: num(r.views), n: 1, key: "views-" + r.category }, { v: num(r.add_to_carts), n: 1 },
            { v: num(r.orders), n: 1 }, { v: num(r.revenue, 2), n: 1 },
            { v: r.conversion_rate === null ? "\u2013" : num(100 * r.conversion_rate, 1) + "%", n: 1 }]), "no window yet");
    table("trending", ["category", "#", "product", "#views", "#orders"], shop.trending &&
        shop.trending.map((r) => [r.category, { v: r.rank, n: 1 }, r.product_id, { v: num(r.views), n: 1 }, { v: num(r.orders), n: 1 }]));
    table("fraud", ["detected", "user", "rule", "severity"], shop.fraud &&
        shop.fraud.map((r) => [time(r.detected_at), r.user_id, r.rule, { v: r.severity, cls: r.severity === "high" ? "bad" : "warn" }]));
    table("stock", ["detected", "product", "warehouse", "#stock", "state"], shop.stock &&
        shop.stock.map((r) => [time(r.detected_at), r.product_id, r.warehouse_location, { v: num(r.current_stock), n: 1 },
            { v: r.state, cls: r.state === "low" ? "bad" : "ok" }]));
    table("alerts", ["rule", "instance", "since", "summary"], shop.alerts &&
        shop.alerts.map((r) => [r.rule, r.key, time(r.fired_at), r.summary]), "nothing firing");
    $("alerts-firing").textContent = shop.alerts ? num(shop.alerts.length) : "\u2013";
    table("dags", ["dag", "interval", "type", "state"], shop.dags &&
        shop.dags.map((r) => [r.dag_id, time(r.data_interval_start).slice(0, 16), r.run_type,
            { v: r.state, cls: r.state === "failed" ? "bad" : r.state === "success" ? "ok" : "" }]));
    table("batch", ["job", "period", "#rows", "#ms", "status"], shop.batch &&
        shop.batch.map((r) => [r.job, time(r.period_start).slice(0, 16), { v: num(r.rows_written), n: 1 },
            { v: num(r.duration_ms), n: 1 }, { v: r.status, cls: r.status === "failed" ? "bad" : "ok" }]));
    table("quality", ["period", "#checks", "#warned", "#failed"], shop.quality &&
        shop.quality.map((r) => [time(r.period_start).slice(0, 16), { v: num(r.checks), n: 1 }, { v: num(r.warned), n: 1 },
            { v: num(r.failed), n: 1, cls: r.failed > 0 ? "bad" : "" }]));
    const links = [];
    if (shop.links && shop.links.kafka_ui) links.push(`<a href="${esc(shop.links.kafka_ui)}">Kafka UI</a>`);
    if (shop.links && shop.links.spark_ui) links.push(`<a href="${esc(shop.links.spark_ui)}">Spark UI</a>`);
    $("links").innerHTML = links.join("");
}

async function refresh() {
    const problems = [];
    await Promise.all([
        getJSON("/api/latest").then(drawLatest),
        getJSON("/api/shop").then(drawShop),
        drawSeries(),
    ].map((p) => p.catch((e) => problems.push(e.message))));
    $("updated").textContent = (problems.length ? "partial: " + problems.join("; ") + " \u2013 " : "updated ") +
        new Date().toISOString().slice(11, 19) + " UTC";
    $("updated").dataset.refreshed = String(Date.now());
}

refresh();
setInterval(refresh, REFRESH_MS);
