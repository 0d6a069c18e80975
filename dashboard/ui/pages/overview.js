// Overview: every app the session reads, with today's and 7 days' counts per level, the error
// rate, the time of its newest log and its health checks' state. Each app's row fills in as its
// three reads (stats, the newest entry, health) come back.

import { call, apps, appParams } from "../api.js";
import { h, fill, number, ago, time, notice } from "../dom.js";
import { LEVELS, hashOf } from "../filters.js";
import { heading } from "./common.js";

export async function render(view) {
  const list = await apps();
  view.append(heading("Overview"));
  if (!list.length) {
    view.append(h("p", {}, "No apps yet. Create one with POST /apps (README, \"Apps and keys\")."));
    return;
  }
  const levelHeads = (span) => LEVELS.map((l) => h("th", { scope: "col", class: "num", title: `${l}, ${span}` }, l[0]));
  const body = h("tbody");
  view.append(h("div", { class: "scroll" }, h("table", { class: "overview" },
    h("caption", { class: "sr-only" }, "Apps with their log counts per level today and over 7 days"),
    h("thead", {},
      h("tr", {}, h("th", { rowspan: 2, scope: "col" }, "App"), h("th", { colspan: 4, scope: "colgroup" }, "Today"),
        h("th", { colspan: 4, scope: "colgroup" }, "7 days"), h("th", { rowspan: 2, scope: "col", class: "num" }, "Errors"),
        h("th", { rowspan: 2, scope: "col" }, "Last log"), h("th", { rowspan: 2, scope: "col" }, "Health")),
      h("tr", {}, levelHeads("today"), levelHeads("7 days"))),
    body)));
  await Promise.all(list.map((a) => row(body, a.app_id)));
}

async function row(body, app) {
  const cells = {
    today: LEVELS.map(() => h("td", { class: "num" }, "…")),
    week: LEVELS.map(() => h("td", { class: "num" }, "…")),
    rate: h("td", { class: "num" }, "…"),
    last: h("td", {}, "…"),
    health: h("td", {}, "…"),
  };
  const p = new URLSearchParams({ app });
  body.append(h("tr", {},
    h("th", { scope: "row" }, h("a", { href: hashOf("explorer", p) }, app)),
    cells.today, cells.week, cells.rate, cells.last, cells.health));
  await Promise.all([
    call("GET", `stats/${encodeURIComponent(app)}`, { params: [["days", "7"]] }).then((s) => {
      const days = s.days ?? [];
      const today = days[days.length - 1]?.levels ?? {};
      const week = {};
      for (const d of days) for (const l of LEVELS) week[l] = (week[l] ?? 0) + (d.levels?.[l] ?? 0);
      LEVELS.forEach((l, i) => {
        fill(cells.today[i], number(today[l]));
        fill(cells.week[i], number(week[l]));
      });
      const total = days.reduce((n, d) => n + d.total, 0);
      fill(cells.rate, total ? `${((100 * (week.ERROR ?? 0)) / total).toFixed(1)} %` : "—");
    }),
    call("GET", "logs", { params: [...appParams(app), ["limit", "1"]] }).then((page) => {
      const newest = page.logs[0];
      fill(cells.last, newest ? h("time", { datetime: new Date(newest.timestamp).toISOString(), title: time(newest.timestamp) }, ago(newest.timestamp)) : "never");
    }),
    call("GET", `health/${encodeURIComponent(app)}`).then((hc) => {
      const urls = hc.urls ?? [];
      const failing = urls.filter((u) => u.latest && !u.latest.ok).length;
      const state = !urls.length ? ["none", "no URLs"] : failing ? ["bad", `${failing} of ${urls.length} failing`] : ["ok", `${urls.length} ok`];
      fill(cells.health, h("a", { href: hashOf("health", p), class: `badge ${state[0]}` }, state[1]));
    }),
  ].map((read) => read.catch((e) => {
    const box = h("span");
    notice(box, e.message);
    cells.last.append(box);
  })));
}
