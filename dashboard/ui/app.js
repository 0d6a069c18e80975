// The dashboard's shell: sign-in, the navigation, and the router that draws a page for the URL's
// hash (`filters.js` says what the hash holds). Each page module exports `render(main, route)`,
// which may return a function to call when the reader leaves the page (the live tail closes its
// socket there).

import { session, signIn, signOut, ApiError } from "./api.js";
import { h, fill, notice, field } from "./dom.js";
import { parseHash, hashOf } from "./filters.js";
import * as overview from "./pages/overview.js";
import * as explorer from "./pages/explorer.js";
import * as entry from "./pages/entry.js";
import * as tail from "./pages/tail.js";
import * as stats from "./pages/stats.js";
import * as health from "./pages/health.js";
import * as admin from "./pages/admin.js";

const PAGES = {
  overview: { mod: overview, label: "Overview" },
  explorer: { mod: explorer, label: "Explorer" },
  tail: { mod: tail, label: "Live tail" },
  stats: { mod: stats, label: "Stats" },
  health: { mod: health, label: "Health" },
  admin: { mod: admin, label: "Admin", admin: true },
  entry: { mod: entry, label: "Entry", hidden: true },
};

const top = document.getElementById("top");
const main = document.getElementById("main");
let leave = null;
let drawn = 0;
// The app the reader last looked at: the navigation's links keep it.
let currentApp = "";

function nav(route) {
  const s = session();
  const links = Object.entries(PAGES)
    .filter(([, p]) => !p.hidden && (!p.admin || s.kind === "admin"))
    .map(([name, p]) => {
      const params = new URLSearchParams();
      if (currentApp && name !== "overview" && name !== "admin") params.set("app", currentApp);
      return h("li", {}, h("a", {
        href: hashOf(name, params),
        "aria-current": route.page === name ? "page" : null,
      }, p.label));
    });
  const who = s.kind === "admin" ? "admin" : `app ${s.me.app.app_id}`;
  fill(top,
    h("a", { class: "skip", href: "#main", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    h("nav", { "aria-label": "Pages" },
      h("span", { class: "brand" }, "d1-logger"),
      h("ul", {}, links),
      h("span", { class: "who" }, `Signed in as ${who}`),
      h("button", { type: "button", class: "link", onclick: () => { signOut(); draw(); } }, "Sign out")));
}

function signInForm(error) {
  fill(top);
  const key = h("input", { type: "password", name: "key", autocomplete: "current-password", required: true, autofocus: true });
  const status = h("div", { "aria-live": "polite" });
  notice(status, error);
  const form = h("form", { class: "signin card", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to d1-logger"),
    h("p", { class: "muted" }, "With an app's API key (its own logs) or the admin key (every app). The key stays in this tab's session storage and is sent only in request headers."),
    field("Key", key),
    h("button", { type: "submit" }, "Sign in"),
    status);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    notice(status, "Signing in…", "info");
    try {
      await signIn(key.value.trim());
      draw();
    } catch (err) {
      notice(status, err.status === 401 ? "That key is not an app key or the admin key." : err.message);
    }
  });
  fill(main, form);
  key.focus();
}

async function draw() {
  if (leave) {
    leave();
    leave = null;
  }
  const s = session();
  if (!s) return signInForm();
  const route = parseHash(location.hash);
  const page = PAGES[route.page] && (!PAGES[route.page].admin || s.kind === "admin") ? PAGES[route.page] : PAGES.overview;
  currentApp = route.params.get("app") || currentApp || (s.kind === "app" ? s.me.app.app_id : "");
  nav(route);
  document.title = `${page.label} · d1-logger`;
  // A page drawn into its own container: one that finishes loading after the reader moved on
  // writes into a detached node, and is left at once.
  const view = h("div", { class: "view" });
  fill(main, view);
  const generation = ++drawn;
  try {
    const done = (await page.mod.render(view, route)) ?? null;
    if (generation === drawn) leave = done;
    else done?.();
  } catch (e) {
    if (generation !== drawn) return;
    if (e instanceof ApiError && e.status === 401) {
      // The key was revoked or the app deleted while signed in.
      signOut();
      return signInForm(`Signed out: ${e.message}`);
    }
    const box = h("div");
    view.append(box);
    notice(box, e.message);
  }
}

window.addEventListener("hashchange", draw);
draw();
