// The Names panel: pick a corpus and a model, generate names, complete a pattern exactly (with the
// letter probabilities under each *), teach names, and watch the order-1 transition matrix change.

import { Alerts, api } from "./api.js";
import { $, count, fmt, h, pct, wholeNumber } from "./dom.js";
import { s } from "./svg.js";

export function setupNames(live) {
  const alerts = new Alerts($("#names-alerts"));
  const corpusSelect = $("#names-corpus");
  const modelSelect = $("#names-model");
  let heatKey = ""; // corpus and its counts the heat map was drawn for
  let corpora = [];

  const corpus = () => corpusSelect.value;
  const model = () => modelSelect.value;
  const base = () => `/api/names/${encodeURIComponent(model())}/${encodeURIComponent(corpus())}`;

  live.subscribe((doc) => {
    corpora = doc.corpora;
    const chosen = corpusSelect.value || "pypi";
    corpusSelect.replaceChildren(...corpora.map((c) => h("option", { value: c.name, selected: c.name === chosen }, c.name)));
    showCorpus();
  });

  function showCorpus() {
    const c = corpora.find((item) => item.name === corpus());
    if (!c) return;
    const recent = c.recent.length ? `; last taught: ${c.recent.join(", ")}` : "";
    $("#names-corpus-note").textContent = `${c.name}: ${count(c.names)} names, ${count(c.learned)} learned${recent}`;
    const key = `${c.name}:${c.names}:${c.learned}`;
    if (key !== heatKey) {
      heatKey = key;
      drawHeatmap(c.name);
    }
  }

  corpusSelect.addEventListener("change", () => {
    showCorpus();
    $("#names-generated").replaceChildren();
    $("#names-completions").replaceChildren();
    $("#names-positions").replaceChildren();
    $("#names-total").textContent = "";
  });

  $("#names-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const n = wholeNumber($("#names-n"), 1, 100);
    if (n === null) return alerts.show("Generating", new Error("how many must be a whole number from 1 to 100"), { kind: "generate" });
    const novel = $("#names-novel").checked;
    try {
      const doc = await api("GET", `${base()}/generate?n=${n}&novel=${novel}`);
      alerts.resolve("generate");
      $("#names-generated").replaceChildren(...doc.names.map((name) => h("li", {}, name)));
      if (!doc.names.length) $("#names-generated").append(h("li", { class: "hint" }, "no names found with these settings"));
    } catch (error) {
      alerts.show("Generating", error, { kind: "generate", from: $("#names-go") });
    }
  });

  $("#names-complete-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const pattern = $("#names-pattern").value.trim();
    try {
      const doc = await api("GET", `${base()}/complete?q=${encodeURIComponent(pattern)}&n=10`);
      alerts.resolve("complete");
      showCompletion(doc);
    } catch (error) {
      alerts.show("Completing", error, { kind: "complete", from: $("#names-complete") });
    }
  });

  function showCompletion(doc) {
    $("#names-total").textContent = doc.completions.length
      ? `The model gives names matching ${doc.pattern} a probability of ${fmt(doc.total)} in all; each completion's share of it:`
      : `No name can match ${doc.pattern} (probability 0).`;
    const top = doc.completions[0]?.probability || 1;
    $("#names-completions").replaceChildren(
      ...doc.completions.map((c) =>
        h("li", {}, h("span", { class: "name" }, c.name), bar(c.probability / top), h("span", { class: "num" }, pct(c.probability, 1))),
      ),
    );
    $("#names-positions").replaceChildren(
      ...doc.positions.map((position) =>
        h(
          "div",
          { class: "position" },
          h("h4", {}, `* at ${position.index + 1}`),
          h("ul", {}, ...position.letters.slice(0, 5).map((l) => h("li", {}, h("span", { class: "name" }, l.letter), bar(l.probability), h("span", { class: "num" }, pct(l.probability))))),
        ),
      ),
    );
  }

  $("#names-teach-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const names = $("#names-teach").value.toLowerCase().split(/[\s,]+/).filter(Boolean);
    try {
      const doc = await api("POST", `/api/names/${encodeURIComponent(corpus())}/learn`, { names });
      alerts.resolve("teach");
      $("#names-teach").value = "";
      $("#names-taught").textContent = `Taught ${names.join(", ")} to ${doc.corpus.name} (version ${doc.version}); it has learned ${count(doc.corpus.learned)} names.`;
      live.request().catch(() => {}); // the poll would bring it too, a moment later
      const c = corpora.find((item) => item.name === doc.corpus.name);
      if (c) Object.assign(c, doc.corpus);
      showCorpus();
    } catch (error) {
      alerts.show("Teaching", error, { kind: "teach", from: $("#names-teach-button") });
    }
  });

  async function drawHeatmap(name) {
    try {
      const doc = await api("GET", `/api/names/markov1/${encodeURIComponent(name)}/transitions`);
      if (name !== corpus()) return;
      alerts.resolve("heatmap");
      $("#names-heatmap").replaceChildren(heatmap(doc));
    } catch (error) {
      alerts.show("Drawing the transition matrix", error, { kind: "heatmap" });
    }
  }
}

function bar(share) {
  return h("span", { class: "names-bar" }, h("span", { style: `width: ${Math.max(0, Math.min(1, share)) * 100}%` }));
}

/** The transition matrix as a grid of squares, darker where the next letter is likelier. */
function heatmap({ rows, columns, probabilities }) {
  const cell = 12, left = 16, top = 14;
  const width = left + columns.length * cell, height = top + rows.length * cell;
  const max = Math.max(...probabilities.flat());
  const squares = [];
  probabilities.forEach((row, i) =>
    row.forEach((p, j) =>
      squares.push(
        s("rect", { x: left + j * cell, y: top + i * cell, width: cell - 1, height: cell - 1, fill: "#0072B2", "fill-opacity": (p / max).toFixed(3) },
          s("title", {}, `${rows[i]} → ${columns[j]}: ${pct(p, 1)}`)),
      ),
    ),
  );
  const labels = [
    ...columns.map((c, j) => s("text", { x: left + j * cell + cell / 2, y: top - 3, "text-anchor": "middle" }, c)),
    ...rows.map((r, i) => s("text", { x: left - 3, y: top + i * cell + cell - 2, "text-anchor": "end" }, r)),
  ];
  return s("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "order-1 transition probabilities", class: "heatmap-svg", "data-rows": rows.length }, ...labels, ...squares);
}
