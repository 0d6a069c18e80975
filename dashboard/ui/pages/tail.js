// Live tail: an app's entries as they are accepted, over the `GET /tail` WebSocket (README, "Live
// tail"). A browser cannot set headers on a WebSocket, so each connection first gets a
// one-minute token with the key. Every message is acknowledged (the latest `n`, a few times a
// second: the hub counts what is unacknowledged and cuts off a client that falls 10,000 behind).
// After a drop the page reconnects with `last_id`, and marks where the hub reported a gap.
// Pausing stops drawing, not receiving: what arrives meanwhile is drawn on resume.

import { call, appParams, url } from "../api.js";
import { h, fill, time } from "../dom.js";
import { readFilters, tailParams } from "../filters.js";
import { pickApp, heading } from "./common.js";
import { filterForm } from "./filterform.js";
import { logTable } from "./rows.js";

/** Rows kept on the page; older ones are dropped as new ones arrive. */
const MAX_ROWS = 1000;
/** Entries held while paused, at most; past it the oldest go (and a gap is marked). */
const MAX_HELD = 10000;
const ACK_EVERY_MS = 250;
// How close together, in ms, entries are drawn as one batch.
const DRAW_EVERY_MS = 100;

export async function render(view, route) {
  const { app, picker } = await pickApp(route, "tail");
  const f = { ...readFilters(route.params), app };
  const state = h("span", { class: "badge none", role: "status" }, "connecting…");
  const pause = h("button", { type: "button", "aria-pressed": "false" }, "Pause");
  const held = h("span", { class: "muted", "aria-live": "polite" });
  view.append(heading("Live tail", picker, state), filterForm("tail", f, { withTime: false }),
    h("div", { class: "actions" }, pause, held));
  if (!app) return;
  const table = logTable(`Live entries of ${app}, newest first`, app);
  view.append(h("div", { class: "scroll" }, table.table));

  let ws = null;
  let lastId = null;
  let lastN = 0;
  let ackedN = 0;
  let closed = false;
  let paused = false;
  let retry = 0;
  let pending = [];
  let timers = [];
  const later = (fn, ms) => timers.push(setTimeout(fn, ms));

  const mark = (text) => {
    const row = h("tr", { class: "gap" }, h("td", { colspan: 5, role: "note" }, text));
    table.tbody.insertBefore(row, table.tbody.firstChild);
  };
  const trim = () => {
    const rows = table.tbody.rows;
    while (rows.length > MAX_ROWS) rows[rows.length - 1].remove();
  };
  const draw = () => {
    if (paused || !pending.length) return;
    // Newest first: the batch's last entry on top.
    table.add(pending.reverse(), { prepend: true });
    pending = [];
    trim();
  };
  const setState = (kind, text) => {
    state.className = `badge ${kind}`;
    fill(state, text);
  };

  const ack = () => {
    if (ws?.readyState === WebSocket.OPEN && lastN > ackedN) {
      ws.send(JSON.stringify({ type: "ack", n: lastN }));
      ackedN = lastN;
    }
  };
  const acking = setInterval(ack, ACK_EVERY_MS);
  const drawing = setInterval(draw, DRAW_EVERY_MS);

  const connect = async () => {
    if (closed) return;
    setState("none", retry ? `reconnecting (attempt ${retry})…` : "connecting…");
    let token;
    try {
      const p = new URLSearchParams(appParams(app));
      token = await call("POST", `tail/token${p.size ? `?${p}` : ""}`);
    } catch (e) {
      return drop(`could not get a token: ${e.message}`, e.status !== 401 && e.status !== 404);
    }
    if (closed) return;
    const u = url("tail");
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    u.searchParams.set("token", token.token);
    for (const [k, v] of tailParams(f)) u.searchParams.set(k, v);
    if (lastId) u.searchParams.set("last_id", lastId);
    const socket = new WebSocket(u);
    ws = socket;
    lastN = 0;
    ackedN = 0;
    socket.onmessage = ({ data }) => {
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return;
      }
      if (m.type === "ready") {
        retry = 0;
        setState("ok", "live");
        if (m.gap) mark(`Gap: entries between ${lastId ? "the last one shown" : "connecting"} and ${time(Date.now())} may be missing (the hub no longer held them).`);
        else if (m.resumed) mark(`Reconnected: ${m.resumed} missed entr${m.resumed === 1 ? "y" : "ies"} caught up.`);
      } else if (m.type === "log") {
        lastN = m.n;
        lastId = m.entry.id;
        pending.push(m.entry);
        if (pending.length > MAX_HELD) {
          pending.splice(0, pending.length - MAX_HELD);
          if (!paused) mark("Gap: entries came faster than they could be drawn.");
        }
        if (paused) fill(held, `${pending.length} new while paused`);
      }
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      // 4001: the app was deleted (or its key revoked): reconnecting cannot help.
      drop(ev.reason || `closed (${ev.code})`, ev.code !== 4001 && ev.code !== 1008);
    };
  };

  const drop = (why, again) => {
    if (closed) return;
    if (!again) return setState("bad", `disconnected: ${why}`);
    retry += 1;
    const wait = Math.min(15000, 500 * 2 ** Math.min(retry, 5));
    setState("bad", `disconnected (${why}); retrying in ${Math.round(wait / 1000)} s`);
    later(connect, wait);
  };

  pause.addEventListener("click", () => {
    paused = !paused;
    pause.setAttribute("aria-pressed", String(paused));
    fill(pause, paused ? "Resume" : "Pause");
    fill(held, paused ? "paused" : "");
    if (!paused) draw();
  });

  connect();
  return () => {
    closed = true;
    clearInterval(acking);
    clearInterval(drawing);
    timers.forEach(clearTimeout);
    ws?.close(1000, "left the page");
  };
}
