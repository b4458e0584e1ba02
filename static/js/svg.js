// A tiny kit for hand-made SVG charts: elements, linear scales, nice ticks, axes, and a slot that
// redraws its chart at the real width of its container (so text stays readable at any width).

import { fmt } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

/** `s("circle", {cx: 1, cy: 2, r: 3}, child)`: an SVG element; attributes null/undefined are left out. */
export function s(tag, attributes = {}, ...children) {
  const element = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    element.setAttribute(key, typeof value === "number" ? round(value) : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "object" ? child : document.createTextNode(String(child)));
  }
  return element;
}

const round = (value) => (Number.isFinite(value) ? Math.round(value * 100) / 100 : 0);

/** A linear map from `domain` [d0, d1] to `range` [r0, r1]; a degenerate domain maps to the middle. */
export function linear([d0, d1], [r0, r1]) {
  const span = d1 - d0;
  const scale = (value) => (span ? r0 + ((value - d0) * (r1 - r0)) / span : (r0 + r1) / 2);
  scale.range = [r0, r1];
  return scale;
}

/** About `count` round values between lo and hi: ticks(0, 1, 4) -> [0, 0.25, 0.5, 0.75, 1]. */
export function ticks(lo, hi, count = 5) {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((candidate) => candidate >= raw * 0.999);
  const values = [];
  for (let i = Math.ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i++) {
    values.push(Number((i * step).toPrecision(12)));
  }
  return values;
}

/** A domain padded by `fraction` of its span on each side, never degenerate. */
export function padded(lo, hi, fraction = 0.05) {
  if (!(hi > lo)) {
    const half = Math.abs(lo) * 0.1 || 1;
    return [lo - half, hi + half];
  }
  const pad = (hi - lo) * fraction;
  return [lo - pad, hi + pad];
}

/** A horizontal axis at height `y` with `values` as ticks, and an optional label below. */
export function axisBottom(scale, values, { y, format = (v) => fmt(v, 3), label }) {
  const [x0, x1] = scale.range;
  const g = s("g", { class: "axis" });
  g.append(s("line", { x1: x0, x2: x1, y1: y, y2: y, class: "domain" }));
  for (const value of values) {
    const x = scale(value);
    g.append(s("line", { x1: x, x2: x, y1: y, y2: y + 4 }));
    g.append(s("text", { x, y: y + 15, "text-anchor": "middle" }, format(value)));
  }
  if (label) g.append(s("text", { x: (x0 + x1) / 2, y: y + 31, "text-anchor": "middle", class: "axis-label" }, label));
  return g;
}

/** A vertical axis at `x` with horizontal grid lines across to `gridTo`, and a label on top. */
export function axisLeft(scale, values, { x, gridTo, format = (v) => fmt(v, 3), label }) {
  const [y0, y1] = scale.range;
  const g = s("g", { class: "axis" });
  for (const value of values) {
    const y = scale(value);
    if (gridTo !== undefined) g.append(s("line", { x1: x, x2: gridTo, y1: y, y2: y, class: "grid" }));
    g.append(s("line", { x1: x - 4, x2: x, y1: y, y2: y }));
    g.append(s("text", { x: x - 6, y: y + 4, "text-anchor": "end" }, format(value)));
  }
  g.append(s("line", { x1: x, x2: x, y1: y0, y2: y1, class: "domain" }));
  if (label) g.append(s("text", { x: 2, y: Math.min(y0, y1) - 10, class: "axis-label" }, label));
  return g;
}

/** An <svg> of this size, named for assistive technology by `label`. */
export function svgRoot(width, height, label) {
  return s("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label, class: "chart" }, s("title", {}, label));
}

/** A polyline path through [x, y] points ("M x y L x y ..."). */
export function pathOf(points) {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${round(x)} ${round(y)}`).join("");
}

/**
 * Holds one chart: `slot.update(data)` draws `draw(data, width)` at the container's width, and
 * the chart is drawn again with the same data whenever the container's width changes.
 */
export class ChartSlot {
  constructor(container, draw) {
    this.container = container;
    this.draw = draw;
    this.data = undefined;
    this.width = 0;
    new ResizeObserver(() => {
      const width = Math.floor(this.container.clientWidth);
      if (width && width !== this.width && this.data !== undefined) this.render();
    }).observe(container);
  }

  update(data) {
    this.data = data;
    this.render();
  }

  render() {
    const width = Math.floor(this.container.clientWidth);
    if (!width) return;
    this.width = width;
    this.container.replaceChildren(this.draw(this.data, width));
  }
}
