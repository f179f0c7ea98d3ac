"use strict";
(() => {
  const { el, api, showError, fmtTime, fmtDuration, fmtValue, state, link } = VT;
  const params = new URLSearchParams(location.search);
  const tokens = [null];  // page tokens of the pages seen so far; the last is the current one
  let next = null;

  async function load() {
    const q = new URLSearchParams({ page_size: "50" });
    const filter = params.get("filter");
    if (filter) q.set("filter", filter);
    const token = tokens[tokens.length - 1];
    if (token) q.set("page_token", token);
    const errorBox = document.getElementById("error");
    errorBox.replaceChildren();
    const body = document.querySelector("#runs tbody");
    try {
      const data = await api(`/api/runs?${q}`);
      body.replaceChildren(...data.items.map(r => el("tr", {},
        el("td", {}, link.run(r.resource_id, r.display_name || r.resource_id)),
        el("td", {}, r.flow_name || ""),
        el("td", {}, state(r.state)),
        el("td", {}, fmtTime(r.start_time)),
        el("td", { class: "num" }, fmtDuration(r.duration_s)),
        el("td", { class: "num" }, r.executions === null ? "" : `${r.executions}${r.executions_capped ? "+" : ""}`),
        el("td", { class: "mono" }, Object.entries(r.parameters || {}).map(([k, v]) => `${k}=${fmtValue(v)}`).join(" ")))));
      if (!data.items.length) body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "muted" }, "no pipeline runs")));
      next = data.next_page_token;
      document.getElementById("next").disabled = !next;
      document.getElementById("prev").disabled = tokens.length < 2;
      document.getElementById("page-info").textContent = `page ${tokens.length}`;
    } catch (err) {
      body.replaceChildren();
      showError(errorBox, err);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("filter").value = params.get("filter") || "";
    document.getElementById("filter-form").addEventListener("submit", ev => {
      ev.preventDefault();
      const value = document.getElementById("filter").value.trim();
      if (value) params.set("filter", value); else params.delete("filter");
      history.replaceState(null, "", `${location.pathname}${params.toString() ? "?" + params : ""}`);
      tokens.length = 1;
      load();
    });
    document.getElementById("next").addEventListener("click", () => { tokens.push(next); load(); });
    document.getElementById("prev").addEventListener("click", () => { tokens.pop(); load(); });
    load();
  });
})();
