// The bandit panel: the arms' Beta posteriors, adding and removing arms, and a traffic
// simulator that serves and rewards from the browser.

import { Alerts, ApiError, api } from "./api.js";
import { betaPdf, densityCurve } from "./beta.js";
import { $, OKABE_ITO, count, fmt, h, pct } from "./dom.js";
import { ChartSlot, axisBottom, axisLeft, linear, pathOf, s, svgRoot, ticks } from "./svg.js";

// Okabe-Ito colours (distinguishable with colour-blindness); arms past 8 also get a dash pattern.
const PALETTE = [...OKABE_ITO, "#000000", "#8C8C8C"];
const DASHES = [null, "7 4", "2 3", "9 3 2 3"];
const armColour = (slot) => PALETTE[slot % PALETTE.length];
const armDash = (slot) => DASHES[Math.floor(slot / PALETTE.length) % DASHES.length];

// True click rates the simulator starts with, by arm order: different enough to find quickly.
const DEFAULT_CTRS = [0.04, 0.06, 0.05, 0.08, 0.03, 0.07, 0.02, 0.1];
const MAX_IN_FLIGHT = 4; // concurrent visitors: several workers serve at once

const ctrText = (value) => (value === 0 ? "0%" : pct(value, value < 0.1 ? 2 : 1));

export function setupBandit(live) {
  const alerts = new Alerts($("#bandit-alerts"));
  const densities = new ChartSlot($("#chart-densities"), drawDensities);
  const simulator = new Simulator(live, alerts);
  const armsBody = $("#arms-table tbody");

  live.subscribe((doc) => {
    $("#b-test").textContent = `#${doc.test}`;
    $("#b-impressions").textContent = count(doc.impressions);
    $("#b-clicks").textContent = `${count(doc.clicks)}${doc.impressions ? ` (${ctrText(doc.clicks / doc.impressions)})` : ""}`;
    $("#b-version").textContent = count(doc.version);
    const range = densityRange(doc.arms);
    densities.update({ doc, range });
    $("#densities-note").textContent = densityNote(range);
    renderArms(doc);
    simulator.arms(doc.arms);
  });

  // Rows are kept and updated in place (not rebuilt on every poll), so that a Remove button
  // does not vanish under the pointer while the simulator changes the counts.
  const armRows = new Map(); // "slot name" -> {row, cells}
  function renderArms(doc) {
    const rows = doc.arms.map((arm) => {
      const key = `${arm.slot} ${arm.name}`;
      if (!armRows.has(key)) {
        const cells = {
          counts: h("td", { class: "num" }),
          mean: h("td", { class: "num" }),
          propensity: h("td", { class: "num" }),
          share: h("td", { class: "num wide-only" }),
          remove: h("button", { type: "button", class: "remove", "aria-label": `Remove arm ${arm.name}`, title: `Remove arm ${arm.name}`, onclick: (event) => removeArm(arm.name, event.currentTarget) }, "✕"),
        };
        const row = h(
          "tr",
          { dataset: { arm: arm.name } },
          h("th", { scope: "row" }, swatch(arm.slot), h("span", { class: "arm-name" }, arm.name)),
          cells.counts, cells.mean, cells.propensity, cells.share, h("td", {}, cells.remove),
        );
        armRows.set(key, { row, cells });
      }
      const { row, cells } = armRows.get(key);
      cells.counts.textContent = `${count(arm.clicks)} / ${count(arm.impressions)}`;
      cells.mean.replaceChildren(ctrText(arm.mean), h("small", { class: "interval" }, `${ctrText(arm.interval[0])}–${ctrText(arm.interval[1])}`));
      cells.propensity.textContent = pct(arm.propensity, arm.propensity < 0.1 ? 1 : 0);
      cells.share.textContent = doc.recent_serves ? pct(arm.share, 0) : "–";
      cells.remove.disabled = doc.arms.length === 1; // the last arm cannot be removed
      return row;
    });
    const keep = new Set(doc.arms.map((arm) => `${arm.slot} ${arm.name}`));
    for (const key of armRows.keys()) if (!keep.has(key)) armRows.delete(key);
    rows.forEach((row, i) => {
      if (armsBody.children[i] !== row) armsBody.insertBefore(row, armsBody.children[i] ?? null);
    });
    while (armsBody.children.length > rows.length) armsBody.lastElementChild.remove();
  }

  async function removeArm(name, button) {
    try {
      await live.request("DELETE", `/api/bandit/arms/${encodeURIComponent(name)}`);
      alerts.resolve("remove-arm");
    } catch (error) {
      alerts.show(`Removing arm “${name}”`, error, { kind: "remove-arm", from: button });
    }
  }

  const form = $("#arm-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: $("#arm-name").value };
    const ctr = $("#arm-prior-ctr").value.trim();
    const weight = $("#arm-prior-n").value.trim();
    if (ctr !== "") body.prior_ctr = Number(ctr);
    if (weight !== "") body.prior_impressions = Number(weight);
    try {
      await live.request("POST", "/api/bandit/arms", body);
      alerts.resolve("add-arm");
      form.reset();
    } catch (error) {
      alerts.show(`Adding arm “${body.name}”`, error, { kind: "add-arm", from: form });
    }
  });

  $("#bandit-new-test").addEventListener("click", async (event) => {
    const button = event.currentTarget;
    const arms = (live.doc?.arms ?? []).map((arm) => ({ name: arm.name, prior_ctr: arm.prior.ctr, prior_impressions: arm.prior.impressions }));
    try {
      await live.request("POST", "/api/bandit/reset", { arms });
      alerts.resolve("new-test");
      simulator.clear();
    } catch (error) {
      alerts.show("Starting a new test", error, { kind: "new-test", from: button });
    }
  });
  return { simulator };
}

