// The perceptron panel: letter tiles, training, reset, accuracy against LDA, and its charts.

import { Alerts } from "./api.js";
import { $, $$, count, fmt, h, pct, signed, wholeNumber } from "./dom.js";
import { ChartSlot, axisBottom, axisLeft, linear, padded, pathOf, s, svgRoot, ticks } from "./svg.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
const VOWELS = "aeiouy";
const CONSONANTS = [...ALPHABET].filter((letter) => !VOWELS.includes(letter)).join("");
const MAX_LETTERS = 4096;

/** `n` letters drawn uniformly at random, as one string. */
export const randomLetters = (n) => Array.from({ length: n }, () => ALPHABET[Math.floor(Math.random() * ALPHABET.length)]).join("");

export function setupPerceptron(live) {
  const alerts = new Alerts($("#perceptron-alerts"));
  const lesson = $("#p-lesson");
  const tiles = new Map();
  const container = $("#tiles");
  for (const letter of ALPHABET) {
    const tile = h(
      "button",
      { type: "button", class: `tile ${VOWELS.includes(letter) ? "vowel" : "consonant"}`, dataset: { letter } },
      h("span", { class: "t-letter" }, letter),
      h("span", { class: "t-truth", "aria-hidden": "true" }, VOWELS.includes(letter) ? "●" : "■"),
      h("span", { class: "t-guess" }, "…"),
      h("span", { class: "t-margin", "aria-hidden": "true" }, h("span", { class: "t-bar" })),
      h("span", { class: "t-num" }),
    );
    tile.addEventListener("click", () => train(letter, tile));
    tiles.set(letter, tile);
    container.append(tile);
  }

  // Type a letter anywhere (outside a form field) to train it.
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.repeat || event.isComposing) return;
    const target = event.target;
    if (target.closest?.("input, textarea, select, [contenteditable]")) return;
    if (/^[a-zA-Z]$/.test(event.key)) train(event.key.toLowerCase(), target);
  });

  // Batches.
  const batches = { alphabet: ALPHABET, vowels: VOWELS, consonants: CONSONANTS };
  for (const button of $$("[data-batch]")) {
    button.addEventListener("click", () => train(batches[button.dataset.batch], button));
  }
  $("#random-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const n = wholeNumber($("#random-count"), 1, MAX_LETTERS);
    if (n === null) {
      const error = new Error(`enter a whole number of letters from 1 to ${MAX_LETTERS}`);
      alerts.show("Training random letters", error, { kind: "train", from: event.target });
      return;
    }
    train(randomLetters(n), event.target);
  });

  // Reset: the form shows the model's settings, unless the person is editing them.
  const form = $("#reset-form");
  const fields = { dim: $("#reset-dim"), seed: $("#reset-seed"), learning_rate: $("#reset-rate") };
  for (const input of Object.values(fields)) input.addEventListener("input", () => (input.dataset.dirty = "1"));
  $("#reset-seed-random").addEventListener("click", () => {
    fields.seed.value = Math.floor(Math.random() * 2 ** 32);
    fields.seed.dataset.dirty = "1";
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    // The server checks the values and says what is wrong, so nothing is refused here; an empty
    // field is left out, which keeps the current setting.
    const body = {};
    for (const [key, input] of Object.entries(fields)) {
      const raw = input.value.trim();
      if (raw !== "") body[key] = Number(raw);
    }
    try {
      const doc = await live.request("POST", "/api/perceptron/reset", body);
      for (const input of Object.values(fields)) delete input.dataset.dirty;
      alerts.resolve("reset");
      lesson.textContent = `Started over: dimension ${doc.dim}, seed ${doc.seed}, learning rate ${fmt(doc.learning_rate, 6)} (version ${count(doc.version)}).`;
    } catch (error) {
      alerts.show("Resetting the model", error, { kind: "reset", from: form });
    }
  });

  /** Train `letters`; `from` is the control (or element) the person used, for an error. */
  async function train(letters, from = null) {
    const before = live.doc;
    for (const letter of new Set(letters)) flash(tiles.get(letter));
    try {
      const doc = await live.request("POST", "/api/perceptron/train", { letters });
      alerts.resolve("train");
      lesson.textContent = describeLesson(before, doc, letters);
    } catch (error) {
      const what = letters.length === 1 ? `Training “${letters}”` : `Training ${letters.length} letters`;
      alerts.show(what, error, { kind: "train", from });
    }
  }

  // Charts.
  const charts = {
    accuracy: new ChartSlot($("#chart-accuracy"), drawAccuracy),
    perceptron: new ChartSlot($("#chart-proj-perceptron"), drawStrip),
    lda: new ChartSlot($("#chart-proj-lda"), drawStrip),
    margins: new ChartSlot($("#chart-margins"), drawMargins),
    weights: new ChartSlot($("#chart-weights"), drawWeights),
  };

  live.subscribe((doc) => {
    renderSummary(doc);
    renderTiles(doc, tiles);
    for (const [key, input] of Object.entries(fields)) {
      if (!input.dataset.dirty && document.activeElement !== input) input.value = doc[key];
    }
    const truth = doc.letters.map((row) => row.vowel);
    charts.accuracy.update({ history: doc.history, lda: doc.lda_accuracy });
    charts.perceptron.update({
      values: doc.projections.perceptron.values, threshold: doc.projections.perceptron.threshold, truth,
      name: "perceptron", axis: "position along w / ‖w‖",
    });
    charts.lda.update({
      values: doc.projections.lda.values, threshold: doc.projections.lda.threshold, truth,
      name: "LDA", axis: "position along the LDA direction",
    });
    charts.margins.update(doc.letters);
    charts.weights.update({ weights: doc.weights, bias: doc.bias });
  });
}

