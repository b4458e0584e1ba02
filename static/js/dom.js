// Small DOM and number-formatting helpers shared by the panels.

/** `h("button", {class: "x", onclick: f}, "text", child)`: an HTML element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

/** The Okabe-Ito colours (distinguishable with colour-blindness) that the bandit's arms and the workers' pids share. */
export const OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** The integer in `input` if it is one from `lo` to `hi`, else null. */
export function wholeNumber(input, lo, hi) {
  const n = Number(input.value);
  return Number.isInteger(n) && n >= lo && n <= hi ? n : null;
}

const MINUS = "\u2212";

/** A number with `digits` significant decimals and a real minus sign: fmt(-0.0849, 2) -> "−0.085". */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return value > 0 ? "∞" : `${MINUS}∞`;
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  let text;
  if (magnitude >= 1e6 || magnitude < 1e-4) text = magnitude.toExponential(Math.max(digits - 1, 0));
  else if (magnitude >= 1000) text = Math.round(magnitude).toLocaleString("en-US");
  else text = String(Number(magnitude.toPrecision(digits)));
  return (value < 0 ? MINUS : "") + text;
}

/** A signed number: "+0.12" or "−0.12". */
export function signed(value, digits = 2) {
  const text = fmt(value, digits);
  return value > 0 ? `+${text}` : text;
}

/** A share as a percentage: pct(0.4615) -> "46%", pct(0.0123, 1) -> "1.2%". */
export function pct(value, decimals = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return `${(value * 100).toFixed(decimals)}%`;
}

/** A count with thousands separators. */
export const count = (value) => (value ?? 0).toLocaleString("en-US");

/** "3 s ago", "4 min ago", "2 h ago" for a Unix time in seconds. */
export function ago(unixSeconds) {
  const seconds = Math.max(0, Date.now() / 1000 - unixSeconds);
  if (seconds < 90) return `${Math.round(seconds)} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 48 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} days ago`;
}
