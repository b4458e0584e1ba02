// The workers panel: which worker process answered each request and the version it saw, a burst
// that checks that every worker holds the same model, and uWSGI's own statistics.

import { Alerts, api, onAnswer } from "./api.js";
import { $, OKABE_ITO, ago, count, fmt, h, wholeNumber } from "./dom.js";
import { randomLetters } from "./perceptron.js";

const PID_COLOURS = [...OKABE_ITO, "#6b4c9a", "#882255"]; // no grey: it reads as "stopped"
// A pid's colour comes from the pid alone, so that every tab shows it alike; the workers of one
// server usually have consecutive pids, which this keeps apart (up to 8 of them).
const pidColour = (pid) => PID_COLOURS[Math.abs(pid) % PID_COLOURS.length];
// white text is hard to read on the two light colours (contrast about 2.3:1): dark text there
const LIGHT_COLOURS = new Set(OKABE_ITO.slice(4, 6));
const pidText = (pid) => (LIGHT_COLOURS.has(pidColour(pid)) ? "#111" : "#fff");
const LOG_LENGTH = 12;
const MAX_CHECK_READS = 100;
const RENDER_MS = 250; // while traffic flows, the tables are rebuilt at most this often
const CLOCK = new Intl.DateTimeFormat("en-GB", { hour12: false, hour: "numeric", minute: "numeric", second: "numeric" }); // 09:05:03

