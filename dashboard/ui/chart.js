// Charts as SVG built from numbers: a stacked bar per day and level, and a line of latencies.
// Colours come from the stylesheet (classes), so light and dark follow prefers-color-scheme.

import { h, number } from "./dom.js";
import { LEVELS } from "./filters.js";

const W = 720;
const H = 220;
const PAD = { left: 48, right: 8, top: 12, bottom: 28 };

/** A rounded-up axis maximum (1, 2 or 5 times a power of ten). */
export function niceMax(n) {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= n);
}

/** `days`: the stats API's `[{date, total, levels}]`, oldest first. */
export function levelBars(days, title) {
  const max = niceMax(Math.max(0, ...days.map((d) => d.total)));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const step = plotW / Math.max(1, days.length);
  const barW = Math.max(1, step * 0.8);
  const y = (v) => PAD.top + plotH - (v / max) * plotH;
  const labelEvery = Math.ceil(days.length / 10);
  const bars = days.map((d, i) => {
    let base = 0;
    const x = PAD.left + i * step + (step - barW) / 2;
    const segs = LEVELS.map((l) => {
      const n = d.levels?.[l] ?? 0;
      if (!n) return null;
      const r = h("svg:rect", {
        class: `bar-${l.toLowerCase()}`, x, width: barW, y: y(base + n), height: y(base) - y(base + n),
      });
      base += n;
      return r;
    });
    const tip = `${d.date}: ${number(d.total)} (` + LEVELS.map((l) => `${l} ${number(d.levels?.[l])}`).join(", ") + ")";
    return h("svg:g", { class: "day" },
      h("svg:title", {}, tip),
      // A transparent full-height target, so the tooltip shows on empty days too.
      h("svg:rect", { class: "hit", x: PAD.left + i * step, width: step, y: PAD.top, height: plotH }),
      segs,
      i % labelEvery === 0
        ? h("svg:text", { class: "axis", x: x + barW / 2, y: H - 8, "text-anchor": "middle" }, d.date.slice(5))
        : null);
  });
  const grid = [0, 0.5, 1].map((f) => h("svg:g", {},
    h("svg:line", { class: "grid", x1: PAD.left, x2: W - PAD.right, y1: y(max * f), y2: y(max * f) }),
    h("svg:text", { class: "axis", x: PAD.left - 6, y: y(max * f) + 4, "text-anchor": "end" }, number(max * f))));
  return h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title },
    h("svg:title", {}, title), grid, bars);
}

/** Latencies (ms) of checks, oldest first; a failed check is a red dot. */
export function latencyLine(points, title) {
  const w = 320, hh = 64, pad = 6;
  const max = niceMax(Math.max(1, ...points.map((p) => p.latency_ms ?? 0)));
  const x = (i) => pad + (points.length < 2 ? 0 : (i / (points.length - 1)) * (w - 2 * pad));
  const y = (v) => hh - pad - ((v ?? 0) / max) * (hh - 2 * pad);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.latency_ms).toFixed(1)}`).join(" ");
  return h("svg:svg", { viewBox: `0 0 ${w} ${hh}`, class: "spark", role: "img", "aria-label": title },
    h("svg:title", {}, `${title} (axis up to ${number(max)} ms)`),
    points.length > 1 ? h("svg:path", { class: "line", d: path }) : null,
    points.map((p, i) => h("svg:circle", { class: p.ok ? "dot ok" : "dot bad", cx: x(i), cy: y(p.latency_ms), r: 2.5 },
      h("svg:title", {}, `${new Date(p.checked_at).toISOString()}: ${p.ok ? "ok" : "failed"} ${p.status ?? ""} ${p.latency_ms ?? "?"} ms`))));
}
