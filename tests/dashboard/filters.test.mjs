// Unit tests of the dashboard's pure view state (dashboard/ui/filters.js): `node --test
// tests/dashboard/` (scripts/test runs it).

import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseHash, readFilters, writeFilters, queryParams, tailParams, hashOf, shellWord, curlCommand,
} from "../../dashboard/ui/filters.js";

test("a view's filters survive the trip through its URL", () => {
  const f = {
    app: "shop", range: "custom", since: "1795000000000", until: "1795000600000",
    levels: ["WARN", "ERROR"], search: 'timeout "db pool"', request_id: "req-1",
    context: [["user.id", "42"], ["items.0.sku", "A&B=C"]], route: "errors",
  };
  const route = parseHash(hashOf("explorer", writeFilters(f)));
  assert.equal(route.page, "explorer");
  assert.deepEqual(readFilters(route.params), f);
});

test("the default range and empty filters leave the URL bare", () => {
  const f = readFilters(new URLSearchParams());
  assert.equal(f.range, "24h");
  assert.equal(writeFilters(f).toString(), "");
  assert.equal(hashOf("explorer", writeFilters(f)), "#/explorer");
});

test("a hash names its page and argument, and unknown levels are dropped", () => {
  const r = parseHash("#/entry/0190abcd-ef?app=shop");
  assert.equal(r.page, "entry");
  assert.equal(r.arg, "0190abcd-ef");
  assert.equal(r.params.get("app"), "shop");
  assert.equal(parseHash("").page, "overview");
  assert.deepEqual(readFilters(new URLSearchParams("level=error,bogus,Info")).levels, ["ERROR", "INFO"]);
});

test("a preset range becomes a since relative to now; all time has no bound", () => {
  const now = 1_800_000_000_000;
  const one = queryParams(readFilters(new URLSearchParams("range=1h&level=ERROR")), now);
  assert.deepEqual(one, [["since", String(now - 3_600_000)], ["level", "ERROR"]]);
  assert.deepEqual(queryParams(readFilters(new URLSearchParams("range=all")), now), []);
  const custom = queryParams(readFilters(new URLSearchParams("since=2026-11-01T00:00:00Z")), now);
  assert.deepEqual(custom, [["since", String(Date.parse("2026-11-01T00:00:00Z"))]]);
});

test("context filters and the route pass as the API's own parameters", () => {
  const f = readFilters(new URLSearchParams("context.user.id=42&route=errors&search=+db+"));
  assert.deepEqual(queryParams(f, 0).slice(1), [["search", "db"], ["context.user.id", "42"], ["route", "errors"]]);
});

test("the live tail takes levels, search, request id and route, but no time or context", () => {
  const f = readFilters(new URLSearchParams("range=1h&level=WARN&search=x&context.a=1&request_id=r"));
  assert.deepEqual(tailParams(f), [["level", "WARN"], ["search", "x"], ["request_id", "r"]]);
});

test("copy as curl quotes every value as one shell word and leaves the key out", () => {
  assert.equal(shellWord("it's"), `'it'\\''s'`);
  const cmd = curlCommand("http://127.0.0.1:8787/logs", [["search", "a'; rm -rf / #"], ["level", "ERROR"]], "app");
  assert.equal(cmd,
    `curl -G 'http://127.0.0.1:8787/logs' -H "X-API-Key: $LOGGER_KEY" ` +
    `--data-urlencode 'search=a'\\''; rm -rf / #' --data-urlencode 'level=ERROR'`);
  assert.match(curlCommand("u", [], "admin"), /X-Admin-Key: \$LOGGER_ADMIN_KEY/);
});
