"use strict";
(() => {
  const { el, api, showError, fmtTime, fmtDuration, fmtValue, state, link, kv } = VT;
  const params = new URLSearchParams(location.search);
  const startKind = params.has("artifact") ? "artifact" : params.has("execution") ? "execution" : null;
  const startId = startKind ? params.get(startKind) : null;
  // The merged LineageSubgraph JSON of everything on screen (the JSON export).
  const merged = { artifacts: new Map(), executions: new Map(), events: new Map() };
  let cy = null;

  function mergeSubgraph(sub) {
    sub.artifacts.forEach(a => merged.artifacts.set(a.name, a));
    sub.executions.forEach(e => merged.executions.set(e.name, e));
    sub.events.forEach(ev => merged.events.set(`${ev.artifact}|${ev.execution}|${ev.type}`, ev));
  }

  function counts() {
    if (!cy) return;
    document.getElementById("counts").textContent = `${cy.nodes().length} nodes, ${cy.edges().length} edges`;
  }

  async function fetchLineage(kind, id, direction, depth) {
    const q = new URLSearchParams({ [kind]: id, direction });
    if (depth !== "" && depth !== null && depth !== undefined) q.set("depth", String(depth));
    if (params.get("collapse_over")) q.set("collapse_over", params.get("collapse_over"));
    return api(`/api/lineage?${q}`);
  }

  async function load() {
    const errorBox = document.getElementById("error");
    errorBox.replaceChildren();
    if (!startId) { chooser(); return; }
    const direction = document.getElementById("direction").value;
    const depth = document.getElementById("depth").value;
    let data;
    try { data = await fetchLineage(startKind, startId, direction, depth); }
    catch (err) { showError(errorBox, err); return; }
    merged.artifacts.clear(); merged.executions.clear(); merged.events.clear();
    mergeSubgraph(data.subgraph);
    const s = data.start;
    document.getElementById("title").replaceChildren(`Lineage of ${s.display_name || s.resource_id} `,
      el("span", { class: "muted", style: "font-size:14px;font-weight:normal" }, `${s.kind} · ${s.schema_title} · ${direction}`));
    if (cy) cy.destroy();
    cy = VTGraph.create(document.getElementById("graph"), data.graph, s.name);
    window.vtLineage = cy;
    // Laid out and drawn: what benchmarks/bench_ui.py times from navigation start.
    requestAnimationFrame(() => performance.mark("vt-lineage-drawn"));
    cy.on("tap", "node", ev => select(ev.target));
    if (data.graph.collapsed) errorBox.replaceChildren(el("p", { class: "muted" }, "Large graph: repeated (mapped) executions of one task are shown as one group node with a count."));
    counts();
  }

  async function chooser() {
    const panel = document.getElementById("panel");
    document.getElementById("title").textContent = "Lineage: pick a start node";
    try {
      const models = await api(`/api/artifacts?page_size=20&filter=${encodeURIComponent('schema_title = "system.Model"')}`);
      const recent = models.items.length ? models.items : (await api("/api/artifacts?page_size=20")).items;
      panel.replaceChildren(el("h3", {}, "Recent models"), el("ul", {}, recent.map(a => el("li", {},
        link.lineage("artifact", a.resource_id, a.display_name || a.resource_id)))));
    } catch (err) { showError(panel, err); }
  }

  async function expand(node, direction) {
    const d = node.data();
    const kind = d.kind === "artifact" ? "artifact" : "execution";
    let data;
    try { data = await fetchLineage(kind, d.resource_id, direction, 1); }
    catch (err) { showError(document.getElementById("error"), err); return; }
    mergeSubgraph(data.subgraph);
    const fresh = VTGraph.toElements(data.graph).filter(e => cy.getElementById(e.data.id).empty());
    const nodes = fresh.filter(e => e.group === "nodes"), edges = fresh.filter(e => e.group === "edges");
    cy.add(nodes);
    cy.add(edges.filter(e => !cy.getElementById(e.data.source).empty() && !cy.getElementById(e.data.target).empty()));
    VTGraph.layout(cy, false);
    counts();
    const info = document.getElementById("expand-info");
    if (info) info.textContent = `${direction}: ${nodes.length} new node(s)`;
  }

  async function select(node) {
    const d = node.data();
    const panel = document.getElementById("panel");
    const header = [el("h3", {}, d.label), el("p", {}, d.kind.replace("_", " "), " · ", d.schema_title, " ", d.state ? state(d.state) : "")];
    if (!d.resource_id) {  // a group of mapped executions or their artifacts
      panel.replaceChildren(...header, kv([["count", d.count], d.states ? ["states", JSON.stringify(d.states)] : null]),
        el("p", { class: "muted" }, "First members:"),
        el("ul", {}, (d.members || []).map(m => el("li", {}, d.kind === "execution_group" ? link.execution(m) : link.artifact(m)))));
      return;
    }
    const isArtifact = d.kind === "artifact";
    const actions = el("div", { class: "actions" },
      el("button", { type: "button", id: "expand-up", onclick: () => expand(node, "upstream") }, "Expand upstream"),
      el("button", { type: "button", id: "expand-down", onclick: () => expand(node, "downstream") }, "Expand downstream"),
      el("a", { href: `/${isArtifact ? "artifacts" : "executions"}/${encodeURIComponent(d.resource_id)}` }, "open page"),
      link.lineage(d.kind, d.resource_id, "centre here"));
    panel.replaceChildren(...header, actions, el("div", { class: "muted", id: "expand-info" }), el("div", { id: "details" }, "loading…"));
    const details = document.getElementById("details");
    try {
      if (isArtifact) {
        const a = await api(`/api/artifacts/${encodeURIComponent(d.resource_id)}`);
        const art = a.artifact;
        details.replaceChildren(kv([
          ["id", el("code", {}, art.resource_id)], ["display name", art.display_name], ["schema", art.schema_title],
          ["state", art.state], ["uri", el("code", {}, art.uri || "(inline)")], ["digest", a.digest || ""],
          ["created", fmtTime(art.create_time)],
          ["producers", el("span", {}, a.producers.map(e => [link.execution(e.resource_id, e.display_name), " "]))],
          ["consumers", el("span", {}, a.consumers.map(e => [link.execution(e.resource_id, e.display_name), " "]))],
        ]), el("h4", {}, "Preview"), previewNode(a.preview),
        el("h4", {}, "Metadata"), el("pre", { class: "value" }, JSON.stringify(art.metadata, null, 2)));
      } else {
        const x = await api(`/api/executions/${encodeURIComponent(d.resource_id)}`);
        const e = x.execution;
        details.replaceChildren(kv([
          ["id", el("code", {}, e.resource_id)], ["display name", e.display_name], ["task", x.timing.task_name],
          ["schema", e.schema_title], ["state", e.state], ["started", fmtTime(x.timing.start_time)],
          ["duration", fmtDuration(x.timing.duration_s)], x.run ? ["pipeline run", link.run(x.run)] : null,
          ["inputs", el("span", {}, x.inputs.map(a => [link.artifact(a.resource_id, `${a.labels.join(",") || a.display_name}`), " "]))],
          ["outputs", el("span", {}, x.outputs.map(a => [link.artifact(a.resource_id, `${a.labels.join(",") || a.display_name}`), " "]))],
          x.timing.error_message ? ["error", x.timing.error_message] : null,
        ]), el("h4", {}, "Metadata"), el("pre", { class: "value" }, JSON.stringify(e.metadata, null, 2)));
      }
    } catch (err) { showError(details, err); }
  }

  function previewNode(p) {
    if (!p) return el("p", { class: "muted" }, "none");
    if (p.kind === "value") return el("pre", { class: "value" }, p.truncated ? p.text + "…" : JSON.stringify(p.value, null, 2));
    if (p.kind === "table") return el("div", {}, el("p", { class: "muted" }, `${p.shape.join(" × ")} table`),
      el("div", { style: "overflow:auto" }, el("table", {}, el("thead", {}, el("tr", {}, p.columns.map(c => el("th", {}, c)))),
        el("tbody", {}, p.rows.map(r => el("tr", {}, r.map(v => el("td", {}, fmtValue(v)))))))));
    if (p.kind === "array") return el("p", {}, `array ${p.shape.join(" × ")} ${p.dtype}: `, el("code", {}, p.values.map(fmtValue).join(", ") + (p.size > p.values.length ? ", …" : "")));
    if (p.kind === "object") return el("pre", { class: "value" }, `${p.type}\n${p.repr}`);
    return el("p", { class: "muted" }, p.reason || p.message || p.kind);
  }
  window.VTPreview = previewNode;

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("direction").value = params.get("direction") || "upstream";
    document.getElementById("depth").value = params.get("depth") || "";
    document.getElementById("legend").replaceChildren(VTGraph.legend());
    document.getElementById("controls").addEventListener("submit", ev => {
      ev.preventDefault();
      params.set("direction", document.getElementById("direction").value);
      const depth = document.getElementById("depth").value;
      if (depth) params.set("depth", depth); else params.delete("depth");
      history.replaceState(null, "", `${location.pathname}?${params}`);
      load();
    });
    document.getElementById("fit").addEventListener("click", () => cy && cy.fit(undefined, 20));
    const name = () => `lineage-${startId || "graph"}`;
    document.getElementById("export-png").addEventListener("click", () => cy &&
      VTGraph.download(`${name()}.png`, cy.png({ output: "blob", full: true, scale: 2, bg: "#ffffff" })));
    document.getElementById("export-svg").addEventListener("click", () => cy &&
      VTGraph.download(`${name()}.svg`, new Blob([VTGraph.toSvg(cy)], { type: "image/svg+xml" })));
    document.getElementById("export-json").addEventListener("click", () => VTGraph.download(`${name()}.json`,
      new Blob([JSON.stringify({ artifacts: [...merged.artifacts.values()], executions: [...merged.executions.values()],
        events: [...merged.events.values()] }, null, 2)], { type: "application/json" })));
    load();
  });
})();
