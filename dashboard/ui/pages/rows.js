// The table of log entries the explorer and the live tail share: a row per entry (time, level,
// message, request id, where it came from) that expands, by mouse or keyboard, into the whole
// entry as formatted JSON. The detail is built when opened, so a thousand rows cost a thousand
// short rows, not a thousand JSON trees.

import { h, time, level, json } from "../dom.js";
import { hashOf } from "../filters.js";

export function logTable(caption, app) {
  const tbody = h("tbody");
  const table = h("table", { class: "logs" },
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col", class: "t" }, "Time"),
      h("th", { scope: "col" }, "Level"),
      h("th", { scope: "col", class: "msg" }, "Message"),
      h("th", { scope: "col" }, "Request"),
      h("th", { scope: "col" }, "Source"))),
    tbody);
  return {
    table,
    tbody,
    /** Adds rows for `entries` at the end (or, with `prepend`, before the first row). */
    add(entries, { prepend = false, before = null } = {}) {
      const frag = document.createDocumentFragment();
      for (const e of entries) frag.append(entryRow(e, app));
      if (prepend) tbody.insertBefore(frag, before ?? tbody.firstChild);
      else tbody.append(frag);
    },
    get count() {
      return tbody.querySelectorAll("tr.entry").length;
    },
  };
}

function origin(e) {
  if (e.method || e.path) return `${e.method ?? ""} ${e.path ?? ""}${e.status ? ` → ${e.status}` : ""}`.trim();
  return e.source ?? "";
}

function entryRow(e, app) {
  const toggle = h("button", { type: "button", class: "expand", "aria-expanded": "false", title: "Show the whole entry" }, time(e.timestamp));
  const tr = h("tr", { class: `entry lvl-row-${String(e.level).toLowerCase()}`, dataset: { id: e.id } },
    h("td", { class: "t" }, toggle),
    h("td", {}, level(e.level)),
    h("td", { class: "msg" }, e.message),
    h("td", { class: "rid" }, e.request_id ?? ""),
    h("td", { class: "src" }, origin(e)));
  let detail = null;
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", String(!open));
    if (open) {
      detail?.remove();
      detail = null;
      return;
    }
    const link = hashOf("entry", new URLSearchParams({ app }), e.id);
    detail = h("tr", { class: "detail" }, h("td", { colspan: 5 },
      h("p", {}, h("a", { href: link }, "Link to this entry"), " · id ", h("code", {}, e.id)),
      json(e)));
    tr.after(detail);
  });
  return tr;
}