function flash(tile) {
  if (!tile) return;
  tile.classList.remove("trained");
  void tile.offsetWidth; // restart the animation
  tile.classList.add("trained");
}

function describeLesson(before, doc, letters) {
  const version = `version ${count(doc.version)}`;
  const exact = before && doc.version === before.version + 1 && before.dim === doc.dim;
  if (letters.length === 1) {
    const letter = letters;
    const kind = VOWELS.includes(letter) ? "vowel" : "consonant";
    const now = doc.letters[ALPHABET.indexOf(letter)];
    const nowSays = now.predicted ? "vowel" : "consonant";
    const result = now.predicted === now.vowel ? `now it says ${nowSays} ✓` : `it still says ${nowSays} ✗: train it again`;
    if (!exact) return `Trained “${letter}” (${version}); ${result}.`;
    if (doc.mistakes > before.mistakes) {
      const toward = now.vowel ? "toward" : "away from";
      return `“${letter}” is a ${kind}, but the perceptron said otherwise: a mistake, so w moved ${toward} “${letter}”; ${result} (${version}).`;
    }
    return `“${letter}” was already right (a ${kind}): nothing to learn, w did not change (${version}).`;
  }
  if (!exact) return `Trained ${letters.length} letters (${version}).`;
  const mistakes = doc.mistakes - before.mistakes;
  return `Trained ${letters.length} letters: ${mistakes} ${mistakes === 1 ? "mistake" : "mistakes"}, so w changed ${mistakes} ${mistakes === 1 ? "time" : "times"} (${version}).`;
}

function renderSummary(doc) {
  const right = doc.letters.filter((row) => row.predicted === row.vowel).length;
  $("#p-accuracy").textContent = `${pct(doc.accuracy)} (${right} of 26)`;
  $("#p-accuracy-bar").style.width = pct(doc.accuracy, 2);
  $("#p-lda").textContent = pct(doc.lda_accuracy);
  $("#p-lda-bar").style.width = pct(doc.lda_accuracy, 2);
  $("#p-version").textContent = count(doc.version);
  $("#p-updates").textContent = count(doc.updates);
  $("#p-mistakes").textContent = count(doc.mistakes);
  $("#p-config").textContent = `dimension ${doc.dim} · seed ${doc.seed} · learning rate ${fmt(doc.learning_rate, 6)}`;
}

