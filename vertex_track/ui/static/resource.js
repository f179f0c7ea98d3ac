"use strict";
(() => {
  const { el, api, showError, fmtTime, fmtDuration, fmtValue, state, link, kv } = VT;
  const kind = location.pathname.startsWith("/executions") ? "executions" : "artifacts";
  const id = VT.lastSegment();

  function preview(p) {
    if (p.kind === "value") return el("pre", { class: "value", id: "preview" }, p.truncated ? p.text + "…" : JSON.stringify(p.value, null, 2));
    if (p.kind === "table") return el("div", { id: "preview" }, el("p", { class: "muted" }, `table ${p.shape.join(" × ")}; first rows:`),
      el("div", { style: "overflow:auto" }, el("table", {}, el("thead", {}, el("tr", {}, p.columns.map(c => el("th", {}, c)))),
        el("tbody", {}, p.rows.map(r => el("tr", {}, r.map(v => el("td", {}, fmtValue(v)))))))));
    if (p.kind === "array") return el("p", { id: "preview" }, `array ${p.shape.join(" × ")} of ${p.dtype}: `,
      el("code", {}, p.values.map(fmtValue).join(", ") + (p.size > p.values.length ? ", …" : "")));
    if (p.kind === "object") return el("pre", { class: "value", id: "preview" }, `${p.type}\n${p.repr}`);
    const extra = ["rows", "shape", "columns", "dtypes"].filter(k => p[k] !== undefined).map(k => [k, p[k]]);
    return el("div", { id: "preview" }, el("p", { class: "muted" }, p.reason || p.message || "no preview"), extra.length ? kv(extra) : "");
  }

  const execLinks = list => el("ul", {}, list.map(e => el("li", {}, link.execution(e.resource_id, e.display_name || e.resource_id), " ",
    state(e.state), e.run ? [" in run ", link.run(e.run)] : "")));
  const artLinks = list => el("ul", {}, list.map(a => el("li", {}, a.labels && a.labels.length ? el("code", {}, a.labels.join(", ")) : "", " ",
    link.artifact(a.resource_id, a.display_name || a.resource_id), ` (${a.schema_title}) `, link.lineage("artifact", a.resource_id))));

  async function main() {
    let data;
    try { data = await api(`/api/${kind}/${encodeURIComponent(id)}`); }
    catch (err) { showError(document.getElementById("error"), err); return; }
    const body = document.getElementById("body");
    if (kind === "artifacts") {
      const a = data.artifact;
      document.title = `${a.display_name || a.resource_id} · vertex-track`;
      document.getElementById("title").replaceChildren(`Artifact ${a.display_name || a.resource_id} `, state(a.state));
      body.replaceChildren(kv([
        ["id", el("code", {}, a.resource_id)], ["schema", `${a.schema_title} ${a.schema_version}`], ["uri", el("code", {}, a.uri || "(value kept inline)")],
        ["digest", data.digest || ""], ["created", fmtTime(a.create_time)], ["description", a.description],
        ["lineage", el("span", {}, link.lineage("artifact", a.resource_id, "upstream"), " · ", link.lineage("artifact", a.resource_id, "downstream", "downstream"))],
        data.downloadable ? ["download", el("a", { href: `/api/artifacts/${encodeURIComponent(a.resource_id)}/download` }, "download")] : null,
        ["JSON", el("a", { href: `/api/artifacts/${encodeURIComponent(a.resource_id)}` }, "api")],
      ]), el("h2", {}, "Preview"), preview(data.preview),
      el("h2", {}, "Produced by"), data.producers.length ? execLinks(data.producers) : el("p", { class: "muted" }, "no recorded producer"),
      el("h2", {}, "Consumed by"), data.consumers.length ? execLinks(data.consumers) : el("p", { class: "muted" }, "no recorded consumer"),
      el("h2", {}, "Metadata"), el("pre", { class: "value" }, JSON.stringify(a.metadata, null, 2)),
      Object.keys(a.labels || {}).length ? [el("h2", {}, "Labels"), el("pre", { class: "value" }, JSON.stringify(a.labels, null, 2))] : "");
    } else {
      const e = data.execution, t = data.timing;
      document.title = `${e.display_name || e.resource_id} · vertex-track`;
      document.getElementById("title").replaceChildren(`Execution ${e.display_name || e.resource_id} `, state(e.state));
      body.replaceChildren(kv([
        ["id", el("code", {}, e.resource_id)], ["task", t.task_name], ["schema", e.schema_title],
        ["started", fmtTime(t.start_time)], ["ended", fmtTime(t.end_time)], ["duration", fmtDuration(t.duration_s)],
        data.run ? ["pipeline run", link.run(data.run)] : null, t.error_message ? ["error", t.error_message] : null,
        ["lineage", link.lineage("execution", e.resource_id, "lineage", "both")],
        ["JSON", el("a", { href: `/api/executions/${encodeURIComponent(e.resource_id)}` }, "api")],
      ]), el("h2", {}, "Inputs"), data.inputs.length ? artLinks(data.inputs) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Outputs"), data.outputs.length ? artLinks(data.outputs) : el("p", { class: "muted" }, "none"),
      el("h2", {}, "Metadata"), el("pre", { class: "value" }, JSON.stringify(e.metadata, null, 2)));
    }
  }
  document.addEventListener("DOMContentLoaded", main);
})();