function swatch(slot) {
  const svg = s("svg", { width: 22, height: 10, class: "arm-swatch", "aria-hidden": "true" });
  svg.append(s("line", { x1: 1, x2: 21, y1: 5, y2: 5, stroke: armColour(slot), "stroke-width": 3, "stroke-dasharray": armDash(slot) }));
  return svg;
}

/** The x range that shows every arm's 95% interval, padded, within [0, 1]. */
function densityRange(arms) {
  let lo = Math.min(...arms.map((arm) => arm.interval[0]));
  let hi = Math.max(...arms.map((arm) => arm.interval[1]));
  const pad = Math.max((hi - lo) * 0.15, 1e-4);
  lo = Math.max(0, lo - pad);
  hi = Math.min(1, hi + pad);
  return [lo, hi];
}

function densityNote([lo, hi]) {
  const zoomed = lo > 0.001 || hi < 0.999;
  const where = zoomed ? `The x axis is zoomed to where the curves are: ${ctrText(lo)} to ${ctrText(hi)}. ` : "";
  return `${where}A narrow, tall curve is a confident belief; its peak is the most likely CTR. Dots mark each arm's mean.`;
}

let clipIds = 0;

function drawDensities({ doc, range: [lo, hi] }, width) {
  const height = width < 500 ? 220 : 250;
  const m = { left: 44, right: 12, top: 24, bottom: 44 };
  const span = hi - lo;
  const curves = doc.arms.map((arm) => densityCurve(arm.alpha, arm.beta, lo, hi, 240));
  // The top of the y axis: the highest peak. A curve with its peak at 0 or 1 (alpha or beta
  // below 1) rises without bound there; it is clipped rather than flattening the others.
  const peaks = curves.map((points, i) => {
    const { alpha, beta } = doc.arms[i];
    const inner = alpha >= 1 && beta >= 1 ? points : points.filter(([x]) => x > lo + span * 0.03 && x < hi - span * 0.03);
    return Math.max(0, ...inner.map(([, y]) => y).filter(Number.isFinite));
  });
  const top = Math.max(...peaks, 1e-9) * 1.12;
  const x = linear([lo, hi], [m.left, width - m.right]);
  const y = linear([0, top], [height - m.bottom, m.top]);
  const leader = doc.arms.reduce((best, arm) => (arm.mean > best.mean ? arm : best), doc.arms[0]);
  const svg = svgRoot(width, height, `Beta posteriors of ${doc.arms.length} arms; the highest estimated CTR is ${leader.name} at ${ctrText(leader.mean)}.`);
  svg.dataset.arms = doc.arms.length;
  const decimals = span < 0.004 ? 2 : span < 0.04 ? 1 : 0;
  svg.append(
    axisLeft(y, ticks(0, top, 4), { x: m.left, gridTo: width - m.right, label: "density (how strongly it believes)" }),
    axisBottom(x, ticks(lo, hi, Math.max(2, Math.floor(width / 75))), {
      y: height - m.bottom, format: (v) => pct(v, decimals), label: "click-through rate",
    }),
  );
  const id = `clip-densities-${++clipIds}`;
  svg.append(s("clipPath", { id }, s("rect", { x: m.left, y: m.top - 2, width: width - m.left - m.right, height: height - m.top - m.bottom + 2 })));
  const plot = s("g", { "clip-path": `url(#${id})` });
  const labels = [];
  doc.arms.forEach((arm, i) => {
    const points = curves[i].map(([cx, cy]) => [x(cx), y(Math.min(cy, top * 4))]);
    const colour = armColour(arm.slot);
    const base = y(0);
    const area = `${pathOf(points)}L${points.at(-1)[0]} ${base}L${points[0][0]} ${base}Z`;
    plot.append(s("path", { d: area, fill: colour, class: "density-area" }));
    const line = s("path", { d: pathOf(points), stroke: colour, "stroke-dasharray": armDash(arm.slot), class: "density" });
    line.dataset.arm = arm.name;
    line.dataset.alpha = arm.alpha;
    line.dataset.beta = arm.beta;
    line.append(s("title", {}, `${arm.name}: Beta(${fmt(arm.alpha, 4)}, ${fmt(arm.beta, 4)}), mean ${ctrText(arm.mean)}`));
    plot.append(line);
    const meanY = y(Math.min(betaPdf(arm.mean, arm.alpha, arm.beta), top));
    plot.append(s("circle", { cx: x(arm.mean), cy: meanY, r: 3.5, fill: colour, class: "mean-dot" }));
    labels.push({ name: arm.name, x: x(arm.mean), y: Math.max(meanY - 9, m.top + 10), colour });
  });
  svg.append(plot);
  // Name each curve at its peak, nudging labels up or down so that they do not overlap.
  labels.sort((p, q) => p.y - q.y);
  const placed = [];
  for (const label of labels) {
    const half = (label.name.length * 7) / 2 + 4;
    label.x = Math.min(Math.max(label.x, m.left + half), width - m.right - half);
    let tries = 0;
    while (tries++ < 12 && placed.some((other) => Math.abs(other.x - label.x) < half + other.half && Math.abs(other.y - label.y) < 13)) {
      label.y += 13;
    }
    label.half = half;
    placed.push(label);
    svg.append(s("text", { x: label.x, y: Math.min(label.y, height - m.bottom - 4), "text-anchor": "middle", class: "curve-label", style: `fill: ${label.colour}` }, label.name));
  }
  return svg;
}