export function setupWorkers({ perceptron, poller }) {
  const alerts = new Alerts($("#workers-alerts"));
  const seen = new Map(); // pid -> {answers, perceptron, bandit}
  const log = [];
  let stats = null; // the last GET /api/workers
  let previousStats = null;
  let timer = 0; // a render is due

  const chip = (pid) => h("span", { class: "pid-chip", style: `--pid: ${pidColour(pid)}; --pid-text: ${pidText(pid)}` }, String(pid));

  onAnswer((answer) => {
    if (answer.pid === null) return;
    if (!seen.has(answer.pid)) seen.set(answer.pid, { answers: 0, perceptron: null, bandit: null });
    const entry = seen.get(answer.pid);
    entry.answers += 1;
    if (answer.version !== null && answer.status < 300) {
      if (answer.path.startsWith("/api/perceptron")) entry.perceptron = Math.max(entry.perceptron ?? -1, answer.version);
      if (answer.path.startsWith("/api/bandit")) entry.bandit = Math.max(entry.bandit ?? -1, answer.version);
    }
    log.unshift({ ...answer, time: CLOCK.format(answer.at) });
    log.length = Math.min(log.length, LOG_LENGTH);
    if (!timer) timer = setTimeout(render, RENDER_MS);
  });

  function render() {
    timer = 0;
    const live = stats ? new Set(stats.workers.map((worker) => worker.pid)) : null;
    const pids = new Set([...(live ?? []), ...seen.keys()]);
    const rows = [...pids]
      .filter((pid) => pid > 0)
      .sort((p, q) => p - q)
      .map((pid) => {
        const entry = seen.get(pid) ?? { answers: 0 };
        const gone = live && !live.has(pid);
        return h(
          "tr",
          { class: gone ? "gone" : null, dataset: { pid } },
          h("th", { scope: "row" }, chip(pid), gone ? h("small", {}, " (no longer running)") : null),
          h("td", { class: "num" }, count(entry.answers)),
          h("td", { class: "num" }, entry.perceptron ?? "–"),
          h("td", { class: "num" }, entry.bandit ?? "–"),
        );
      });
    $("#pid-table tbody").replaceChildren(...rows);
    $("#answer-log").replaceChildren(
      ...log.map((answer) =>
        h(
          "li",
          {},
          h("time", {}, answer.time),
          h("code", {}, `${answer.method} ${answer.path}`),
          answer.status >= 300 ? h("span", { class: "bad" }, ` ${answer.status}`) : null,
          h("span", { class: "arrow", "aria-hidden": "true" }, " → "),
          chip(answer.pid),
          answer.version !== null ? h("span", { class: "version" }, ` v${count(answer.version)}`) : null,
        ),
      ),
    );
  }

  // --- uWSGI statistics ---------------------------------------------------------------------

  async function refreshStats() {
    const summary = $("#uwsgi-summary");
    try {
      const doc = await api("GET", "/api/workers");
      previousStats = stats;
      stats = { ...doc, at: performance.now() };
      summary.classList.remove("warn");
      const locks = Object.entries(doc.locks ?? {})
        .filter(([, holder]) => holder)
        .map(([name, holder]) => `${name} lock held by ${holder}`);
      summary.textContent =
        `uWSGI ${doc.uwsgi_version}, master pid ${doc.master_pid}, ${doc.workers.length} workers, state backend ${doc.backend}` +
        `; listen queue ${doc.listen_queue ?? 0}${locks.length ? `; ${locks.join(", ")}` : ""}.`;
      renderStats(); // the answer itself has scheduled render()
    } catch (error) {
      stats = null;
      summary.classList.add("warn");
      summary.textContent = `uWSGI statistics are unavailable: ${error.message}`;
      $("#uwsgi-table tbody").replaceChildren();
      throw error;
    }
  }

  function renderStats() {
    const before = new Map((previousStats?.workers ?? []).map((worker) => [worker.pid, worker]));
    const seconds = previousStats ? (stats.at - previousStats.at) / 1000 : 0;
    const rows = stats.workers.map((worker) => {
      const old = before.get(worker.pid);
      const rate = old && seconds > 0 ? (worker.requests - old.requests) / seconds : null;
      return h(
        "tr",
        { dataset: { pid: worker.pid, status: worker.status } },
        h("td", { class: "wide-only" }, worker.id),
        h("td", {}, worker.pid > 0 ? chip(worker.pid) : "–"),
        h("td", {}, h("span", { class: `status ${worker.status}` }, worker.status)),
        h("td", { class: "num" }, count(worker.requests)),
        h("td", { class: "num wide-only" }, rate === null ? "–" : fmt(Math.max(0, rate), 2)),
        h("td", { class: "num" }, count(worker.exceptions)),
        h("td", { class: "num respawns" }, count(Math.max(0, (worker.respawn_count ?? 1) - 1))),
        h("td", { class: "num" }, worker.avg_rt ? fmt(worker.avg_rt / 1000, 2) : "–"),
        h("td", { class: "wide-only" }, worker.last_spawn ? ago(worker.last_spawn) : "–"),
      );
    });
    $("#uwsgi-table tbody").replaceChildren(...rows);
  }

  // Without uWSGI (flask run) or its stats server, GET /api/workers answers 503: ask rarely then.
  poller.every(1500, refreshStats, 15000);

  // --- burst --------------------------------------------------------------------------------

  const form = $("#burst-form");
  const result = $("#burst-result");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const n = wholeNumber($("#burst-count"), 1, 1000);
    if (n === null) {
      alerts.show("The burst", new Error("enter a whole number of requests from 1 to 1000"), { kind: "burst", from: form });
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    result.className = "burst-result";
    try {
      await burst(n);
    } catch (error) {
      result.textContent = "";
      alerts.show("The burst", error, { kind: "burst", from: form });
    } finally {
      button.disabled = false;
    }
  });

  async function burst(n) {
    result.replaceChildren(h("p", {}, `Sending ${n} training requests at once…`));
    const settled = await Promise.allSettled(Array.from(randomLetters(n), (letter) => perceptron.request("POST", "/api/perceptron/train", { letters: letter })));
    const answers = settled.filter((outcome) => outcome.status === "fulfilled").map((outcome) => outcome.value);
    const failures = settled.filter((outcome) => outcome.status === "rejected").map((outcome) => outcome.reason);
    if (failures.length === 0) alerts.resolve("burst");
    for (const error of failures) alerts.show("A training request of the burst", error, { kind: "burst" });

    const byPid = new Map();
    for (const doc of answers) byPid.set(doc.pid, (byPid.get(doc.pid) ?? 0) + 1);
    const versions = answers.map((doc) => doc.version).sort((p, q) => p - q);
    const distinct = new Set(versions).size;
    const details = [];
    const who = [...byPid].sort((p, q) => p[0] - q[0]).map(([pid, k]) => `${pid} (${k})`).join(", ");
    details.push(`${answers.length} of ${n} training requests succeeded, answered by ${byPid.size} ${byPid.size === 1 ? "worker" : "workers"}: pid ${who}.`);
    if (answers.length) {
      const lo = versions[0];
      const hi = versions.at(-1);
      if (distinct < answers.length) {
        details.push(`✗ ${answers.length - distinct} answers repeated a version another request had already produced: an update was lost.`);
      } else if (hi - lo + 1 === answers.length) {
        details.push(`Each produced its own version, ${count(lo)} to ${count(hi)}, with no gaps: no update was lost.`);
      } else {
        details.push(`Each produced its own version, between ${count(lo)} and ${count(hi)}; the ${hi - lo + 1 - answers.length} versions in between are other clients’ changes.`);
      }
    }

    // Read the model until every worker has answered, and compare what they report.
    const expected = stats ? stats.workers.filter((worker) => worker.pid > 0 && worker.status !== "cheap").map((worker) => worker.pid) : null;
    const wanted = expected ? expected.length : 4;
    let verdict;
    let reads = 0;
    for (let round = 1; round <= 3; round++) {
      result.replaceChildren(h("p", {}, `Asking every worker for the model${round > 1 ? ` again (round ${round})` : ""}…`));
      const reported = new Map();
      const reached = () => (expected ? expected.every((pid) => reported.has(pid)) : reported.size >= wanted);
      for (let i = 0; i < MAX_CHECK_READS && !reached(); i++) {
        const doc = await perceptron.request();
        reads += 1;
        reported.set(doc.pid, doc);
      }
      verdict = compare(reported, expected, wanted);
      if (verdict.ok || !verdict.changing) break; // a disagreement may be someone else's training: look again
    }
    result.className = `burst-result ${verdict.ok ? "ok" : "bad"}`;
    result.replaceChildren(
      h("p", { class: "verdict" }, verdict.text),
      h("ul", {}, ...details.map((line) => h("li", {}, line)), h("li", {}, `Checked with ${reads} reads of the model.`)),
    );
  }
}

