"use strict";
(() => {
  const { el, api, showError, fmtValue, state, link, kv } = VT;
  const name = VT.lastSegment();
  const PALETTE = ["#1c7ed6", "#e8590c", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#c2255c", "#5c940d"];
  let data = null;
  const selected = new Set();
  const runCache = new Map(), seriesCache = new Map();
  let sortKey = null, sortDir = 1, chart = null;

  const runApi = run => `/api/experiments/${encodeURIComponent(name)}/runs/${encodeURIComponent(run)}`;
  async function runDetail(run) {
    if (!runCache.has(run)) runCache.set(run, api(runApi(run)));
    return runCache.get(run);
  }
  async function series(run) {
    if (!seriesCache.has(run)) seriesCache.set(run, api(`${runApi(run)}/time-series`));
    return seriesCache.get(run);
  }
  const DEFAULT_SHOWN = 8;  // charts of an experiment of 100 runs would fetch 100 series
  const shown = () => (selected.size ? data.runs.filter(r => selected.has(r.run_name)) : data.runs.slice(0, DEFAULT_SHOWN));

  function renderTable() {
    const cols = ["run_name", "state", ...data.columns];
    const head = document.querySelector("#runs thead");
    head.replaceChildren(el("tr", {}, el("th", {}, "compare"), cols.map(c => el("th", {
      class: `sortable${sortKey === c ? (sortDir > 0 ? " sorted-asc" : " sorted-desc") : ""}`, "data-col": c,
      onclick: () => { sortDir = sortKey === c ? -sortDir : 1; sortKey = c; renderTable(); } }, c))));
    const value = (r, c) => (c === "run_name" ? r.run_name : c === "state" ? r.state : r.values[c]);
    const rows = [...data.runs];
    if (sortKey) rows.sort((a, b) => {
      const x = value(a, sortKey), y = value(b, sortKey);
      if (x === undefined || x === null) return 1;
      if (y === undefined || y === null) return -1;
      return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
    });
    document.querySelector("#runs tbody").replaceChildren(...rows.map(r => el("tr", { "data-run": r.run_name },
      el("td", {}, el("input", { type: "checkbox", checked: selected.has(r.run_name), "aria-label": `compare ${r.run_name}`,
        onchange: ev => toggle(r.run_name, ev.target) })),
      el("td", {}, r.run_name), el("td", {}, state(r.state)),
      data.columns.map(c => el("td", { class: typeof r.values[c] === "number" ? "num" : "" }, fmtValue(r.values[c]))))));
  }

  function toggle(run, box) {
    if (box.checked && selected.size >= 4) { box.checked = false; alert("Compare at most 4 runs."); return; }
    if (box.checked) selected.add(run); else selected.delete(run);
    refresh();
  }

  async function renderCompare() {
    const target = document.getElementById("compare");
    if (selected.size < 2) { target.replaceChildren(); return; }
    const runs = shown();
    const details = await Promise.all(runs.map(r => runDetail(r.run_name)));
    const keys = data.columns;
    target.replaceChildren(el("h2", {}, `Comparing ${runs.length} runs`), el("table", { id: "compare-table" },
      el("thead", {}, el("tr", {}, el("th", {}, ""), runs.map(r => el("th", {}, r.run_name)))),
      el("tbody", {},
        el("tr", {}, el("td", {}, "state"), runs.map(r => el("td", {}, state(r.state)))),
        keys.map(k => {
          const vals = runs.map(r => r.values[k]);
          const differ = new Set(vals.map(v => JSON.stringify(v ?? null))).size > 1;
          return el("tr", { style: differ ? "background:#fff9db" : null }, el("td", {}, k), vals.map(v => el("td", { class: "num" }, fmtValue(v))));
        }),
        el("tr", {}, el("td", {}, "pipeline runs"), details.map(d => el("td", {}, d.pipeline_runs.map(p => [link.run(p.resource_id, p.display_name), " "])))))));
  }

  async function renderSeries() {
    const target = document.getElementById("ts-chart");
    const runs = shown();
    const all = await Promise.all(runs.map(r => series(r.run_name)));
    const metrics = [...new Set(all.flatMap(s => Object.keys(s.series)))].sort();
    const select = document.getElementById("metric");
    const current = select.value;
    select.replaceChildren(...metrics.map(m => el("option", { value: m, selected: m === current }, m)));
    if (chart) { chart.destroy(); chart = null; }
    if (!metrics.length) {
      const why = all.find(s => !s.available);
      target.replaceChildren(el("p", { class: "muted" }, why ? why.message : "no time series logged in these runs"));
      return;
    }
    const metric = select.value || metrics[0];
    const tables = [], labels = [];
    all.forEach((s, i) => {
      if (!s.series[metric]) return;
      tables.push([s.step, s.series[metric]]);
      labels.push(runs[i].run_name);
    });
    const joined = uPlot.join(tables);
    target.replaceChildren();
    chart = new uPlot({
      width: Math.max(400, target.clientWidth - 14), height: 300, title: metric,
      scales: { x: { time: false } }, axes: [{ label: "step" }, {}],
      series: [{ label: "step" }, ...labels.map((l, i) => ({ label: l, stroke: PALETTE[i % PALETTE.length], width: 2, spanGaps: true }))],
    }, joined, target);
  }

  async function renderClassification() {
    const roc = document.getElementById("roc"), matrices = document.getElementById("matrices");
    const runs = shown();
    const details = await Promise.all(runs.map(r => runDetail(r.run_name)));
    const curves = [], tables = [];
    details.forEach((d, i) => d.classification_metrics.forEach(m => {
      const label = `${d.run_name}${m.display_name ? " · " + m.display_name : ""}`;
      if (m.fpr && m.tpr) curves.push({ label, fpr: m.fpr, tpr: m.tpr, color: PALETTE[curves.length % PALETTE.length] });
      if (m.matrix) tables.push(matrix(label, m.labels || [], m.matrix));
    }));
    roc.replaceChildren(curves.length ? rocChart(curves) : el("p", { class: "muted" }, "no ROC curves logged in these runs"));
    matrices.replaceChildren(...(tables.length ? tables : [el("p", { class: "muted" }, "no confusion matrices logged in these runs")]));
  }

  function matrix(label, labels, rows) {
    const max = Math.max(1, ...rows.flat());
    return el("div", { class: "card" }, el("strong", {}, label), el("table", { class: "matrix" },
      el("thead", {}, el("tr", {}, el("th", {}, "actual \\ predicted"), labels.map(l => el("th", {}, l)))),
      el("tbody", {}, rows.map((row, i) => el("tr", {}, el("th", {}, labels[i] ?? i), row.map(v => el("td", {
        style: `background: rgba(28,126,214,${(0.08 + 0.8 * v / max).toFixed(2)}); color: ${v / max > 0.5 ? "#fff" : "#1f2933"}` }, v)))))));
  }

  function rocChart(curves) {
    const NS = "http://www.w3.org/2000/svg", W = 420, H = 340, m = 40;
    const mk = (tag, attrs, text) => { const n = document.createElementNS(NS, tag); for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v); if (text !== undefined) n.textContent = text; return n; };
    const svg = mk("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "ROC curves", id: "roc-svg" });
    const x = v => m + v * (W - 2 * m), y = v => H - m - v * (H - 2 * m);
    svg.append(mk("rect", { x: m, y: m, width: W - 2 * m, height: H - 2 * m, fill: "#fff", stroke: "#adb5bd" }));
    svg.append(mk("line", { x1: x(0), y1: y(0), x2: x(1), y2: y(1), stroke: "#ced4da", "stroke-dasharray": "4 3" }));
    svg.append(mk("text", { x: W / 2, y: H - 8, "text-anchor": "middle", "font-size": 11 }, "false positive rate"));
    svg.append(mk("text", { x: 12, y: H / 2, "text-anchor": "middle", "font-size": 11, transform: `rotate(-90 12 ${H / 2})` }, "true positive rate"));
    svg.append(mk("text", { x: W / 2, y: 18, "text-anchor": "middle", "font-size": 13, "font-weight": 600 }, "ROC"));
    curves.forEach((c, i) => {
      const pts = c.fpr.map((f, k) => `${x(Number(f)).toFixed(1)},${y(Number(c.tpr[k])).toFixed(1)}`).join(" ");
      svg.append(mk("polyline", { points: pts, fill: "none", stroke: c.color, "stroke-width": 2 }));
      svg.append(mk("text", { x: x(0.45), y: y(0.05 + 0.07 * i), "font-size": 11, fill: c.color }, c.label));
    });
    return svg;
  }

  async function refresh() {
    renderTable();
    const jobs = [renderCompare(), renderSeries(), renderClassification()];
    for (const j of jobs) { try { await j; } catch (err) { showError(document.getElementById("error"), err); } }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    try { data = await api(`/api/experiments/${encodeURIComponent(name)}`); }
    catch (err) { showError(document.getElementById("error"), err); return; }
    document.title = `${name} · vertex-track`;
    document.getElementById("title").replaceChildren(`Experiment ${name} `, el("span", { class: "muted", style: "font-size:14px" }, `${data.runs.length} runs`));
    document.getElementById("metric").addEventListener("change", () => renderSeries());
    await refresh();
  });
})();