// --- the simulator --------------------------------------------------------------------------

class Simulator {
  constructor(live, alerts) {
    this.live = live;
    this.alerts = alerts;
    this.ctr = new Map(); // arm name -> true CTR
    this.names = [];
    this.running = false;
    this.inFlight = 0;
    this.timer = 0;
    this.chart = new ChartSlot($("#chart-sim"), drawSimulation);
    this.status = $("#sim-status");
    this.body = $("#sim-table tbody");
    this.speed = $("#sim-speed");
    this.start = $("#sim-start");
    this.stop = $("#sim-stop");
    this.start.addEventListener("click", () => this.run());
    this.stop.addEventListener("click", () => this.halt());
    $("#sim-clear").addEventListener("click", () => this.clear());
    $("#sim-form").addEventListener("submit", (event) => event.preventDefault());
    this.speed.addEventListener("change", () => this.restartClock());
    this.clear();
  }

  clear() {
    this.visitors = 0;
    this.clicks = 0;
    this.uniform = 0; // clicks a uniform split would expect over the same visitors
    this.best = 0; // clicks showing only the best arm would expect
    this.refused = 0;
    this.lastRefusal = "";
    this.perArm = new Map();
    this.series = [[0, 0, 0, 0]];
    this.every = 1;
    this.restartClock();
    this.draw();
  }

