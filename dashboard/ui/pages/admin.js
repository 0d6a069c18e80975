// Admin (admin key only): the pipeline's state from `GET /admin/status` — totals, shards with
// pending or failing entries, outages, D1's use and size, every log table with its schema hash,
// columns, retention and last prune — and the dead letters, to inspect, replay or delete.

import { call } from "../api.js";
import { h, fill, notice, json, time, ago, number } from "../dom.js";
import { heading } from "./common.js";

const mb = (b) => (b === null || b === undefined ? "—" : `${(b / 1e6).toFixed(1)} MB`);
const ms = (v) => (v === null || v === undefined ? "—" : `${number(Math.round(v / 1000))} s`);

function table(caption, heads, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "scroll" }, h("table", {}, h("caption", {}, caption),
    h("thead", {}, h("tr", {}, heads.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c)))))));
}

export async function render(view) {
  const st = await call("GET", "admin/status");
  const d1 = st.d1 ?? {};
  view.append(heading("Admin", h("a", { href: "#/admin", onclick: () => dispatchEvent(new HashChangeEvent("hashchange")) }, "Refresh")),
    h("section", { class: "card" }, h("h2", {}, "Pipeline"),
      h("dl", { class: "facts" },
        h("dt", {}, "Accepted / flushed / dead-lettered"),
        h("dd", {}, `${number(st.totals?.accepted)} / ${number(st.totals?.flushed)} / ${number(st.totals?.dead_lettered)}`),
        h("dt", {}, "Pending"), h("dd", {}, `${number(st.pending)} (oldest ${ms(st.oldest_pending_age_ms)})`),
        h("dt", {}, "Last flush"), h("dd", {}, st.last_flush_at ? `${time(st.last_flush_at)} (${ago(st.last_flush_at)})` : "—"),
        h("dt", {}, "Last flush error"), h("dd", {}, st.last_flush_error ? `${st.last_flush_error.error} (${st.last_flush_error.shard}, ${time(st.last_flush_error.at)})` : "none"),
        h("dt", {}, "D1 size / cap"), h("dd", {}, `${mb(d1.size_after)} / ${mb(d1.max_db_bytes)}; ${number(d1.deleted_for_space)} rows deleted for space`),
        h("dt", {}, "D1 rows written / read"), h("dd", {}, `${number(d1.rows_written)} / ${number(d1.rows_read)}`),
        h("dt", {}, "Dead letters"), h("dd", {}, `${number(st.dead_letters?.records)} records, ${number(st.dead_letters?.rows)} rows`))),
    h("section", { class: "card" }, h("h2", {}, "Shards"),
      h("p", { class: "muted" }, `${number(st.shards_checked)} recent shards asked; those with pending or failing entries:`),
      table("Shards with pending or failing entries", ["Shard", "Pending", "Failing", "Most attempts", "Oldest pending", "Next flush", "Last error"],
        (st.shards ?? []).map((s) => [s.shard, number(s.pending), number(s.failing), number(s.max_attempts), ms(s.oldest_pending_age_ms),
          s.next_flush_at ? time(s.next_flush_at) : "—", s.last_error ?? ""]), "None: every recent shard is flushed."),
      (st.outages ?? []).length ? table("Outages", ["Shard", "Since", "Failed flushes", "Error"],
        st.outages.map((o) => [o.shard, time(o.since), number(o.failed_flushes), o.error ?? ""]), "") : null,
      (st.unreachable ?? []).length ? table("Shards that did not answer", ["Shard", "Error"], st.unreachable.map((u) => [u.shard, u.error]), "") : null),
    h("section", { class: "card" }, h("h2", {}, "Tables"),
      table("Log tables", ["Table", "Route", "Schema hash", "Current", "Columns", "Retention", "Last prune", "Pruned"],
        (st.tables ?? []).map((t) => [t.table, t.route ?? "firehose", h("code", {}, t.schema_hash ?? t.recorded_hash ?? "—"),
          t.configured === false ? "not configured" : t.schema_current ? "yes" : "pending",
          h("span", { class: "cols" }, (t.columns ?? []).join(", ")),
          t.retention_days ? `${t.retention_days} d` : "forever",
          t.last_pruned_at ? `${time(t.last_pruned_at)} (${number(t.last_prune_deleted)})` : "never",
          number(t.pruned_total)]), "No tables.")),
    await deadLetters());
}

async function deadLetters(cursor = null) {
  const section = h("section", { class: "card", "aria-labelledby": "dl-title" }, h("h2", { id: "dl-title" }, "Dead letters"));
  const status = h("div", { "aria-live": "polite" });
  const body = h("div");
  section.append(status, body);
  const load = async (at) => {
    const page = await call("GET", "admin/dead-letters", { params: at ? [["cursor", at]] : [] });
    const list = page.dead_letters ?? [];
    if (!list.length && !at) {
      fill(body, h("p", { class: "muted" }, "None."));
      return;
    }
    const rows = list.map((d) => {
      const detail = h("div", { class: "dl-detail" });
      const act = (label, fn) => h("button", { type: "button", onclick: async (e) => {
        e.target.disabled = true;
        try {
          await fn(detail);
        } catch (err) {
          notice(status, `${d.key}: ${err.code}: ${err.message}`);
        }
        e.target.disabled = false;
      } }, label);
      // Keys look like dl:<time>:<shard>:<hex>; the API matches the path as sent, colons and all.
      const key = encodeURIComponent(d.key).replaceAll("%3A", ":");
      return h("li", { class: "dl" },
        h("p", {}, h("code", {}, d.key), ` — ${number(d.meta?.rows)} rows, ${number(d.meta?.attempts)} attempts, shard ${d.meta?.shard ?? "?"}, last failed ${time(d.meta?.last_failed_at)}`),
        h("p", { class: "err" }, d.meta?.error ?? ""),
        h("div", { class: "row" },
          act("Inspect", async (out) => {
            const r = await call("GET", `admin/dead-letters/${key}`);
            const cols = r.columns ?? [];
            const rowsAsObjects = (r.record?.rows ?? []).map((row) => Array.isArray(row)
              ? Object.fromEntries(row.map((v, i) => [cols[i] ?? String(i), v])) : row);
            fill(out, h("p", {}, `Error: ${r.record?.error ?? ""}`), json({ ...r.record, rows: rowsAsObjects }));
          }),
          act("Replay", async (out) => {
            const r = await call("POST", `admin/dead-letters/${key}/replay`);
            fill(out, h("p", { role: "status" }, `Replayed ${number(r.progress?.stored)} of ${number(r.progress?.rows)} rows; ${r.progress?.deleted ? "record deleted" : `${number(r.progress?.left)} left: ${r.progress?.error ?? ""}`}`));
          }),
          act("Delete", async (out) => {
            if (!confirm(`Delete dead letter ${d.key} and its ${d.meta?.rows ?? 0} rows for good?`)) return;
            await call("DELETE", `admin/dead-letters/${key}`);
            fill(out, h("p", { role: "status" }, "Deleted."));
          })),
        detail);
    });
    body.append(h("ul", { class: "plain" }, rows));
    if (page.next_cursor) {
      const more = h("button", { type: "button", onclick: () => { more.remove(); load(page.next_cursor); } }, "More");
      body.append(more);
    }
  };
  await load(cursor);
  return section;
}