function renderTiles(doc, tiles) {
  const largest = Math.max(...doc.letters.map((row) => Math.abs(row.margin)), 1e-12);
  for (const row of doc.letters) {
    const tile = tiles.get(row.letter);
    const correct = row.predicted === row.vowel;
    const says = row.predicted ? "vowel" : "consonant";
    tile.dataset.predicted = says;
    tile.dataset.correct = String(correct);
    tile.classList.toggle("wrong", !correct);
    tile.querySelector(".t-guess").textContent = `says ${row.predicted ? "V" : "C"} ${correct ? "✓" : "✗"}`;
    tile.querySelector(".t-num").textContent = signed(row.margin, 2);
    const bar = tile.querySelector(".t-bar");
    const share = (Math.abs(row.margin) / largest) * 50;
    bar.style.width = `${share}%`;
    bar.style.left = row.margin >= 0 ? "50%" : `${50 - share}%`;
    bar.classList.toggle("negative", row.margin < 0);
    const label = `${row.letter}: ${row.vowel ? "vowel" : "consonant"}; the perceptron says ${says} (${correct ? "right" : "wrong"}); margin ${signed(row.margin, 3)}. Press to train it.`;
    tile.setAttribute("aria-label", label);
    tile.title = label;
  }
}

// --- charts ---------------------------------------------------------------------------------

function drawAccuracy({ history, lda }, width) {
  const height = 190;
  const m = { left: 44, right: 46, top: 24, bottom: 42 };
  const xs = history.map(([updates]) => updates);
  const [x0, x1] = xs.length > 1 && xs.at(-1) > xs[0] ? [xs[0], xs.at(-1)] : [xs[0] ?? 0, (xs[0] ?? 0) + 1];
  const x = linear([x0, x1], [m.left, width - m.right]);
  const y = linear([0, 1], [height - m.bottom, m.top]);
  const last = history.at(-1);
  const label = `Accuracy over updates: ${pct(last?.[1])} after ${count(last?.[0])} letters; LDA reaches ${pct(lda)}.`;
  const svg = svgRoot(width, height, label);
  svg.dataset.points = history.length;
  svg.append(
    axisLeft(y, [0, 0.25, 0.5, 0.75, 1], { x: m.left, gridTo: width - m.right, format: (v) => pct(v), label: "accuracy" }),
    axisBottom(x, ticks(x0, x1, Math.max(2, Math.floor(width / 90))).filter(Number.isInteger), {
      y: height - m.bottom, format: count, label: "letters learned since the last reset",
    }),
  );
  const ly = y(lda);
  svg.append(s("line", { x1: m.left, x2: width - m.right, y1: ly, y2: ly, class: "ref lda" }));
  svg.append(s("text", { x: m.left + 6, y: lda > 0.85 ? ly + 14 : ly - 5, class: "ref-label" }, `LDA ${pct(lda)}`));
  const points = history.map(([u, a]) => [x(u), y(a)]);
  svg.append(s("path", { d: pathOf(points), class: "series acc" }));
  if (history.length <= 80) for (const [px, py] of points) svg.append(s("circle", { cx: px, cy: py, r: 2.5, class: "dot acc" }));
  if (last) {
    // the latest accuracy, just right of the line's end
    const [px, py] = points.at(-1);
    svg.append(s("text", { x: px + 5, y: py + 4, class: "value-label" }, pct(last[1])));
  }
  return svg;
}

const STACK_HEIGHT = 200; // px: beyond this, stacked markers overlap a little rather than grow the plot

