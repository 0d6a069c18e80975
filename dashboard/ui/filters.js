// What a view shows, as data: the page's URL (its hash) holds the filters, so a view can be
// shared — never the key, which the reader signs in with. Pure functions, no DOM (tested with
// `node --test` in tests/dashboard/).
//
// The hash is `#/<page>[/<arg>]?<params>`, and the params are the API's own (`level`, `since`,
// `until`, `search`, `request_id`, `context.<path>`, `route`) plus `app` and `range`, a time
// preset resolved against the clock each time the view loads ("the last hour" stays that).

export const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"];

/** Time presets: name -> how far back, in ms (`all`: no lower bound; `custom`: since/until). */
export const RANGES = [
  ["15m", "Last 15 minutes", 15 * 60e3],
  ["1h", "Last hour", 3600e3],
  ["6h", "Last 6 hours", 6 * 3600e3],
  ["24h", "Last 24 hours", 86400e3],
  ["7d", "Last 7 days", 7 * 86400e3],
  ["30d", "Last 30 days", 30 * 86400e3],
  ["all", "All time", null],
  ["custom", "Custom…", null],
];
export const DEFAULT_RANGE = "24h";

/** `#/explorer?level=ERROR` -> `{ page: "explorer", arg: null, params }`. */
export function parseHash(hash) {
  const text = String(hash ?? "").replace(/^#\/?/, "");
  const q = text.indexOf("?");
  const path = q < 0 ? text : text.slice(0, q);
  const [page, ...rest] = path.split("/").map(decodeURIComponent);
  return {
    page: page || "overview",
    arg: rest.length ? rest.join("/") : null,
    params: new URLSearchParams(q < 0 ? "" : text.slice(q + 1)),
  };
}

/** The filters of an explorer or tail view, from its params. */
export function readFilters(params) {
  const range = params.get("range") ?? (params.has("since") || params.has("until") ? "custom" : DEFAULT_RANGE);
  const levels = (params.get("level") ?? "")
    .split(",")
    .map((l) => l.trim().toUpperCase())
    .filter((l) => LEVELS.includes(l));
  const context = [];
  for (const [k, v] of params) if (k.startsWith("context.") && k.length > 8) context.push([k.slice(8), v]);
  return {
    app: params.get("app") ?? "",
    range: RANGES.some(([r]) => r === range) ? range : DEFAULT_RANGE,
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
    levels,
    search: params.get("search") ?? "",
    request_id: params.get("request_id") ?? "",
    context,
    route: params.get("route") ?? "",
  };
}

/** The params of a view's URL for `filters` (empty values left out). */
export function writeFilters(f) {
  const p = new URLSearchParams();
  if (f.app) p.set("app", f.app);
  if (f.range && f.range !== DEFAULT_RANGE) p.set("range", f.range);
  if (f.range === "custom") {
    if (f.since) p.set("since", f.since);
    if (f.until) p.set("until", f.until);
  }
  if (f.levels?.length) p.set("level", f.levels.join(","));
  if (f.search) p.set("search", f.search);
  if (f.request_id) p.set("request_id", f.request_id);
  for (const [path, value] of f.context ?? []) if (path) p.append(`context.${path}`, value);
  if (f.route) p.set("route", f.route);
  return p;
}

export const hashOf = (page, params, arg) => {
  const q = params?.toString() ?? "";
  return `#/${page}${arg ? `/${encodeURIComponent(arg)}` : ""}${q ? `?${q}` : ""}`;
};

/** A custom bound as the API takes it: a `datetime-local` value is the reader's local time. */
export function bound(text) {
  if (!text) return null;
  if (/^\d+$/.test(text)) return Number(text);
  const t = Date.parse(text);
  return Number.isNaN(t) ? null : t;
}

/** `GET /logs` params for `filters` at `now` (ms), without `app_id`, cursor or limit. */
export function queryParams(f, now) {
  const out = [];
  const preset = RANGES.find(([r]) => r === f.range);
  if (f.range === "custom") {
    const [s, u] = [bound(f.since), bound(f.until)];
    if (s !== null) out.push(["since", String(s)]);
    if (u !== null) out.push(["until", String(u)]);
  } else if (preset?.[2]) {
    out.push(["since", String(now - preset[2])]);
  }
  if (f.levels.length) out.push(["level", f.levels.join(",")]);
  if (f.search.trim()) out.push(["search", f.search.trim()]);
  if (f.request_id.trim()) out.push(["request_id", f.request_id.trim()]);
  for (const [path, value] of f.context) if (path.trim()) out.push([`context.${path.trim()}`, value]);
  if (f.route) out.push(["route", f.route]);
  return out;
}

/** The live tail's filters (the tail takes no time range nor context paths). */
export function tailParams(f) {
  return queryParams({ ...f, range: "all", context: [] }, 0);
}

/** A string as one POSIX shell word: single-quoted, its own quotes closed and escaped, so a
 *  hostile search term never becomes shell syntax in a pasted command. */
export function shellWord(s) {
  return `'${String(s).replaceAll("'", `'\\''`)}'`;
}

/** "Copy as curl": the same query from a shell. The key is left as a variable the reader sets:
 *  the clipboard is no place for it. */
export function curlCommand(endpoint, params, kind) {
  const header = kind === "admin" ? "X-Admin-Key: $LOGGER_ADMIN_KEY" : "X-API-Key: $LOGGER_KEY";
  const parts = ["curl", "-G", shellWord(endpoint), "-H", `"${header}"`];
  for (const [k, v] of params) parts.push("--data-urlencode", shellWord(`${k}=${v}`));
  return parts.join(" ");
}
