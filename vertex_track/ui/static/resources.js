"use strict";
(() => {
  const { el, fmtTime, fmtDuration, state, link, pagedList } = VT;
  const kind = location.pathname.startsWith("/executions") ? "executions" : "artifacts";
  const HEAD = kind === "artifacts" ? ["artifact", "schema", "state", "created", "uri", ""] : ["execution", "task", "schema", "state", "started", "duration", ""];

  function row(r) {
    if (kind === "artifacts") return el("tr", {}, el("td", {}, link.artifact(r.resource_id, r.display_name || r.resource_id)),
      el("td", {}, r.schema_title), el("td", {}, state(r.state)), el("td", {}, fmtTime(r.create_time)),
      el("td", { class: "mono" }, r.uri || ""), el("td", {}, link.lineage("artifact", r.resource_id)));
    return el("tr", {}, el("td", {}, link.execution(r.resource_id, r.display_name || r.resource_id)), el("td", {}, r.task_name || ""),
      el("td", {}, r.schema_title), el("td", {}, state(r.state)), el("td", {}, fmtTime(r.start_time)),
      el("td", { class: "num" }, fmtDuration(r.duration_s)), el("td", {}, link.lineage("execution", r.resource_id, "lineage", "both")));
  }

  document.addEventListener("DOMContentLoaded", () => {  // registered first: runs before the list loads
    const title = kind[0].toUpperCase() + kind.slice(1);
    document.title = `${title} · vertex-track`;
    document.getElementById("title").textContent = title;
    document.querySelector("#items thead").replaceChildren(el("tr", {}, HEAD.map(h => el("th", {}, h))));
  });
  pagedList({ path: `/api/${kind}`, selector: "#items", row, empty: `no ${kind}`, columns: HEAD.length });
})();
