"use strict";
(() => {
  const { el, api, showError, fmtTime, fmtDuration, state, link } = VT;
  const kind = location.pathname.startsWith("/executions") ? "executions" : "artifacts";
  const params = new URLSearchParams(location.search);
  const tokens = [null];
  let next = null;
  const HEAD = kind === "artifacts" ? ["artifact", "schema", "state", "created", "uri", ""] : ["execution", "task", "schema", "state", "started", "duration", ""];

  function row(r) {
    if (kind === "artifacts") return el("tr", {}, el("td", {}, link.artifact(r.resource_id, r.display_name || r.resource_id)),
      el("td", {}, r.schema_title), el("td", {}, state(r.state)), el("td", {}, fmtTime(r.create_time)),
      el("td", { class: "mono" }, r.uri || ""), el("td", {}, link.lineage("artifact", r.resource_id)));
    return el("tr", {}, el("td", {}, link.execution(r.resource_id, r.display_name || r.resource_id)), el("td", {}, r.task_name || ""),
      el("td", {}, r.schema_title), el("td", {}, state(r.state)), el("td", {}, fmtTime(r.start_time)),
      el("td", { class: "num" }, fmtDuration(r.duration_s)), el("td", {}, link.lineage("execution", r.resource_id, "lineage", "both")));
  }

  async function load() {
    const q = new URLSearchParams({ page_size: "50" });
    if (params.get("filter")) q.set("filter", params.get("filter"));
    if (tokens[tokens.length - 1]) q.set("page_token", tokens[tokens.length - 1]);
    const errorBox = document.getElementById("error");
    errorBox.replaceChildren();
    const body = document.querySelector("#items tbody");
    try {
      const data = await api(`/api/${kind}?${q}`);
      body.replaceChildren(...data.items.map(row));
      if (!data.items.length) body.replaceChildren(el("tr", {}, el("td", { colspan: HEAD.length, class: "muted" }, `no ${kind}`)));
      next = data.next_page_token;
      document.getElementById("next").disabled = !next;
      document.getElementById("prev").disabled = tokens.length < 2;
      document.getElementById("page-info").textContent = `page ${tokens.length}`;
    } catch (err) { body.replaceChildren(); showError(errorBox, err); }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const title = kind[0].toUpperCase() + kind.slice(1);
    document.title = `${title} · vertex-track`;
    document.getElementById("title").textContent = title;
    document.querySelector("#items thead").replaceChildren(el("tr", {}, HEAD.map(h => el("th", {}, h))));
    document.getElementById("filter").value = params.get("filter") || "";
    document.getElementById("filter-form").addEventListener("submit", ev => {
      ev.preventDefault();
      const v = document.getElementById("filter").value.trim();
      if (v) params.set("filter", v); else params.delete("filter");
      history.replaceState(null, "", `${location.pathname}${params.toString() ? "?" + params : ""}`);
      tokens.length = 1;
      load();
    });
    document.getElementById("next").addEventListener("click", () => { tokens.push(next); load(); });
    document.getElementById("prev").addEventListener("click", () => { tokens.pop(); load(); });
    load();
  });
})();
