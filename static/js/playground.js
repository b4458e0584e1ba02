// The page's view in the address, as TensorFlow Playground keeps its: a link shows the same view.
//
//   #panel=perceptron&dim=16&seed=0&lr=0.1&eps=0.05&norm=l2&ctr=A:0.04,B:0.05&speed=50
//
// dim, seed and lr are the perceptron's settings: opening a link puts them in the Start over form
// (the shared model is not changed by opening a link), and says so when the server's model differs;
// Reset the model then rebuilds the same model. The address is rewritten in place (replaceState),
// so moving a slider does not fill the browser's history.

import { $ } from "./dom.js";

const PANELS = ["perceptron", "bandit", "names", "workers"];

export function setupPlayground({ perceptron, live, simulator }) {
  const note = $("#p-link-note");
  let panel = "perceptron";
  let linked = null; // the settings a link asked for, until the model has them

  function read(hash) {
    const text = hash.replace(/^#/, "");
    if (PANELS.includes(text)) return { panel: text };
    const params = new URLSearchParams(text);
    const state = {};
    if (PANELS.includes(params.get("panel"))) state.panel = params.get("panel");
    for (const [key, name] of [["dim", "dim"], ["seed", "seed"], ["lr", "learning_rate"], ["eps", "eps"], ["speed", "speed"]]) {
      const value = params.get(key);
      if (value !== null && value.trim() !== "" && Number.isFinite(Number(value))) state[name] = value;
    }
    if (params.get("norm")) state.norm = params.get("norm");
    if (params.get("ctr")) {
      state.ctr = new Map();
      for (const pair of params.get("ctr").split(",")) {
        const at = pair.lastIndexOf(":");
        const value = Number(pair.slice(at + 1));
        if (at > 0 && value >= 0 && value <= 1) state.ctr.set(decodeURIComponent(pair.slice(0, at)), value);
      }
    }
    return state;
  }

  function write() {
    const settings = perceptron.view.settings();
    const { eps, norm } = perceptron.view.get();
    const params = new URLSearchParams({ panel, dim: settings.dim, seed: settings.seed, lr: settings.learning_rate, eps, norm });
    const ctr = [...simulator.ctr].map(([name, value]) => `${encodeURIComponent(name)}:${value}`).join(",");
    if (ctr) params.set("ctr", ctr);
    params.set("speed", simulator.speed.value);
    const hash = `#${params.toString().replaceAll("%3A", ":").replaceAll("%2C", ",")}`;
    if (hash !== location.hash) history.replaceState(null, "", hash);
    showNote();
  }

  function apply(state) {
    if (state.panel) {
      panel = state.panel;
      $(`#${panel}`)?.scrollIntoView();
    }
    perceptron.view.set(state);
    if (state.ctr) for (const [name, value] of state.ctr) simulator.ctr.set(name, value);
    if (state.speed && [...simulator.speed.options].some((option) => option.value === state.speed)) simulator.speed.value = state.speed;
    if (state.dim !== undefined || state.seed !== undefined || state.learning_rate !== undefined) {
      linked = { dim: state.dim, seed: state.seed, learning_rate: state.learning_rate };
    }
  }

  /** Say when the link's model is not the server's, and what rebuilds it. */
  function showNote() {
    const doc = live.doc;
    if (!linked || !doc) return;
    const differs = Object.entries(linked).filter(([key, value]) => value !== undefined && Number(value) !== doc[key]);
    if (!differs.length) {
      linked = null;
      note.hidden = true;
      return;
    }
    note.hidden = false;
    note.textContent =
      `This link is for dimension ${linked.dim ?? doc.dim}, seed ${linked.seed ?? doc.seed}, learning rate ${linked.learning_rate ?? doc.learning_rate}; ` +
      `the server’s model now has dimension ${doc.dim}, seed ${doc.seed}, learning rate ${doc.learning_rate}. ` +
      "Reset the model (Start over) to rebuild the link’s model.";
  }

  apply(read(location.hash));
  // A link to a panel (the navigation) keeps the rest of the view.
  window.addEventListener("hashchange", () => {
    const state = read(location.hash);
    if (state.panel && Object.keys(state).length === 1) panel = state.panel;
    else apply(state);
    write();
  });
  for (const name of PANELS) {
    $(`a[href="#${name}"]`)?.addEventListener("click", () => (panel = name));
  }
  perceptron.view.onChange(write);
  $("#sim-form").addEventListener("input", () => setTimeout(write));
  $("#sim-form").addEventListener("change", () => setTimeout(write));
  write();
  return { read, write };
}