  restartClock() {
    this.t0 = performance.now();
    this.launched = 0;
  }

  /** The arms changed (or the document did): keep one row with a true-CTR input per arm. */
  arms(arms) {
    const names = arms.map((arm) => arm.name);
    arms.forEach((arm, i) => {
      if (!this.ctr.has(arm.name)) this.ctr.set(arm.name, DEFAULT_CTRS[(arm.slot ?? i) % DEFAULT_CTRS.length]);
    });
    if (names.join("\n") !== this.names.join("\n")) {
      this.names = names;
      this.body.replaceChildren(
        ...arms.map((arm, i) => {
          const input = h("input", {
            type: "number", min: 0, max: 1, step: 0.005, inputmode: "decimal", value: this.ctr.get(arm.name),
            id: `sim-ctr-${i}`, "aria-label": `True CTR of arm ${arm.name}`,
          });
          input.addEventListener("input", () => {
            const value = Number(input.value);
            if (input.value.trim() !== "" && value >= 0 && value <= 1) this.ctr.set(arm.name, value);
          });
          return h(
            "tr",
            { dataset: { arm: arm.name } },
            h("th", { scope: "row" }, swatch(arm.slot), h("label", { for: `sim-ctr-${i}`, class: "arm-name" }, arm.name)),
            h("td", {}, input),
            h("td", { class: "num shown" }, "0"),
            h("td", { class: "num clicks" }, "0"),
          );
        }),
      );
    }
    this.drawCounts();
  }

  invalidCtrs() {
    return [...this.body.querySelectorAll("input")].filter((input) => {
      const value = Number(input.value);
      return input.value.trim() === "" || !(value >= 0 && value <= 1);
    });
  }

  run() {
    const invalid = this.invalidCtrs();
    if (invalid.length) {
      const names = invalid.map((input) => input.closest("tr").dataset.arm);
      const error = new Error(`each true CTR must be a number from 0 to 1 (${names.join(", ")})`);
      this.alerts.show("Starting the simulator", error, { kind: "simulator", from: this.start, returnTo: invalid[0] });
      return;
    }
    this.running = true;
    this.resolved = false; // the simulator's errors go with its first good visit
    this.start.disabled = true;
    this.stop.disabled = false;
    this.restartClock();
    this.timer = setInterval(() => this.pump(), 40);
    this.pump();
    this.draw();
  }

  halt() {
    this.running = false;
    clearInterval(this.timer);
    this.start.disabled = false;
    this.stop.disabled = true;
    this.draw();
  }

  /** Start as many visits as the speed asks for, keeping at most MAX_IN_FLIGHT at once. */
  pump() {
    if (!this.running) return;
    const rate = Number(this.speed.value);
    let due = Math.floor(((performance.now() - this.t0) * rate) / 1000) - this.launched;
    if (due > rate) {
      // the server (or a background tab) fell behind: do not try to catch up in one rush
      this.t0 = performance.now() - (this.launched * 1000) / rate;
      due = 1;
    }
    while (due-- > 0 && this.inFlight < MAX_IN_FLIGHT) {
      this.launched += 1;
      this.visit();
    }
    if (performance.now() - this.drawn > 400) this.draw();
  }