/** Letters as markers along one direction, stacked in lanes so that they do not overlap. */
function drawStrip({ values, threshold, truth, name, axis }, width) {
  const r = 9;
  const m = { left: 10, right: 10, top: 34, bottom: 42 };
  const [lo, hi] = padded(Math.min(...values, threshold), Math.max(...values, threshold), 0.03);
  const x = linear([lo, hi], [m.left + r, width - m.right - r]);
  const order = values.map((_, i) => i).sort((i, j) => values[i] - values[j]);
  const ends = [];
  const laneOf = [];
  for (const i of order) {
    const px = x(values[i]);
    let k = ends.findIndex((end) => px - end >= 2 * r + 1);
    if (k < 0) k = ends.length;
    ends[k] = px;
    laneOf[i] = k;
  }
  // Many letters at one spot (LDA in many dimensions projects each class to one point) need many
  // lanes: then the lanes get closer, so that every letter stays visible.
  const lane = Math.max(14, Math.min(2 * r + 4, STACK_HEIGHT / ends.length));
  const plotTop = m.top;
  const plotBottom = m.top + (ends.length - 1) * lane + 2 * r + 8;
  const height = plotBottom + m.bottom;
  const right = values.filter((v, i) => v > threshold === truth[i]).length;
  const svg = svgRoot(width, height, `Letters projected for the ${name}: ${right} of 26 on their correct side of the threshold.`);
  svg.dataset.correct = right;
  const tx = x(threshold);
  svg.append(
    s("rect", { x: m.left, y: plotTop, width: Math.max(0, tx - m.left), height: plotBottom - plotTop, class: "region consonant" }),
    s("rect", { x: tx, y: plotTop, width: Math.max(0, width - m.right - tx), height: plotBottom - plotTop, class: "region vowel" }),
    s("text", { x: m.left, y: 12, class: "region-label" }, "◀ called consonant"),
    s("text", { x: width - m.right, y: 12, "text-anchor": "end", class: "region-label" }, "called vowel ▶"),
    s("line", { x1: tx, x2: tx, y1: plotTop - 8, y2: plotBottom, class: "threshold" }),
    s("text", { x: Math.min(Math.max(tx, m.left + 30), width - m.right - 30), y: plotTop - 11, "text-anchor": "middle", class: "threshold-label" }, "threshold"),
    axisBottom(x, ticks(lo, hi, Math.max(2, Math.floor(width / 80))), { y: plotBottom, label: axis }),
  );
  // lower lanes first, so that where markers overlap, each letter's own text stays uncovered
  const drawOrder = values.map((_, i) => i).sort((i, j) => laneOf[j] - laneOf[i]);
  for (const i of drawOrder) {
    const value = values[i];
    const cx = x(value);
    const cy = plotTop + 3 + laneOf[i] * lane + r;
    const vowel = truth[i];
    const wrong = value > threshold !== vowel;
    const shape = vowel
      ? s("circle", { cx, cy, r })
      : s("rect", { x: cx - r + 0.5, y: cy - r + 0.5, width: 2 * r - 1, height: 2 * r - 1, rx: 2 });
    const g = s("g", { class: `marker ${vowel ? "vowel" : "consonant"}${wrong ? " wrong" : ""}` }, shape, s("text", { x: cx, y: cy + 4, "text-anchor": "middle" }, ALPHABET[i]));
    g.append(s("title", {}, `${ALPHABET[i]} (${vowel ? "vowel" : "consonant"}): ${fmt(value, 3)}${wrong ? ", on the wrong side" : ""}`));
    svg.append(g);
  }
  return svg;
}

