// The documentation check (scripts/test): every Markdown file git knows (README.md, docs/**, and
// the rest) must stay true to the repository.
// - Every ```mermaid block parses, with Mermaid itself (npm `mermaid`, in Debian's chromium
//   through playwright-core: Mermaid needs a DOM).
// - Every file or directory a document names in backquotes (`src/…`, `wrangler.toml`) or links to
//   exists.
// - Every route it names (`GET /logs`, `/admin/status`) is one the router serves
//   (src/http/router.rs).
// - Every var, binding or code in capitals (`MAX_BATCH_SIZE`, `LOGS_KV`, `INVALID_JSON`) is
//   one wrangler.toml, src/config/mod.rs, src/http/error.rs or scripts/bench (its own env) knows.
// - The reference pages hold both ways: docs/reference/http-api.md lists exactly the router's
//   routes, docs/reference/configuration.md exactly the vars src/config/mod.rs reads. (The error
//   codes' table, docs/reference/errors.md, is held to ApiError by a unit test in
//   src/http/error.rs.)
// Prints what it checked; exits non-zero with every problem found.

import { launch } from "./chromium.mjs";
import { readFileSync, existsSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (p) => readFileSync(join(root, p), "utf8");
// Tracked and new (not ignored) Markdown files: node_modules, target/ and the like are ignored.
const docs = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.md"], { cwd: root, encoding: "utf8" })
  .split("\n").filter((f) => f && existsSync(join(root, f))).sort();
const problems = [];
const counts = { mermaid: 0, files: 0, routes: 0, names: 0, reference: 0 };

// The router's routes as [method, segments], a segment null where it is a parameter.
const router = read("src/http/router.rs");
const routes = [];
for (const [, pats, methods] of router.matchAll(/\(((?:\[[^\]]*\]\s*\|?\s*)+),\s*((?:Method::\w+\s*\|?\s*)+)\)/g)) {
  for (const [, segs] of pats.matchAll(/\[([^\]]*)\]/g)) {
    const pattern = segs.split(",").map((s) => s.trim()).filter((s) => s && s !== '""')
      .map((s) => (s === ".." ? ".." : s.startsWith('"') ? s.slice(1, -1) : null));
    for (const [, m] of methods.matchAll(/Method::(\w+)/g)) routes.push([m.toUpperCase(), pattern]);
  }
}
function routeExists(method, path) {
  const segs = path.replace(/[?#].*$/, "").replace(/^\/|\/$/g, "").split("/").filter(Boolean);
  const wild = segs.at(-1) === "*";
  if (wild) segs.pop();
  const fits = (s, p) => p === null ? !s.includes("/") : p === s;
  return routes.some(([m, pattern]) => {
    if (method && m !== method) return false;
    // `..` in the router: any rest of the path (`["ui", ..]`).
    if (pattern.at(-1) === "..") {
      const head = pattern.slice(0, -1);
      return segs.length >= head.length && head.every((p, i) => fits(segs[i], p));
    }
    if (wild ? pattern.length <= segs.length : pattern.length !== segs.length) return false;
    return segs.every((s, i) => fits(s, pattern[i]) || (s.startsWith(":") && pattern[i] === null));
  });
}

// Names in capitals the code knows: vars and bindings, secrets, error codes.
const known = new Set();
for (const text of [read("wrangler.toml"), read("src/config/mod.rs") + read("src/config/cors.rs"), read("src/http/error.rs"), read("scripts/bench"), read("scripts/lib.sh"), read("scripts/dev"), read("examples/support/rest_ab.rs")]) {
  for (const [name] of text.matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g)) known.add(name);
}

const isPath = (s) => /^(src|scripts|tests|dashboard|migrations|docs|examples|\.github|\.ci)\//.test(s) ||
  /^[\w.-]+\.(toml|md|json|lock)$/.test(s);

const blocks = [];
for (const doc of docs) {
  const text = read(doc);
  for (const [, body] of text.matchAll(/```mermaid\n([\s\S]*?)```/g)) blocks.push([doc, body]);
  // Prose only: code blocks are examples, not claims about the tree.
  const prose = text.replace(/```[\s\S]*?```/g, "");
  for (const [, raw] of prose.matchAll(/`([^`\n]+)`/g)) {
    const token = raw.trim();
    const route = token.match(/^(GET|POST|DELETE|PUT|PATCH) (\/\S*)$/) ?? (token.startsWith("/") && !token.includes(" ") ? [null, null, token] : null);
    if (route) {
      counts.routes++;
      if (!routeExists(route[1], route[2])) problems.push(`${doc}: no route ${token} in src/http/router.rs`);
    } else if (isPath(token.split(" ")[0])) {
      // A command (`scripts/bench --only reads`) names its script.
      const file = token.split(" ")[0].replace(/[:#].*$/, "");
      counts.files++;
      if (!existsSync(join(root, file))) problems.push(`${doc}: ${file} does not exist`);
    } else if (/^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(=.*)?$/.test(token)) {
      counts.names++;
      const name = token.replace(/=.*$/, "");
      if (!known.has(name)) problems.push(`${doc}: ${name} is no var, binding or error code (wrangler.toml, src/config/mod.rs, src/http/error.rs)`);
    }
  }
  for (const [, target] of prose.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
    if (/^[a-z]+:/.test(target)) continue;
    counts.files++;
    if (!existsSync(resolve(join(root, dirname(doc)), target))) problems.push(`${doc}: the link ${target} leads nowhere`);
  }
}

// The route table: `| \`METHOD\` | \`/path\` |` rows, against the router's routes (a parameter
// is `:name` here and any segment there; `*` a rest of the path, `..` there).
const show = (m, pattern) => `${m} /${pattern.map((p) => (p === null ? ":" : p === ".." ? "*" : p)).join("/")}`;
const served = new Set(routes.map(([m, p]) => show(m, p)));
const listed = new Set();
for (const [, m, path] of read("docs/reference/http-api.md").matchAll(/^\| `([A-Z]+)` \| `(\/[^`]*)` \|/gm)) {
  if (m === "OPTIONS") continue; // CORS preflight: answered on every path before routing
  const segs = path.replace(/^\/|\/$/g, "").split("/").filter(Boolean).map((s) => (s.startsWith(":") ? null : s === "*" ? ".." : s));
  listed.add(show(m, segs));
}
for (const r of served) {
  counts.reference++;
  // HEAD is served with GET (the dashboard's files); the table names GET.
  if (!listed.has(r) && !(r.startsWith("HEAD ") && listed.has(r.replace(/^HEAD/, "GET")))) problems.push(`docs/reference/http-api.md: the router serves ${r}, which the table lacks`);
}
for (const r of listed) if (!served.has(r)) problems.push(`docs/reference/http-api.md: lists ${r}, which the router does not serve`);

// The configuration table: every var src/config/mod.rs reads, and nothing else.
const configRs = read("src/config/mod.rs");
const read_vars = new Set([...configRs.matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g)].map((m) => m[1]));
const configDoc = read("docs/reference/configuration.md");
const documented = new Set();
for (const [row] of configDoc.matchAll(/^\| `[A-Z][^|]*\|/gm)) {
  for (const [, name] of row.matchAll(/`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`/g)) documented.add(name);
}
for (const v of read_vars) {
  counts.reference++;
  if (!documented.has(v) && !new RegExp(`\`${v}\``).test(configDoc)) problems.push(`docs/reference/configuration.md: src/config/mod.rs reads ${v}, which the page does not document`);
}
for (const v of documented) if (!read_vars.has(v)) problems.push(`docs/reference/configuration.md: documents ${v}, which src/config/mod.rs does not read`);

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.setContent("<!doctype html><html><body></body></html>");
  await page.addScriptTag({ path: join(root, "tests/clients/node_modules/mermaid/dist/mermaid.min.js") });
  const results = await page.evaluate(async (sources) => {
    window.mermaid.initialize({ startOnLoad: false });
    const out = [];
    for (const s of sources) {
      try {
        await window.mermaid.parse(s);
        out.push(null);
      } catch (e) {
        out.push(String(e?.message ?? e));
      }
    }
    return out;
  }, blocks.map(([, b]) => b));
  results.forEach((err, i) => {
    counts.mermaid++;
    if (err) problems.push(`${blocks[i][0]}: Mermaid block ${i + 1} does not parse: ${err.split("\n").slice(0, 4).join(" | ")}`);
  });
} finally {
  await browser.close();
}

console.log(`docs: ${docs.length} Markdown files: ${counts.mermaid} Mermaid blocks, ${counts.files} files, ${counts.routes} routes, ${counts.names} names, ${counts.reference} reference rows checked`);
if (problems.length) {
  console.error(problems.map((p) => `  ${p}`).join("\n"));
  process.exit(1);
}
