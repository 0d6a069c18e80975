// Stats: an app's entries per day and level over 7, 30 or 90 days (`GET /stats/:app_id`, exact
// daily counts), as a stacked bar chart, with the numbers in a table under it.

import { call } from "../api.js";
import { h, number } from "../dom.js";
import { LEVELS, hashOf } from "../filters.js";
import { levelBars } from "../chart.js";
import { pickApp, heading } from "./common.js";

const SPANS = ["7", "30", "90"];

export async function render(view, route) {
  const { app, picker } = await pickApp(route, "stats");
  const days = SPANS.includes(route.params.get("days")) ? route.params.get("days") : "7";
  const spans = h("div", { class: "segmented", role: "group", "aria-label": "Days" },
    SPANS.map((d) => h("a", {
      href: hashOf("stats", new URLSearchParams({ app, days: d })),
      "aria-current": d === days ? "true" : null,
    }, `${d} days`)));
  view.append(heading("Stats", picker, spans));
  if (!app) return;
  const s = await call("GET", `stats/${encodeURIComponent(app)}`, { params: [["days", days]] });
  const total = s.days.reduce((n, d) => n + d.total, 0);
  view.append(
    h("p", {}, `${number(total)} entries in ${days} days.`),
    h("figure", { class: "card" }, levelBars(s.days, `Entries of ${app} per day and level, last ${days} days`),
      h("figcaption", { class: "legend" }, LEVELS.map((l) => h("span", { class: `key key-${l.toLowerCase()}` }, l)))),
    h("details", {}, h("summary", {}, "The numbers"),
      h("div", { class: "scroll" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Day"), LEVELS.map((l) => h("th", { scope: "col", class: "num" }, l)),
          h("th", { scope: "col", class: "num" }, "Total"))),
        h("tbody", {}, [...s.days].reverse().map((d) => h("tr", {}, h("th", { scope: "row" }, d.date),
          LEVELS.map((l) => h("td", { class: "num" }, number(d.levels?.[l]))), h("td", { class: "num" }, number(d.total)))))))));
}
