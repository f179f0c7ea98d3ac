// Shared helpers of every page: the header, JSON fetches, formatting, links.
"use strict";

const VT = (() => {
  const NAV = [["/runs", "Runs"], ["/experiments", "Experiments"], ["/artifacts", "Artifacts"],
               ["/executions", "Executions"], ["/lineage", "Lineage"]];

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function header() {
    const here = location.pathname;
    const nav = el("header", { class: "top" }, el("a", { class: "brand", href: "/runs" }, "vertex-track"),
      NAV.map(([href, label]) => el("a", { href, class: here.startsWith(href) || (href === "/runs" && here === "/") ? "active" : null }, label)));
    document.body.prepend(nav);
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status; this.body = body || {};
    }
  }

  async function api(path) {
    const response = await fetch(path, { headers: { Accept: "application/json" } });
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  function showError(target, err) {
    const box = el("div", { class: "error", role: "alert" },
      err.status ? `${err.status}: ${err.message}` : String(err.message || err));
    target.replaceChildren(box);
    return box;
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toISOString().replace("T", " ").slice(0, 19) + "Z";
  }

  function fmtDuration(s) {
    if (s === null || s === undefined || s === "") return "";
    s = Number(s);
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
    const m = Math.floor(s / 60), rest = Math.round(s % 60);
    if (m < 60) return `${m} min ${rest} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  }

  function fmtValue(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(+v.toPrecision(6));
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }

  function state(s) { return el("span", { class: `state state-${s || "NEW"}` }, s || "?"); }

  const link = {
    run: (id, text) => el("a", { href: `/runs/${encodeURIComponent(id)}` }, text || id),
    artifact: (id, text) => el("a", { href: `/artifacts/${encodeURIComponent(id)}` }, text || id),
    execution: (id, text) => el("a", { href: `/executions/${encodeURIComponent(id)}` }, text || id),
    lineage: (kind, id, text, direction) => el("a", {
      href: `/lineage?${kind}=${encodeURIComponent(id)}${direction ? `&direction=${direction}` : ""}` }, text || "lineage"),
    experiment: (name, text) => el("a", { href: `/experiments/${encodeURIComponent(name)}` }, text || name),
  };

  function kv(pairs) {
    return el("dl", { class: "kv" }, pairs.filter(p => p).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v instanceof Node ? v : fmtValue(v))]));
  }

  function lastSegment() { return decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || ""); }

  const STATE_COLORS = { COMPLETE: "#2f9e44", FAILED: "#e03131", CACHED: "#7048e8", RUNNING: "#f08c00",
    CANCELLED: "#868e96", NEW: "#adb5bd", LIVE: "#1c7ed6", PENDING: "#f59f00", MIXED: "#495057" };

  // A filtered list paged by page tokens (the runs, artifacts and executions pages):
  // the filter box, prev/next and the table body of `selector`, filled from `path`.
  function pagedList({ path, selector, row, empty, columns }) {
    const params = new URLSearchParams(location.search);
    const tokens = [null];  // page tokens of the pages seen so far; the last is the current one
    let next = null;

    async function load() {
      const q = new URLSearchParams({ page_size: "50" });
      if (params.get("filter")) q.set("filter", params.get("filter"));
      if (tokens[tokens.length - 1]) q.set("page_token", tokens[tokens.length - 1]);
      const errorBox = document.getElementById("error");
      errorBox.replaceChildren();
      const body = document.querySelector(`${selector} tbody`);
      try {
        const data = await api(`${path}?${q}`);
        body.replaceChildren(...data.items.map(row));
        if (!data.items.length) body.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty)));
        next = data.next_page_token;
        document.getElementById("next").disabled = !next;
        document.getElementById("prev").disabled = tokens.length < 2;
        document.getElementById("page-info").textContent = `page ${tokens.length}`;
      } catch (err) { body.replaceChildren(); showError(errorBox, err); }
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
  }

  document.addEventListener("DOMContentLoaded", header);
  return { el, api, showError, fmtTime, fmtDuration, fmtValue, state, link, kv, lastSegment, pagedList, STATE_COLORS, ApiError };
})();
