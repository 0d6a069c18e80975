// Explorer: an app's entries, newest first, narrowed by the filter form, a page at a time on the
// API's keyset cursor ("Load more" continues strictly after the last row, so rows that arrive
// meanwhile never shift it); "Copy as curl" gives the same query for a shell.

import { call, appParams, session, url } from "../api.js";
import { h, field, fill, notice, number } from "../dom.js";
import { readFilters, queryParams, curlCommand } from "../filters.js";
import { pickApp, heading } from "./common.js";
import { filterForm } from "./filterform.js";
import { logTable } from "./rows.js";

const PAGE_SIZES = ["100", "500", "1000"];

export async function render(view, route) {
  const { app, picker } = await pickApp(route, "explorer");
  const f = { ...readFilters(route.params), app };
  const limit = PAGE_SIZES.includes(route.params.get("limit")) ? route.params.get("limit") : "100";
  const size = h("select", { name: "limit" }, PAGE_SIZES.map((n) => h("option", { value: n, selected: n === limit }, n)));
  view.append(heading("Explorer", picker), filterForm("explorer", f, { extra: [field("Rows per page", size)] }));
  if (!app) return;

  // Resolved once, so "Load more" and the curl continue the same window as the first page.
  const params = [...appParams(app), ...queryParams(f, Date.now()), ["limit", limit]];
  const status = h("p", { class: "muted", role: "status" });
  const copyNote = h("span", { role: "status" });
  const curl = curlCommand(url("logs").href, params, session().kind);
  const copy = h("button", {
    type: "button",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(curl);
        fill(copyNote, "Copied.");
      } catch {
        fill(copyNote, "Copy it from below.");
      }
    },
  }, "Copy as curl");
  const table = logTable(`Log entries of ${app}`, app);
  const more = h("button", { type: "button", hidden: true }, "Load more");
  const errors = h("div");
  view.append(
    h("div", { class: "actions" }, status, copy, copyNote),
    h("details", { class: "curl" }, h("summary", {}, "The query as curl"), h("pre", {}, curl)),
    errors,
    h("div", { class: "scroll" }, table.table),
    more);

  let cursor = null;
  const load = async () => {
    more.disabled = true;
    fill(status, "Loading…");
    try {
      const page = await call("GET", "logs", { params: cursor ? [...params, ["cursor", cursor]] : params });
      performance.mark("d1-logger:rows-start");
      table.add(page.logs);
      performance.measure("d1-logger:rows", "d1-logger:rows-start");
      cursor = page.next_cursor;
      more.hidden = !cursor;
      more.disabled = false;
      const n = table.count;
      fill(status, n ? `${number(n)} entries${cursor ? ", more below" : ""}` : "No entries match.");
    } catch (e) {
      notice(errors, `${e.code ?? ""} ${e.message}`.trim());
      fill(status, "");
      more.disabled = false;
    }
  };
  more.addEventListener("click", load);
  await load();
}
