// Cytoscape setup shared by the run DAG and the lineage page: styles, layout, exports.
"use strict";

const VTGraph = (() => {
  if (window.cytoscape && window.cytoscapeDagre) {
    try { cytoscape.use(cytoscapeDagre); } catch (e) { /* already registered */ }
  }
  const SCHEMA_COLORS = { "system.Dataset": "#1c7ed6", "system.Model": "#ae3ec9", "system.Metrics": "#37b24d",
    "system.ClassificationMetrics": "#0ca678", "system.Artifact": "#868e96" };

  function artifactColor(schema) { return SCHEMA_COLORS[schema] || "#5c7cfa"; }

  function toElements(graph) {
    const nodes = graph.nodes.map(n => ({ group: "nodes", data: { ...n,
      color: n.kind.startsWith("execution") ? (VT.STATE_COLORS[n.state] || "#495057") : artifactColor(n.schema_title) } }));
    const edges = graph.edges.map(e => ({ group: "edges", data: { ...e, label: e.count > 1 ? `${e.label} ×${e.count}` : e.label } }));
    return [...nodes, ...edges];
  }

  const STYLE = [
    { selector: "node", style: { label: "data(label)", "font-size": 11, "text-valign": "center", "text-halign": "center",
      "text-wrap": "ellipsis", "text-max-width": 130, width: 150, height: 34, color: "#fff", "background-color": "data(color)",
      "border-width": 1, "border-color": "#343a40", "text-outline-width": 0 } },
    { selector: 'node[kind = "artifact"]', style: { shape: "round-rectangle" } },
    { selector: 'node[kind = "execution"]', style: { shape: "rectangle" } },
    { selector: 'node[kind = "execution_group"], node[kind = "artifact_group"]', style: { "border-width": 4, "border-style": "double", height: 40 } },
    { selector: 'node[kind = "artifact_group"]', style: { shape: "round-rectangle" } },
    { selector: "node.start", style: { "border-width": 4, "border-color": "#fab005" } },
    { selector: "node:selected", style: { "border-width": 4, "border-color": "#f03e3e" } },
    { selector: "edge", style: { width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle", "line-color": "#868e96",
      "target-arrow-color": "#868e96", label: "data(label)", "font-size": 9, color: "#495057", "text-background-color": "#fff",
      "text-background-opacity": 0.8, "text-rotation": "autorotate" } },
  ];

  function layout(cy, animate) {
    const options = { name: "dagre", rankDir: "LR", nodeSep: 18, rankSep: 70, animate: !!animate, fit: true, padding: 20 };
    try { cy.layout(options).run(); } catch (e) { cy.layout({ name: "breadthfirst", directed: true, fit: true }).run(); }
  }

  function create(container, graph, startId) {
    const cy = cytoscape({ container, elements: toElements(graph), style: STYLE,
      minZoom: 0.05, maxZoom: 4, boxSelectionEnabled: false });
    if (startId) cy.getElementById(startId).addClass("start");
    layout(cy, false);
    return cy;
  }

  function esc(text) {
    return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  // SVG export of what is drawn: boxes, labels and arrows at cytoscape's positions.
  function toSvg(cy) {
    const box = cy.elements().boundingBox({ includeLabels: true });
    const pad = 20, w = Math.ceil(box.w + 2 * pad), h = Math.ceil(box.h + 2 * pad);
    const x0 = box.x1 - pad, y0 = box.y1 - pad;
    const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">`,
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#868e96"/></marker></defs>',
      `<rect width="${w}" height="${h}" fill="#ffffff"/>`];
    cy.edges().forEach(e => {
      const s = e.sourceEndpoint(), t = e.targetEndpoint();
      parts.push(`<line x1="${s.x - x0}" y1="${s.y - y0}" x2="${t.x - x0}" y2="${t.y - y0}" stroke="#868e96" stroke-width="1.5" marker-end="url(#arrow)"/>`);
      const label = e.data("label");
      if (label) parts.push(`<text x="${(s.x + t.x) / 2 - x0}" y="${(s.y + t.y) / 2 - y0 - 3}" font-size="9" fill="#495057" text-anchor="middle">${esc(label)}</text>`);
    });
    cy.nodes().forEach(n => {
      const p = n.position(), nw = n.width(), nh = n.height();
      const rx = n.data("kind").startsWith("artifact") ? 8 : 0;
      const stroke = n.hasClass("start") ? "#fab005" : "#343a40";
      parts.push(`<g><title>${esc(n.id())}</title><rect x="${p.x - nw / 2 - x0}" y="${p.y - nh / 2 - y0}" width="${nw}" height="${nh}" rx="${rx}" fill="${n.data("color")}" stroke="${stroke}" stroke-width="${n.hasClass("start") ? 3 : 1}"/>`);
      const label = String(n.data("label") || "");
      parts.push(`<text x="${p.x - x0}" y="${p.y - y0 + 4}" font-size="11" fill="#ffffff" text-anchor="middle">${esc(label.length > 24 ? label.slice(0, 23) + "…" : label)}</text></g>`);
    });
    parts.push("</svg>");
    return parts.join("\n");
  }

  function download(filename, blob) {
    const a = VT.el("a", { href: URL.createObjectURL(blob), download: filename });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  function legend() {
    const item = (color, text) => VT.el("span", {}, VT.el("i", { style: `background:${color}` }), text);
    return VT.el("div", { class: "legend" },
      Object.entries(SCHEMA_COLORS).map(([k, v]) => item(v, k.replace("system.", ""))),
      ["COMPLETE", "FAILED", "CACHED", "RUNNING"].map(s => item(VT.STATE_COLORS[s], `execution ${s}`)));
  }

  return { create, toElements, layout, toSvg, download, legend, artifactColor };
})();
