"use strict";
(() => {
  const { el, fmtTime, fmtDuration, fmtValue, state, link, pagedList } = VT;

  pagedList({
    path: "/api/runs", selector: "#runs", columns: 7, empty: "no pipeline runs",
    row: r => el("tr", {},
      el("td", {}, link.run(r.resource_id, r.display_name || r.resource_id)),
      el("td", {}, r.flow_name || ""),
      el("td", {}, state(r.state)),
      el("td", {}, fmtTime(r.start_time)),
      el("td", { class: "num" }, fmtDuration(r.duration_s)),
      el("td", { class: "num" }, r.executions === null ? "" : `${r.executions}${r.executions_capped ? "+" : ""}`),
      el("td", { class: "mono" }, Object.entries(r.parameters || {}).map(([k, v]) => `${k}=${fmtValue(v)}`).join(" "))),
  });
})();