function drawMargins(letters, width) {
  const height = 190;
  const m = { left: 48, right: 8, top: 24, bottom: 26 };
  const largest = Math.max(...letters.map((row) => Math.abs(row.margin)), 1e-12) * 1.12;
  const y = linear([-largest, largest], [height - m.bottom, m.top]);
  const step = (width - m.left - m.right) / 26;
  const wrong = letters.filter((row) => row.predicted !== row.vowel).length;
  const svg = svgRoot(width, height, `Margins of the 26 letters: ${wrong} on the wrong side of the boundary.`);
  svg.append(axisLeft(y, ticks(-largest, largest, 4), { x: m.left, gridTo: width - m.right, label: "margin (above 0: called vowel)" }));
  const zero = y(0);
  svg.append(s("line", { x1: m.left, x2: width - m.right, y1: zero, y2: zero, class: "zero" }));
  letters.forEach((row, i) => {
    const cx = m.left + step * (i + 0.5);
    const top = Math.min(zero, y(row.margin));
    const bad = row.predicted !== row.vowel;
    const barWidth = Math.max(2, step * 0.7);
    const g = s("g", { class: `bar ${row.vowel ? "vowel" : "consonant"}${bad ? " wrong" : ""}` });
    g.append(s("rect", { x: cx - barWidth / 2, y: top, width: barWidth, height: Math.max(1, Math.abs(y(row.margin) - zero)) }));
    g.append(s("text", { x: cx, y: height - 8, "text-anchor": "middle", class: "tick-letter" }, row.letter));
    if (bad) {
      const ty = row.margin >= 0 ? y(row.margin) - 3 : y(row.margin) + 11;
      g.append(s("text", { x: cx, y: ty, "text-anchor": "middle", class: "wrong-mark" }, "✗"));
    }
    g.append(s("title", {}, `${row.letter} (${row.vowel ? "vowel" : "consonant"}): margin ${signed(row.margin, 3)}${bad ? ", wrong side" : ""}`));
    svg.append(g);
  });
  return svg;
}

function drawWeights({ weights, bias }, width) {
  const height = 170;
  const m = { left: 48, right: 10, top: 24, bottom: 42 };
  const n = weights.length;
  const largest = Math.max(...weights.map(Math.abs), Math.abs(bias), 1e-12) * 1.1;
  const x = linear([0, n], [m.left, width - m.right]); // dimension i's bar spans i to i + 1
  const centre = linear([-0.5, n - 0.5], [m.left, width - m.right]); // and is centred at i
  const y = linear([-largest, largest], [height - m.bottom, m.top]);
  const norm = Math.sqrt(weights.reduce((sum, w) => sum + w * w, 0));
  const svg = svgRoot(width, height, `Weight vector: ${n} weights, norm ${fmt(norm, 3)}, bias ${fmt(bias, 3)}.`);
  svg.dataset.count = n;
  const tickValues = ticks(0, n - 1, Math.max(2, Math.floor(width / 70))).filter(Number.isInteger);
  svg.append(
    axisLeft(y, ticks(-largest, largest, 4), { x: m.left, gridTo: width - m.right, label: "weight" }),
    axisBottom(centre, tickValues, { y: height - m.bottom, format: String, label: `dimension (0 to ${n - 1})` }),
  );
  const zero = y(0);
  const step = (width - m.left - m.right) / n;
  if (step >= 3) {
    const gap = step > 6 ? step * 0.2 : 1;
    weights.forEach((w, i) => {
      const rect = s("rect", { x: x(i) + gap / 2, y: Math.min(zero, y(w)), width: step - gap, height: Math.max(0.5, Math.abs(y(w) - zero)), class: "weight" });
      rect.append(s("title", {}, `w[${i}] = ${fmt(w, 4)}`));
      svg.append(rect);
    });
  } else {
    // too many dimensions for bars: one vertical stroke per weight, in one path
    const d = weights.map((w, i) => `M${x(i + 0.5).toFixed(1)} ${zero.toFixed(1)}V${y(w).toFixed(1)}`).join("");
    svg.append(s("path", { d, class: "weight-lines" }));
  }
  svg.append(s("line", { x1: m.left, x2: width - m.right, y1: zero, y2: zero, class: "zero" }));
  svg.append(s("text", { x: width - m.right, y: 12, "text-anchor": "end", class: "value-label" }, `bias b = ${fmt(bias, 3)} · ‖w‖ = ${fmt(norm, 3)}`));
  return svg;
}