  async visit() {
    this.inFlight += 1;
    try {
      const served = await api("POST", "/api/bandit/serve");
      const ctrs = this.names.map((name) => this.ctr.get(name) ?? 0);
      const clicked = Math.random() < (this.ctr.get(served.arm) ?? 0);
      this.visitors += 1;
      this.uniform += ctrs.reduce((sum, value) => sum + value, 0) / Math.max(ctrs.length, 1);
      this.best += Math.max(0, ...ctrs);
      const arm = this.perArm.get(served.arm) ?? { shown: 0, clicks: 0 };
      arm.shown += 1;
      this.perArm.set(served.arm, arm);
      await api("POST", "/api/bandit/reward", { ticket: served.ticket, clicked });
      if (!this.resolved) {
        this.resolved = true;
        this.alerts.resolve("simulator");
      }
      if (clicked) {
        this.clicks += 1;
        arm.clicks += 1;
      }
      if (this.visitors % this.every === 0) {
        this.series.push([this.visitors, this.clicks, this.uniform, this.best]);
        if (this.series.length > 400) {
          this.series = this.series.filter((_, i) => i % 2 === 0);
          this.every *= 2;
        }
      }
    } catch (error) {
      // Editing the arms or starting a new test while visitors are in flight voids their
      // tickets (410) or makes a serve retry (503): expected, so counted, not alarmed about.
      if (error instanceof ApiError && (error.status === 410 || error.status === 503)) {
        this.refused += 1;
        this.lastRefusal = error.message;
      } else {
        if (this.running) this.alerts.show("The traffic simulator", error, { kind: "simulator" });
        this.halt();
      }
    } finally {
      this.inFlight -= 1;
      if (this.running) this.pump(); // the next visitor may be due already
      else if (this.inFlight === 0) this.draw(); // the last ones after a stop
    }
  }

  drawCounts() {
    for (const row of this.body.children) {
      const arm = this.perArm.get(row.dataset.arm) ?? { shown: 0, clicks: 0 };
      row.querySelector(".shown").textContent = count(arm.shown);
      row.querySelector(".clicks").textContent = count(arm.clicks);
    }
  }

  draw() {
    this.drawn = performance.now();
    const points = [...this.series];
    if (points.at(-1)[0] !== this.visitors) points.push([this.visitors, this.clicks, this.uniform, this.best]);
    this.chart.update(points);
    this.drawCounts();
    const elapsed = (performance.now() - this.t0) / 1000;
    const head = this.running
      ? `Running (${this.speed.selectedOptions[0].textContent}${elapsed > 2 ? `, ${fmt(this.launched / elapsed, 2)} reached` : ""}).`
      : this.visitors ? "Stopped." : "Not running.";
    let body = "";
    if (this.visitors) {
      const gain = this.uniform > 0 ? (this.clicks / this.uniform - 1) * 100 : 0;
      body =
        ` ${count(this.visitors)} visitors, ${count(this.clicks)} clicks. A uniform split would expect ${fmt(this.uniform, 3)}` +
        ` (the bandit: ${gain >= 0 ? "+" : "−"}${Math.abs(gain).toFixed(0)}%); showing only the best arm, ${fmt(this.best, 3)}.`;
    }
    const refused = this.refused ? ` ${count(this.refused)} visits were void because the arms or the test changed meanwhile (${this.lastRefusal}).` : "";
    this.status.textContent = head + body + refused;
  }
}

function drawSimulation(series, width) {
  const height = 200;
  const m = { left: 48, right: 14, top: 24, bottom: 42 };
  const last = series.at(-1);
  const xMax = Math.max(last[0], 10);
  const yMax = Math.max(last[1], last[2], last[3], 1) * 1.08;
  const x = linear([0, xMax], [m.left, width - m.right]);
  const y = linear([0, yMax], [height - m.bottom, m.top]);
  const svg = svgRoot(width, height, `Cumulative clicks: the bandit ${count(last[1])}, a uniform split ${fmt(last[2], 3)} expected, the best arm ${fmt(last[3], 3)} expected, over ${count(last[0])} visitors.`);
  svg.dataset.visitors = last[0];
  svg.append(
    axisLeft(y, ticks(0, yMax, 4), { x: m.left, gridTo: width - m.right, format: (v) => count(v), label: "clicks (cumulative)" }),
    axisBottom(x, ticks(0, xMax, Math.max(2, Math.floor(width / 80))).filter(Number.isInteger), { y: height - m.bottom, format: count, label: "simulated visitors" }),
  );
  const line = (index, cls) => s("path", { d: pathOf(series.map((point) => [x(point[0]), y(point[index])])), class: `series ${cls}` });
  svg.append(line(3, "best"), line(2, "uniform"), line(1, "bandit"));
  return svg;
}
