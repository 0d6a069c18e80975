// What several pages share: the app picker and the heading row above a page.

import { apps } from "../api.js";
import { h, field } from "../dom.js";
import { hashOf } from "../filters.js";

/** The app a page shows: the one its URL names, else the first the session may read. Returns
 *  `{ app, picker }`: the picker is a select (admin) that moves the page to another app. */
export async function pickApp(route, page) {
  const list = await apps();
  const named = route.params.get("app");
  const app = list.find((a) => a.app_id === named)?.app_id ?? list[0]?.app_id ?? "";
  if (list.length <= 1) {
    return { app, list, picker: h("p", { class: "app-name" }, app ? `App: ${app}` : "No apps yet.") };
  }
  const select = h("select", {
    name: "app",
    onchange: () => {
      const p = new URLSearchParams(route.params);
      p.set("app", select.value);
      p.delete("cursor");
      location.hash = hashOf(page, p, route.arg);
    },
  }, list.map((a) => h("option", { value: a.app_id, selected: a.app_id === app }, a.app_id)));
  return { app, list, picker: field("App", select) };
}

/** A page's heading with controls beside it. */
export const heading = (title, ...controls) =>
  h("div", { class: "page-head" }, h("h1", {}, title), h("div", { class: "controls" }, controls));