/** The verdict on what each worker reported: {ok, text, changing}. */
function compare(reported, expected, wanted) {
  const docs = [...reported.values()];
  const missing = expected ? expected.filter((pid) => !reported.has(pid)) : [];
  if (docs.length === 0) return { ok: false, text: "No worker answered.", changing: false };
  const versions = new Set(docs.map((doc) => doc.version));
  if (versions.size > 1) {
    const list = docs.map((doc) => `pid ${doc.pid}: version ${count(doc.version)}`).join(", ");
    return { ok: false, changing: true, text: `✗ The workers report different versions (${list}). If someone else is training at the same time, that is expected: fire the burst again.` };
  }
  const [first, ...others] = docs;
  const differing = others.filter((doc) => doc.bias !== first.bias || doc.weights.length !== first.weights.length || doc.weights.some((w, i) => w !== first.weights[i]));
  if (differing.length) {
    return { ok: false, changing: false, text: `✗ Version ${count(first.version)} everywhere, but the weights differ: pid ${first.pid} against ${differing.map((doc) => doc.pid).join(", ")}.` };
  }
  const version = count(first.version);
  if (missing.length || docs.length < wanted) {
    const heard = docs.map((doc) => doc.pid).join(", ");
    const agreed = docs.length > 1 ? `The ${docs.length} workers that answered (pid ${heard}) report version ${version} with identical weights, but ` : `Only pid ${heard} answered (version ${version}): `;
    const unreached = missing.length ? `pid ${missing.join(", ")} did not answer` : `${wanted} workers were expected`;
    const assumed = expected ? "" : " uWSGI's statistics are unavailable, so 4 workers were assumed.";
    return { ok: false, changing: false, text: `${agreed}${unreached} within ${MAX_CHECK_READS} reads.${assumed}` };
  }
  const text = docs.length === 1 ? `✓ The server's only worker reports version ${version}.` : `✓ All ${docs.length} workers report version ${version} with identical weights.`;
  return { ok: true, changing: false, text };
}
