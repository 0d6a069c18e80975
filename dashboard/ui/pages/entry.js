// One entry by its id (`#/entry/<id>?app=…`): the link the explorer and the tail give each row.

import { call, appParams } from "../api.js";
import { h, time, level, json } from "../dom.js";
import { hashOf } from "../filters.js";
import { heading } from "./common.js";

export async function render(view, route) {
  const app = route.params.get("app") ?? "";
  const e = await call("GET", `logs/${encodeURIComponent(route.arg ?? "")}`, { params: appParams(app) });
  view.append(
    heading("Entry", h("a", { href: hashOf("explorer", new URLSearchParams({ app })) }, `Back to ${app}'s entries`)),
    h("dl", { class: "facts" },
      h("dt", {}, "Time"), h("dd", {}, time(e.timestamp)),
      h("dt", {}, "Level"), h("dd", {}, level(e.level)),
      h("dt", {}, "Message"), h("dd", { class: "msg" }, e.message),
      h("dt", {}, "Request id"), h("dd", {}, e.request_id ?? "—"),
      h("dt", {}, "Source"), h("dd", {}, e.source ?? "—")),
    json(e));
}
