// voweler's page: three panels over one JSON API. Plain ES modules, no build step.
//
//   api.js         fetch wrapper: JSON in and out, errors shown to the person
//   live.js        the shared models as the page knows them, kept fresh by polling
//   perceptron.js  the perceptron panel      bandit.js  the bandit panel
//   workers.js     the workers panel         svg.js, beta.js, dom.js  small helpers
//   names.js       the names panel (Markov chains: generate, complete, teach)
//   playground.js  the page's view in the address (a link shows the same view)

import { $ } from "./dom.js";
import { LiveDocument, Poller } from "./live.js";
import { setupBandit } from "./bandit.js";
import { setupNames } from "./names.js";
import { setupPerceptron } from "./perceptron.js";
import { setupPlayground } from "./playground.js";
import { setupWorkers } from "./workers.js";

const POLL_MS = 600; // changes from other tabs and clients show within about a second

const perceptron = new LiveDocument("/api/perceptron");
const bandit = new LiveDocument("/api/bandit");
const names = new LiveDocument("/api/names");

const status = $("#live-status");
let shown = "";
function showStatus(state, error) {
  const text = {
    live: `● Live: following the server (checked every ${POLL_MS / 1000} s)`,
    paused: "⏸ Paused while this tab is hidden",
    offline: `⚠ Cannot reach the server (${error?.message ?? "no answer"}); retrying`,
  }[state];
  if (text === shown) return;
  shown = text;
  status.dataset.state = state;
  status.textContent = text;
}

const poller = new Poller([perceptron, bandit, names], { interval: POLL_MS, onStatus: showStatus });
const perceptronPanel = setupPerceptron(perceptron);
const { simulator } = setupBandit(bandit);
setupWorkers({ perceptron, poller });
setupNames(names);
setupPlayground({ perceptron: perceptronPanel, live: perceptron, simulator });
poller.start();

// For the end-to-end tests and the curious: the page's live documents and the simulator.
window.voweler = { perceptron, bandit, simulator, perceptronPanel };
