// The dashboard in a real browser (Debian's chromium, driven by playwright-core), against the
// logger tests/e2e/dashboard.rs started and seeded. It signs in, sees the seeded logs, narrows
// them by search and level, opens an entry, watches a new log arrive in the live tail, checks
// that hostile log content renders as text, renders 1,000 rows, visits every page as the admin,
// and saves screenshots under target/dashboard/. Prints one JSON line of figures; exits non-zero
// with what it saw when a step fails.
//
// Env: DASHBOARD_URL (the dashboard's address, ending in /), APP, APP_KEY, BIG_APP (an app with
// 1,000+ entries), ADMIN_KEY, HOSTILE (the hostile message seeded), SHOTS (a directory),
// CHROMIUM (the browser's path).

import { launch } from "./chromium.mjs";
import { gzipSync } from "node:zlib";
import { mkdirSync } from "node:fs";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const [base, app, appKey, bigApp, adminKey, hostile, shots] =
  ["DASHBOARD_URL", "APP", "APP_KEY", "BIG_APP", "ADMIN_KEY", "HOSTILE", "SHOTS"].map(env);
mkdirSync(shots, { recursive: true });
const WAIT = 20000;
const figures = {};
const problems = [];

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
// Any dialog is a script the page did not mean to run (the hostile message's onerror=alert).
// Only the admin's "delete for good?" confirmation is expected (and accepted).
let confirmDelete = false;
page.on("dialog", async (d) => {
  if (confirmDelete && d.type() === "confirm") {
    confirmDelete = false;
    return d.accept();
  }
  problems.push(`a dialog opened: ${d.type()} ${d.message()}`);
  await d.dismiss();
});
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
// A CSP violation, a failed module load or an uncaught error shows as a console error.
page.on("console", (m) => {
  // (A refused key's 401 is logged by the browser too: signing in tries the key as an app key
  // before the admin key, and the wrong-key step expects one.)
  if (m.type() === "error" && !/status of 401/.test(m.text())) problems.push(`console error: ${m.text()}`);
});

function step(name) {
  process.stderr.write(`dashboard: ${name}\n`);
}
async function shot(name, p = page) {
  await p.screenshot({ path: `${shots}/${name}.png`, fullPage: false });
}
const rows = (p = page) => p.locator("table.logs tbody tr.entry");

