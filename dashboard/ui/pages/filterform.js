// The filter form of the explorer and the live tail: level chips, search, request id, context
// paths, route and (explorer only) a time range. Submitting it writes the filters into the URL,
// which draws the page again: the URL is the one place a view's state lives.

import { session } from "../api.js";
import { h, field } from "../dom.js";
import { LEVELS, RANGES, writeFilters, hashOf, bound } from "../filters.js";

/** `f`: the filters (`readFilters`); `withTime`: the time range and context paths (explorer). */
export function filterForm(page, f, { withTime = true, extra = [] } = {}) {
  const me = session().me;
  const levels = new Set(f.levels);
  const chips = LEVELS.map((l) => {
    const b = h("button", { type: "button", class: `chip chip-${l.toLowerCase()}`, "aria-pressed": String(levels.has(l)) }, l);
    b.addEventListener("click", () => {
      const on = b.getAttribute("aria-pressed") !== "true";
      b.setAttribute("aria-pressed", String(on));
      on ? levels.add(l) : levels.delete(l);
    });
    return b;
  });
  const search = h("input", {
    type: "search", name: "search", value: f.search, disabled: !me.search,
    placeholder: me.search ? "words, \"a phrase\", pre*" : "search is off (SEARCH_INDEX=none)",
  });
  const requestId = h("input", { type: "text", name: "request_id", value: f.request_id, spellcheck: "false" });
  const route = me.routes.length
    ? h("select", { name: "route" }, h("option", { value: "" }, "all entries (firehose)"),
      me.routes.map((r) => h("option", { value: r, selected: r === f.route }, r)))
    : null;

  const range = h("select", { name: "range" }, RANGES.map(([r, label]) => h("option", { value: r, selected: r === f.range }, label)));
  const since = h("input", { type: "datetime-local", name: "since", step: "1", value: localInput(f.since) });
  const until = h("input", { type: "datetime-local", name: "until", step: "1", value: localInput(f.until) });
  const custom = h("div", { class: "row", hidden: f.range !== "custom" }, field("From", since), field("Until", until));
  range.addEventListener("change", () => { custom.hidden = range.value !== "custom"; });

  const contextRows = h("div", { class: "context-rows" });
  const addContext = (path = "", value = "") => {
    const p = h("input", { type: "text", name: "context-path", value: path, placeholder: "user.id", spellcheck: "false" });
    const v = h("input", { type: "text", name: "context-value", value, placeholder: "42" });
    const row = h("div", { class: "row ctx" }, field("context.", p), field("equals", v),
      h("button", { type: "button", class: "link", onclick: () => row.remove() }, "Remove"));
    contextRows.append(row);
    return p;
  };
  for (const [p, v] of f.context) addContext(p, v);

  const form = h("form", { class: "filters card", role: "search", "aria-label": "Filters" },
    withTime ? h("div", { class: "row" }, field("Time", range), custom) : null,
    h("fieldset", { class: "chips" }, h("legend", {}, "Levels (none: all)"), chips),
    h("div", { class: "row" }, field("Search", search), field("Request id", requestId), route ? field("Route", route) : null, extra),
    withTime ? h("div", {}, contextRows,
      h("button", { type: "button", class: "link", onclick: () => addContext().focus() }, "Add a context filter")) : null,
    h("div", { class: "row" }, h("button", { type: "submit" }, "Apply"),
      h("a", { href: hashOf(page, new URLSearchParams(f.app ? { app: f.app } : {})) }, "Clear filters")));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = {
      app: f.app,
      range: withTime ? range.value : f.range,
      since: since.value ? String(Date.parse(since.value)) : "",
      until: until.value ? String(Date.parse(until.value)) : "",
      levels: LEVELS.filter((l) => levels.has(l)),
      search: search.value.trim(),
      request_id: requestId.value.trim(),
      context: [...contextRows.querySelectorAll(".ctx")].map((r) => [
        r.querySelector("[name=context-path]").value.trim(), r.querySelector("[name=context-value]").value,
      ]).filter(([p]) => p),
      route: route?.value ?? "",
    };
    const params = writeFilters(next);
    for (const el of extra) {
      const c = el.querySelector?.("select,input") ?? el;
      if (c.name && c.value) params.set(c.name, c.value);
    }
    location.hash = hashOf(page, params);
  });
  return form;
}

/** A bound (ms or ISO) as a `datetime-local` value in the reader's time zone. */
function localInput(text) {
  const t = bound(text);
  if (t === null) return "";
  const d = new Date(t - new Date(t).getTimezoneOffset() * 60e3);
  return d.toISOString().slice(0, 19);
}
