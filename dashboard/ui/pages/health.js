// Health checks: an app's registered URLs with their latest result, latency over the newest
// checks and the history (`GET /health/:app_id`), and the form that sets the URLs
// (`POST /apps/:app_id/health-urls`, which checks them at once).

import { call } from "../api.js";
import { h, field, fill, notice, time, ago, number } from "../dom.js";
import { latencyLine } from "../chart.js";
import { pickApp, heading } from "./common.js";

export async function render(view, route) {
  const { app, picker } = await pickApp(route, "health");
  view.append(heading("Health checks", picker));
  if (!app) return;
  const hc = await call("GET", `health/${encodeURIComponent(app)}`);
  const urls = hc.urls ?? [];
  view.append(h("p", { class: "muted" }, `Checked every ${number(Math.round((hc.interval_ms ?? 0) / 1000))} s from Cloudflare's network; failures are also logged as entries of ${app}.`));
  if (!urls.length) view.append(h("p", {}, "No URLs registered."));
  for (const u of urls) {
    const history = [...(u.history ?? [])].sort((a, b) => a.checked_at - b.checked_at);
    const l = u.latest;
    view.append(h("section", { class: "card health" },
      h("h2", {}, h("span", { class: `badge ${!l ? "none" : l.ok ? "ok" : "bad"}` }, !l ? "not checked yet" : l.ok ? "ok" : "failing"), " ", u.url),
      l ? h("p", {}, `Latest: ${l.status ?? "no answer"} in ${l.latency_ms ?? "?"} ms, ${ago(l.checked_at)}`, l.error ? ` — ${l.error}` : "") : null,
      history.length ? latencyLine(history, `Latency of ${u.url} over its ${history.length} newest checks`) : null,
      h("details", {}, h("summary", {}, `History (${history.length})`),
        h("div", { class: "scroll" }, h("table", {},
          h("thead", {}, h("tr", {}, ["Checked", "Result", "Status", "Latency", "Error"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", {}, [...history].reverse().map((r) => h("tr", {},
            h("td", {}, time(r.checked_at)), h("td", {}, r.ok ? "ok" : "failed"), h("td", {}, r.status ?? "—"),
            h("td", { class: "num" }, r.latency_ms ?? "—"), h("td", {}, r.error ?? "")))))))));
  }

  const list = h("textarea", { name: "urls", rows: 4, spellcheck: "false" }, urls.map((u) => u.url).join("\n"));
  const status = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card" }, h("h2", {}, "URLs to check"),
    field("One URL a line (http or https, public hosts; empty: stop checking)", list),
    h("button", { type: "submit" }, "Save and check now"), status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const next = list.value.split("\n").map((s) => s.trim()).filter(Boolean);
    try {
      await call("POST", `apps/${encodeURIComponent(app)}/health-urls`, { body: { urls: next } });
      fill(status);
      dispatchEvent(new HashChangeEvent("hashchange"));
    } catch (err) {
      notice(status, `${err.code}: ${err.message}`);
    }
  });
  view.append(form);
}
