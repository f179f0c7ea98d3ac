"use strict";
(() => {
  const { el, api, showError, fmtTime, fmtDuration, fmtValue, state, link, kv, STATE_COLORS } = VT;
  const SVG = "http://www.w3.org/2000/svg";

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // A Gantt chart: one row per execution, bars from start to end, coloured by state.
  function gantt(target, bars, runEnd) {
    const times = bars.map(b => [Date.parse(b.start_time), b.end_time ? Date.parse(b.end_time) : NaN]);
    const t0 = Math.min(...times.map(t => t[0]));
    const now = runEnd ? Date.parse(runEnd) : Date.now();
    const t1 = Math.max(...times.map(t => isNaN(t[1]) ? Math.max(t[0], now) : t[1]), t0 + 1);
    const labelW = 220, rowH = 22, width = Math.max(target.clientWidth || 900, 500), plotW = width - labelW - 70;
    const height = bars.length * rowH + 30;
    const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, height, role: "img", "aria-label": "timeline" });
    const x = t => labelW + ((t - t0) / (t1 - t0)) * plotW;
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (i / 4) * (t1 - t0), px = x(t);
      root.append(svg("line", { x1: px, x2: px, y1: 0, y2: height - 18, stroke: "#e9ecef" }));
      root.append(svg("text", { x: px, y: height - 5, "font-size": 10, "text-anchor": "middle", fill: "#616e7c" }, `+${fmtDuration((t - t0) / 1000) || "0 s"}`));
    }
    bars.forEach((b, i) => {
      const [s, e] = times[i];
      const y = i * rowH + 4, end = isNaN(e) ? Math.max(s, now) : e;
      const a = svg("a", { href: `/executions/${encodeURIComponent(b.resource_id)}` });
      a.append(svg("text", { x: labelW - 8, y: y + 13, "font-size": 11, "text-anchor": "end", fill: "#1f2933" }, b.display_name || b.task_name));
      const rect = svg("rect", { class: `bar bar-${b.state}`, x: x(s), y, width: Math.max(2, x(end) - x(s)), height: rowH - 7,
        rx: 2, fill: STATE_COLORS[b.state] || "#495057", "data-state": b.state });
      rect.append(svg("title", {}, `${b.task_name}: ${b.state}, ${fmtDuration(b.duration_s) || "running"}${b.error_message ? "\n" + b.error_message : ""}`));
      a.append(rect);
      a.append(svg("text", { x: x(end) + 4, y: y + 12, "font-size": 10, fill: "#616e7c" }, `${b.state === "COMPLETE" ? "" : b.state + " "}${fmtDuration(b.duration_s)}`));
      root.append(a);
    });
    target.replaceChildren(root);
  }

  async function main() {
    const id = VT.lastSegment();
    let data;
    try { data = await api(`/api/runs/${encodeURIComponent(id)}`); }
    catch (err) { showError(document.getElementById("error"), err); return; }
    const r = data.run;
    document.title = `${r.display_name} · vertex-track`;
    document.getElementById("title").replaceChildren(`Pipeline run ${r.display_name} `, state(r.state));
    document.getElementById("summary").replaceChildren(kv([
      ["flow", r.flow_name], ["flow run id", r.flow_run_id], ["started", fmtTime(r.start_time)],
      ["ended", fmtTime(r.end_time)], ["duration", fmtDuration(r.duration_s)], ["executions", r.executions],
      ["parameters", el("code", {}, JSON.stringify(r.parameters))], ["resource", el("code", {}, r.name)],
      data.child_runs.length ? ["subflow runs", el("span", {}, data.child_runs.map(c => [link.run(c.resource_id, c.display_name), " "]))] : null,
      ["JSON", el("a", { href: `/api/runs/${encodeURIComponent(id)}` }, `/api/runs/${id}`)],
    ]));
    const legend = document.getElementById("gantt-legend");
    legend.replaceChildren(...["COMPLETE", "FAILED", "CACHED", "RUNNING", "CANCELLED"].map(s => el("span", {}, el("i", { style: `background:${STATE_COLORS[s]}` }), s)));
    if (data.timeline.length) gantt(document.getElementById("gantt"), data.timeline, r.end_time);
    else document.getElementById("gantt").replaceChildren(el("p", { class: "muted" }, "no executions recorded"));
    document.querySelector("#executions tbody").replaceChildren(...data.timeline.map(b => el("tr", {},
      el("td", {}, link.execution(b.resource_id, b.display_name || b.task_name)), el("td", {}, state(b.state)),
      el("td", {}, fmtTime(b.start_time)), el("td", { class: "num" }, fmtDuration(b.duration_s)),
      el("td", {}, link.lineage("execution", b.resource_id, "lineage", "both")))));
    document.querySelector("#artifacts tbody").replaceChildren(...data.artifacts.map(a => el("tr", {},
      el("td", {}, link.artifact(a.resource_id, a.display_name || a.resource_id)), el("td", {}, a.schema_title),
      el("td", { class: "mono" }, a.uri || ""), el("td", {}, link.lineage("artifact", a.resource_id, "lineage")))));
    document.getElementById("dag-legend").replaceChildren(VTGraph.legend());
    if (data.dag.nodes.length) {
      const cy = VTGraph.create(document.getElementById("dag"), data.dag);
      cy.on("tap", "node", ev => {
        const n = ev.target.data();
        if (n.resource_id) location.href = `/${n.kind === "artifact" ? "artifacts" : "executions"}/${encodeURIComponent(n.resource_id)}`;
      });
      window.vtDag = cy;
    }
  }
  document.addEventListener("DOMContentLoaded", main);
})();