try {
  step("first load: the sign-in page, its headers and its size");
  const loaded = [];
  page.on("response", (r) => loaded.push(r));
  const doc = await page.goto(base, { waitUntil: "networkidle" });
  const csp = doc.headers()["content-security-policy"] ?? "";
  for (const want of ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"]) {
    if (!csp.includes(want)) problems.push(`the page's CSP lacks ${want}: ${csp}`);
  }
  if (csp.includes("unsafe-inline")) problems.push(`the CSP allows inline code: ${csp}`);
  let raw = 0, gz = 0;
  for (const r of loaded) {
    if (!r.url().startsWith(base) || r.request().method() !== "GET") continue;
    const body = await r.body();
    raw += body.length;
    gz += gzipSync(body, { level: 9 }).length;
  }
  figures.first_load_files = loaded.length;
  figures.first_load_bytes = raw;
  figures.first_load_gzip_bytes = gz;
  await page.getByRole("heading", { name: "Sign in to d1-logger" }).waitFor();
  await shot("signin");

  step("a wrong key is refused");
  await page.getByLabel("Key").fill("not-a-key-of-anything");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("alert").filter({ hasText: "not an app key" }).waitFor({ timeout: WAIT });

  step("sign in with the app key; the overview lists the app with its counts");
  await page.getByLabel("Key").fill(appKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor({ timeout: WAIT });
  const overviewRow = page.locator("table.overview tbody tr").filter({ hasText: app });
  await overviewRow.waitFor({ timeout: WAIT });
  await page.waitForFunction(() => !document.querySelector("table.overview tbody")?.textContent.includes("…"), null, { timeout: WAIT });
  const overviewText = await overviewRow.textContent();
  if (!/ago|s ago/.test(overviewText)) problems.push(`the overview shows no last log time: ${overviewText}`);
  if (await page.evaluate(() => sessionStorage.length) !== 1) problems.push("the session is not in sessionStorage");
  if ((await context.cookies()).length) problems.push("the dashboard set a cookie");
  if (page.url().includes(appKey)) problems.push("the key is in the URL");
  await shot("overview");

  step("explorer: the seeded entries, newest first");
  await page.getByRole("link", { name: "Explorer" }).click();
  await rows().first().waitFor({ timeout: WAIT });
  const seen = await rows().count();
  figures.explorer_rows = seen;
  const times = await page.$$eval("table.logs tbody tr.entry", (trs) => trs.map((tr) => tr.querySelector("td.t").textContent));
  if ([...times].sort().reverse().join() !== times.join()) problems.push(`rows are not newest first: ${times.slice(0, 5)}`);

  step("narrow by search");
  await page.getByLabel("Search").fill("checkout");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/search=checkout/);
  await page.waitForFunction(() => {
    const msgs = [...document.querySelectorAll("table.logs tbody tr.entry td.msg")].map((td) => td.textContent);
    return msgs.length > 0 && msgs.every((m) => /checkout/i.test(m));
  }, null, { timeout: WAIT });
  const searchCount = await rows().count();
  if (searchCount >= seen) problems.push(`search did not narrow: ${searchCount} of ${seen}`);

  step("narrow by level (chips, by keyboard)");
  const chip = page.getByRole("button", { name: "ERROR", exact: true });
  await chip.focus();
  await page.keyboard.press("Enter");
  if (await chip.getAttribute("aria-pressed") !== "true") problems.push("the ERROR chip does not toggle by keyboard");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/level=ERROR/);
  await page.waitForFunction(() => {
    const lv = [...document.querySelectorAll("table.logs tbody tr.entry td:nth-child(2)")].map((td) => td.textContent);
    return lv.length > 0 && lv.every((l) => l === "ERROR");
  }, null, { timeout: WAIT });
  figures.search_and_level_rows = await rows().count();
  const shared = page.url();

  step("open an entry (keyboard) and its link");
  const expand = rows().first().locator("button.expand");
  await expand.focus();
  await page.keyboard.press("Enter");
  const detail = page.locator("tr.detail pre.json").first();
  await detail.waitFor({ timeout: WAIT });
  const entry = JSON.parse(await detail.textContent());
  if (entry.level !== "ERROR" || !/checkout/i.test(entry.message)) problems.push(`the opened entry is not the row's: ${JSON.stringify(entry).slice(0, 200)}`);
  await shot("explorer");
  await page.locator("tr.detail").getByRole("link", { name: "Link to this entry" }).click();
  await page.getByRole("heading", { name: "Entry" }).waitFor({ timeout: WAIT });
  await page.locator("pre.json").filter({ hasText: entry.id }).waitFor({ timeout: WAIT });

  step("the shared URL of a view holds the filters (and no key): another tab signs in to it");
  const other = await context.newPage();
  await other.goto(shared);
  await other.getByLabel("Key").fill(appKey);
  await other.getByRole("button", { name: "Sign in" }).click();
  await other.getByRole("heading", { name: "Explorer" }).waitFor({ timeout: WAIT });
  if ((await other.getByLabel("Search").inputValue()) !== "checkout") problems.push("a shared view lost its search");
  await other.close();

  step("copy as curl gives the same query");
  await page.evaluate(() => { location.hash = "#/explorer?search=checkout&level=ERROR"; });
  // Inside a closed <details>: attached, not visible.
  await page.locator("details.curl pre").filter({ hasText: "search=checkout" }).waitFor({ state: "attached", timeout: WAIT });
  const curlText = await page.locator("details.curl pre").textContent();
  for (const want of ["curl -G", "'search=checkout'", "'level=ERROR'", "$LOGGER_KEY"]) {
    if (!curlText.includes(want)) problems.push(`copy as curl lacks ${want}: ${curlText}`);
  }
  if (curlText.includes(appKey)) problems.push("copy as curl holds the key");

  step("hostile content renders as text");
  await page.evaluate(() => { location.hash = "#/explorer?search=onerror"; });
  const hostileRow = rows().filter({ hasText: "onerror" }).first();
  await hostileRow.waitFor({ timeout: WAIT });
  const msg = await hostileRow.locator("td.msg").textContent();
  if (msg !== hostile) problems.push(`the hostile message is not shown as its text: ${msg}`);
  await page.evaluate(() => { location.hash = "#/explorer?search=forwarded"; });
  const forwardedRow = rows().filter({ hasText: "forwarded checkout failure" }).first();
  await forwardedRow.waitFor({ timeout: WAIT });
  await forwardedRow.locator("button.expand").click();
  const hostileDetail = await page.locator("tr.detail pre.json").first().textContent();
  for (const want of ["<script>window.__pwned=2</script>", "<svg onload=alert(3)>"]) {
    if (!hostileDetail.includes(want)) problems.push(`the hostile header value ${want} is not shown as text: ${hostileDetail.slice(0, 400)}`);
  }
  const injected = await page.evaluate(() => ({
    img: document.querySelectorAll("main img").length,
    script: document.querySelectorAll("main script").length,
    pwned: window.__pwned ?? null,
  }));
  if (injected.img || injected.script || injected.pwned) problems.push(`hostile content became markup: ${JSON.stringify(injected)}`);
  await shot("hostile");

  step("live tail: a new log arrives");
  // The tail's sockets pass through the test (playwright's WebSocket routing), so it can drop
  // one as a network would, and hold a reconnection back while entries arrive meanwhile.
  const sockets = [];
  let hold = null;
  await page.routeWebSocket(/\/tail\?/, async (ws) => {
    sockets.push(ws);
    if (hold) await hold;
    ws.connectToServer();
  });
  await page.getByRole("link", { name: "Live tail" }).click();
  await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: WAIT });
  const post = async (logs) => {
    const r = await fetch(new URL("logs", base), {
      method: "POST",
      headers: { "X-API-Key": appKey, "Content-Type": "application/json" },
      body: JSON.stringify({ logs }),
    });
    if (r.status !== 200) throw new Error(`POST /logs answered ${r.status}: ${await r.text()}`);
  };
  const marker = `tail-arrival ${Date.now()}`;
  const sent = Date.now();
  // The tail's hub is asked whether it has clients at most once a second per shard: send until
  // the entry shows, a new one each second, so one sent before the shard learnt still counts.
  let arrived = false;
  for (let i = 0; i < 15 && !arrived; i++) {
    await post([{ level: "WARN", message: `${marker} #${i}`, context: { via: "dashboard test" } }]);
    arrived = await rows().filter({ hasText: marker }).first().waitFor({ timeout: 1000 }).then(() => true, () => false);
  }
  if (!arrived) problems.push("no new log arrived in the live tail");
  figures.tail_arrival_ms = Date.now() - sent;
  step("live tail: pause holds new entries, resume draws them");
  await page.getByRole("button", { name: "Pause" }).click();
  const before = await rows().count();
  await post([{ level: "INFO", message: `${marker} while paused` }]);
  await page.getByText("new while paused").waitFor({ timeout: WAIT });
  if ((await rows().count()) !== before) problems.push("a paused tail drew a new row");
  await page.getByRole("button", { name: "Resume" }).click();
  await rows().filter({ hasText: "while paused" }).first().waitFor({ timeout: WAIT });

  // Drops the tail's socket, posts `logs` while its reconnection is held back, then lets it
  // through; answers the reconnection's URL.
  const dropWhile = async (logs) => {
    let release;
    hold = new Promise((r) => { release = r; });
    const n = sockets.length;
    await sockets[n - 1].close({ code: 4000, reason: "dropped by the test" });
    await page.getByRole("status").filter({ hasText: "disconnected" }).waitFor({ timeout: WAIT });
    for (let i = 0; i < logs.length; i += 1000) await post(logs.slice(i, i + 1000));
    const deadline = Date.now() + WAIT;
    while (sockets.length === n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    if (sockets.length === n) throw new Error("the tail did not reconnect");
    release();
    hold = null;
    await page.getByRole("status").filter({ hasText: "live" }).waitFor({ timeout: WAIT });
    return new URL(sockets[sockets.length - 1].url());
  };

  step("live tail: after a drop it reconnects with last_id and catches up");
  const missed = [0, 1, 2].map((i) => ({ level: "INFO", message: `${marker} missed ${i}` }));
  const again = await dropWhile(missed);
  if (!again.searchParams.get("last_id")) problems.push(`the tail reconnected without last_id: ${again}`);
  await page.getByRole("note").filter({ hasText: "3 missed entries caught up" }).waitFor({ timeout: WAIT });
  for (const m of missed) await rows().filter({ hasText: m.message }).first().waitFor({ timeout: WAIT });
  await shot("tail");

  step("live tail: a gap the hub reports is marked");
  // More than the hub keeps (its newest 1,000): the entry after last_id is gone.
  const flood = Array.from({ length: 1100 }, (_, i) => ({ level: "DEBUG", message: `${marker} flood ${i}` }));
  await dropWhile(flood);
  await page.getByRole("note").filter({ hasText: "Gap:" }).waitFor({ timeout: WAIT });
  await rows().filter({ hasText: `${marker} flood 1099` }).first().waitFor({ timeout: WAIT });
  figures.tail_rows_kept = await rows().count();

  step("stats: a bar chart of the days");
  await page.getByRole("link", { name: "Stats" }).click();
  await page.locator("svg.chart rect[class^=bar-]").first().waitFor({ timeout: WAIT });
  figures.stats_bars = await page.locator("svg.chart rect[class^=bar-]").count();
  await page.getByRole("link", { name: "30 days" }).click();
  await page.waitForURL(/days=30/);
  await page.waitForFunction(() => document.querySelectorAll("svg.chart g.day").length === 30, null, { timeout: WAIT });
  await shot("stats");

  step("health checks page");
  await page.getByRole("link", { name: "Health" }).click();
  await page.getByRole("heading", { name: "URLs to check" }).waitFor({ timeout: WAIT });

  step("every control has a label");
  for (const hash of ["#/explorer", "#/tail", "#/health"]) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.locator("main form").first().waitFor({ timeout: WAIT });
    const unlabelled = await page.$$eval("main input, main select, main textarea", (els) =>
      els.filter((el) => !el.closest("label") && !el.getAttribute("aria-label")).map((el) => el.outerHTML));
    if (unlabelled.length) problems.push(`${hash}: unlabelled controls: ${unlabelled.join(" ")}`);
  }

  step("sign out, sign in as the admin: 1,000 rows of another app");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Key").fill(adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  // Signing in again returns to the page the reader was on.
  await page.getByRole("heading", { name: "Health checks" }).waitFor({ timeout: WAIT });
  await page.getByRole("link", { name: "Overview" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor({ timeout: WAIT });
  await page.locator("table.overview tbody tr").filter({ hasText: bigApp }).waitFor({ timeout: WAIT });
  await page.evaluate((a) => { performance.clearMeasures(); location.hash = `#/explorer?app=${a}&range=all&limit=1000`; }, bigApp);
  await page.waitForFunction(() => document.querySelectorAll("table.logs tbody tr.entry").length === 1000, null, { timeout: WAIT });
  figures.rows_rendered = 1000;
  figures.render_1000_rows_ms = await page.evaluate(() => performance.getEntriesByName("d1-logger:rows").at(-1).duration);
  // Scrolling through them must stay responsive: the longest frame while scrolling.
  figures.scroll_longest_frame_ms = await page.evaluate(async () => {
    let last = performance.now(), worst = 0;
    for (let i = 0; i < 40; i++) {
      window.scrollBy(0, 600);
      await new Promise(requestAnimationFrame);
      const now = performance.now();
      worst = Math.max(worst, now - last);
      last = now;
    }
    return worst;
  });

  step("admin: status, tables and dead letters");
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("heading", { name: "Dead letters" }).waitFor({ timeout: WAIT });
  const tables = await page.locator("table").filter({ hasText: "Schema hash" }).textContent();
  if (!tables.includes("logs")) problems.push(`the admin page lists no firehose table: ${tables}`);
  await shot("admin");
  step("admin: inspect and replay one dead letter, delete the other");
  const letters = page.locator("li.dl");
  await letters.nth(1).waitFor({ timeout: WAIT });
  let toReplay = null, toDelete = null;
  for (let i = 0; i < 2; i++) {
    const li = letters.nth(i);
    await li.getByRole("button", { name: "Inspect" }).click();
    const record = li.locator("pre.json");
    await record.waitFor({ timeout: WAIT });
    const text = await record.textContent();
    if (text.includes('"message": "dead letter to replay"')) toReplay = li;
    else if (text.includes('"message": "dead letter to delete"')) toDelete = li;
  }
  if (!toReplay || !toDelete) throw new Error("the inspected dead letters do not show their rows as objects");
  await toReplay.getByRole("button", { name: "Replay" }).click();
  await toReplay.getByRole("status").filter({ hasText: "record deleted" }).waitFor({ timeout: WAIT });
  confirmDelete = true;
  await toDelete.getByRole("button", { name: "Delete" }).click();
  await toDelete.getByRole("status").filter({ hasText: "Deleted." }).waitFor({ timeout: WAIT });
  await page.evaluate(() => { location.hash = "#/admin?refresh"; });
  await page.getByText("0 records, 0 rows").waitFor({ timeout: WAIT });

  step("dark mode and a narrow screen");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.evaluate((a) => { location.hash = `#/explorer?app=${a}&level=ERROR,WARN`; }, app);
  await rows().first().waitFor({ timeout: WAIT });
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  if (bg === "rgb(255, 255, 255)") problems.push("dark mode kept the light background");
  await shot("explorer-dark");
  const narrow = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 1 });
  const phone = await narrow.newPage();
  await phone.goto(base);
  await phone.getByLabel("Key").fill(appKey);
  await phone.getByRole("button", { name: "Sign in" }).click();
  await phone.getByRole("heading", { name: "Overview" }).waitFor({ timeout: WAIT });
  await phone.evaluate(() => { location.hash = "#/explorer"; });
  await rows(phone).first().waitFor({ timeout: WAIT });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) problems.push(`the narrow page scrolls sideways by ${overflow} px`);
  await shot("explorer-narrow", phone);
  await narrow.close();
} catch (e) {
  problems.push(`step failed: ${e.stack ?? e}`);
  await shot("failure").catch(() => {});
} finally {
  await browser.close();
}

console.log(JSON.stringify({ figures, problems }));
process.exit(problems.length ? 1 : 0);
