// The perceptron panel: letter tiles, training, reset, accuracy against LDA and the optimum, its
// charts, induced error analysis (the ε slider), play / pause / step, export and import.

import { Alerts, api } from "./api.js";
import { $, $$, count, fmt, h, pct, signed, wholeNumber } from "./dom.js";
import { ChartSlot, axisBottom, axisLeft, linear, padded, pathOf, s, svgRoot, ticks } from "./svg.js";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz";
const VOWELS = "aeiouy";
const CONSONANTS = [...ALPHABET].filter((letter) => !VOWELS.includes(letter)).join("");
const MAX_LETTERS = 4096;
const BOUNDARIES = { perceptron: "perceptron", lda: "LDA", optimum: "optimum" };
const NORMS = { l2: "L2", linf: "L∞" };

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
      return true;
    } catch (error) {
      const what = letters.length === 1 ? `Training “${letters}”` : `Training ${letters.length} letters`;
      alerts.show(what, error, { kind: "train", from });
      return false;
    }
  }

  // Charts.
  const charts = {
    accuracy: new ChartSlot($("#chart-accuracy"), drawAccuracy),
    perceptron: new ChartSlot($("#chart-proj-perceptron"), drawStrip),
    lda: new ChartSlot($("#chart-proj-lda"), drawStrip),
    optimum: new ChartSlot($("#chart-proj-optimum"), drawStrip),
    robust: new ChartSlot($("#chart-robust"), drawRobust),
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
    charts.accuracy.update({ history: doc.history, lda: doc.lda_accuracy, optimum: doc.optimum?.accuracy ?? null });
    charts.perceptron.update({
      values: doc.projections.perceptron.values, threshold: doc.projections.perceptron.threshold, truth,
      name: "perceptron", axis: "position along w / ‖w‖",
    });
    charts.lda.update({
      values: doc.projections.lda.values, threshold: doc.projections.lda.threshold, truth,
      name: "LDA", axis: "position along the LDA direction",
    });
    if (doc.projections.optimum) {
      charts.optimum.update({
        values: doc.projections.optimum.values, threshold: doc.projections.optimum.threshold, truth,
        name: "optimum", axis: "position along the optimal direction",
      });
    }
    robustness.refresh();
    charts.margins.update(doc.letters);
    charts.weights.update({ weights: doc.weights, bias: doc.bias });
  });

  // Induced error analysis: the server's flip distances at (version, ε, norm), one request at a time.
  const epsInput = $("#p-eps");
  const normInput = $("#p-norm");
  const robustness = {
    shown: "", // the (version, eps, norm) drawn
    busy: false,
    answer: null,
    async refresh() {
      if (!live.doc || this.busy) return;
      const eps = Number(epsInput.value);
      const norm = normInput.value;
      const key = `${live.doc.version} ${eps} ${norm}`;
      if (key === this.shown) return;
      this.busy = true;
      try {
        const answer = await api("GET", `/api/perceptron/robustness?eps=${eps}&norm=${norm}`);
        this.shown = `${answer.version} ${answer.eps} ${answer.norm}`;
        this.answer = answer;
        alerts.resolve("robustness");
        renderRobustness(answer, tiles);
        charts.robust.update(answer);
      } catch (error) {
        this.shown = key; // shown as an error; the next change asks again
        alerts.show("Reading the induced error analysis", error, { kind: "robustness" });
      } finally {
        this.busy = false;
      }
      if (`${live.doc.version} ${Number(epsInput.value)} ${normInput.value}` !== this.shown) this.refresh();
    },
  };
  const changed = () => {
    $("#p-eps-value").textContent = fmt(Number(epsInput.value), 3);
    robustness.refresh();
    view.notify();
  };
  epsInput.addEventListener("input", changed);
  normInput.addEventListener("change", changed);

  // Play / pause / step: each step is one real train request with one random letter.
  const play = $("#p-play");
  const pause = $("#p-pause");
  const speed = $("#p-speed");
  const player = {
    timer: 0,
    running: false,
    start() {
      this.running = true;
      play.disabled = true;
      pause.disabled = false;
      this.tick();
    },
    stop() {
      this.running = false;
      clearTimeout(this.timer);
      play.disabled = false;
      pause.disabled = true;
    },
    async tick() {
      if (!this.running) return;
      const started = performance.now();
      const ok = await train(randomLetters(1), play);
      if (!ok) return this.stop(); // an error is shown; playing on would repeat it
      const wait = Math.max(0, 1000 / Number(speed.value) - (performance.now() - started));
      if (this.running) this.timer = setTimeout(() => this.tick(), wait);
    },
  };
  play.addEventListener("click", () => player.start());
  pause.addEventListener("click", () => player.stop());
  $("#p-step").addEventListener("click", (event) => train(randomLetters(1), event.target));
  speed.addEventListener("change", () => view.notify());

  // Export and import.
  $("#p-export").addEventListener("click", async (event) => {
    try {
      const saved = await api("GET", "/api/perceptron/export");
      const blob = new Blob([JSON.stringify(saved, null, 1)], { type: "application/json" });
      const link = h("a", { href: URL.createObjectURL(blob), download: `voweler-perceptron-dim${saved.dim}-seed${saved.seed}-v${saved.version}.json` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      alerts.resolve("export");
      lesson.textContent = `Exported version ${count(saved.version)}: dimension ${saved.dim}, ${count(saved.updates)} letters learned.`;
    } catch (error) {
      alerts.show("Exporting the model", error, { kind: "export", from: event.target });
    }
  });
  const file = $("#p-import-file");
  $("#p-import").addEventListener("click", () => file.click());
  file.addEventListener("change", async () => {
    const chosen = file.files[0];
    file.value = "";
    if (chosen) await importText(await chosen.text(), chosen.name);
  });

  /** Import an exported document given as text; `name` says where it came from. */
  async function importText(text, name) {
    const from = $("#p-import");
    let document;
    try {
      document = JSON.parse(text);
    } catch (error) {
      alerts.show(`Importing ${name}`, new Error(`the file is not JSON (${error.message})`), { kind: "import", from });
      return false;
    }
    try {
      const doc = await live.request("POST", "/api/perceptron/import", document);
      alerts.resolve("import");
      lesson.textContent = `Imported ${name}: dimension ${doc.dim}, seed ${doc.seed}, ${count(doc.updates)} letters learned (version ${count(doc.version)}).`;
      return true;
    } catch (error) {
      alerts.show(`Importing ${name}`, error, { kind: "import", from });
      return false;
    }
  }

  // The view the address keeps (playground.js): what is not the shared model's own state.
  const listeners = new Set();
  const view = {
    get() {
      return { eps: epsInput.value, norm: normInput.value };
    },
    set({ eps, norm, dim, seed, learning_rate: rate }) {
      if (eps !== undefined && Number.isFinite(Number(eps))) epsInput.value = eps;
      if (norm in NORMS) normInput.value = norm;
      $("#p-eps-value").textContent = fmt(Number(epsInput.value), 3);
      for (const [key, value] of Object.entries({ dim, seed, learning_rate: rate })) {
        if (value === undefined) continue;
        fields[key].value = value;
        fields[key].dataset.dirty = "1"; // the link's settings stay in the form until reset
      }
      robustness.refresh();
    },
    settings() {
      return Object.fromEntries(Object.entries(fields).map(([key, input]) => [key, input.value]));
    },
    onChange(listener) {
      listeners.add(listener);
    },
    notify() {
      for (const listener of listeners) listener();
    },
  };
  for (const input of Object.values(fields)) input.addEventListener("input", () => view.notify());
  live.subscribe(() => view.notify());
  return { view, player, importText, robustness };
}

/** [key, name] of the boundaries an analysis has (the optimum is absent if the server could not certify it). */
const shownBoundaries = (answer) => Object.entries(BOUNDARIES).filter(([key]) => key in answer.boundaries);

function renderRobustness(answer, tiles) {
  const letters = answer.boundaries.perceptron.letters;
  for (const row of letters) {
    const tile = tiles.get(row.letter);
    const fuzzable = row.correct && !row.robust;
    tile.classList.toggle("fuzzable", fuzzable);
    tile.dataset.fuzzable = String(fuzzable);
    tile.dataset.flipDistance = row.flip_distance ?? "";
  }
  const norm = NORMS[answer.norm];
  const parts = shownBoundaries(answer).map(([key, name]) => {
    const robust = answer.boundaries[key].letters.filter((row) => row.robust).length;
    return `${name} ${robust} of 26 (${pct(answer.boundaries[key].robust_accuracy)})`;
  });
  const ringed = letters.filter((row) => row.correct && !row.robust).map((row) => row.letter);
  $("#p-robust").textContent =
    `Right whatever change of size up to ε = ${fmt(answer.eps, 3)} (${norm}): ${parts.join(", ")}.` +
    (ringed.length ? ` Ringed: ${ringed.join(" ")}.` : "");
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
  const best = doc.optimum;
  if (!best) {
    // the server could not certify it (its log says why): say so rather than show a guess
    $("#p-optimum").textContent = "–";
    $("#p-optimum-bar").style.width = "0";
    $("#p-optimum-note").textContent = "could not be computed for this model";
    return;
  }
  $("#p-optimum").textContent = `${pct(best.accuracy)} (${Math.round(best.accuracy * 26)} of 26)`;
  $("#p-optimum-bar").style.width = pct(best.accuracy, 2);
  $("#p-optimum-note").textContent = best.separable
    ? `separable: the widest boundary clears every letter by ${fmt(best.margin, 3)}`
    : "not separable: no straight boundary gets more letters right";
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

function drawAccuracy({ history, lda, optimum }, width) {
  const height = 190;
  const m = { left: 44, right: 46, top: 24, bottom: 42 };
  const xs = history.map(([updates]) => updates);
  const [x0, x1] = xs.length > 1 && xs.at(-1) > xs[0] ? [xs[0], xs.at(-1)] : [xs[0] ?? 0, (xs[0] ?? 0) + 1];
  const x = linear([x0, x1], [m.left, width - m.right]);
  const y = linear([0, 1], [height - m.bottom, m.top]);
  const last = history.at(-1);
  const label = `Accuracy over updates: ${pct(last?.[1])} after ${count(last?.[0])} letters; LDA reaches ${pct(lda)}, the optimum ${pct(optimum)}.`;
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
  if (optimum !== null) {
    const oy = y(optimum);
    svg.append(s("line", { x1: m.left, x2: width - m.right, y1: oy, y2: oy, class: "ref optimum" }));
    svg.append(s("text", { x: width - m.right - 6, y: optimum > 0.85 ? oy + 14 : oy - 5, "text-anchor": "end", class: "ref-label" }, `optimum ${pct(optimum)}`));
  }
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

/** Robust accuracy against ε for the three boundaries, from each letter's flip distance. */
function drawRobust(answer, width) {
  const height = 190;
  const m = { left: 44, right: 12, top: 16, bottom: 42 };
  const distances = Object.values(answer.boundaries).flatMap((b) => b.letters.filter((row) => row.correct).map((row) => row.flip_distance ?? 0));
  const top = Math.max(answer.eps, ...distances, 1e-6) * 1.08;
  const x = linear([0, top], [m.left, width - m.right]);
  const y = linear([0, 1], [height - m.bottom, m.top]);
  const summary = shownBoundaries(answer).map(([key, name]) => `${name} ${pct(answer.boundaries[key].robust_accuracy)}`).join(", ");
  const svg = svgRoot(width, height, `Robust accuracy against ε (${NORMS[answer.norm]}); at ε = ${fmt(answer.eps, 3)}: ${summary}.`);
  svg.append(
    axisLeft(y, [0, 0.25, 0.5, 0.75, 1], { x: m.left, gridTo: width - m.right, format: (v) => pct(v), label: "robust accuracy" }),
    axisBottom(x, ticks(0, top, Math.max(2, Math.floor(width / 90))), { y: height - m.bottom, label: `ε, the size of the change (${NORMS[answer.norm]})` }),
  );
  for (const [key] of shownBoundaries(answer)) {
    // a step down at each correct letter's flip distance
    const flips = answer.boundaries[key].letters.filter((row) => row.correct).map((row) => row.flip_distance ?? Infinity).sort((a, b) => a - b);
    let right = flips.length;
    const points = [[x(0), y(right / 26)]];
    for (const d of flips) {
      if (d > top) break;
      points.push([x(d), y(right / 26)]);
      right -= 1;
      points.push([x(d), y(right / 26)]);
    }
    points.push([x(top), y(right / 26)]);
    svg.append(s("path", { d: pathOf(points), class: `series robust ${key}` }));
  }
  const ex = x(answer.eps);
  svg.append(s("line", { x1: ex, x2: ex, y1: m.top, y2: height - m.bottom, class: "eps" }));
  svg.append(s("text", { x: Math.min(ex + 4, width - m.right - 40), y: m.top + 10, class: "value-label" }, `ε = ${fmt(answer.eps, 3)}`));
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
