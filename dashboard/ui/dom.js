// Building the page. Log content is attacker-controlled (a message, a header value, a context
// field can be any text), so every value reaches the page as a text node or an attribute set
// through the DOM, never as markup: nothing here (or anywhere in the dashboard) assigns
// innerHTML, and scripts/check-repo refuses a change that does.

/** An element: `h("td", { class: "lvl" }, "text", child, ...)`. Attributes: `class`, `on*`
 *  handlers (functions), `dataset`, booleans (set when true) and strings; children: nodes,
 *  strings (as text), arrays of them, or null/false (left out). */
export function h(tag, attrs = {}, ...children) {
  const el = tag.startsWith("svg:")
    ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "value" && "value" in el) el.value = v;
    else if (k === "checked" || k === "selected") el[k] = Boolean(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces what `el` holds with `children`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A time in ms as the reader's local date and time, with milliseconds. */
export function time(ms) {
  if (ms === null || ms === undefined) return "—";
  const d = new Date(ms);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** How long ago `ms` was, roughly ("3 min ago"). */
export function ago(ms, now = Date.now()) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const number = (n) => (n ?? 0).toLocaleString("en-US");

/** A formatted JSON block (a `<pre>` of text). */
export const json = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));

/** The level as a badge. */
export const level = (name) => h("span", { class: `lvl lvl-${String(name).toLowerCase()}` }, name);

/** A message for the reader in `el` (an error in red, in an ARIA live region). */
export function notice(el, text, kind = "error") {
  fill(el, text ? h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text) : null);
}

/** A labelled form control: `<label>text <input ...></label>`. */
export const field = (label, control, hint) =>
  h("label", { class: "field" }, h("span", {}, label), control, hint ? h("small", {}, hint) : null);
