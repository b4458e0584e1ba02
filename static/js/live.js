// Live documents: the page's copy of the shared models, kept fresh by polling.
//
// The page polls GET /api/perceptron and GET /api/bandit (each worker caches them per version,
// so a poll is cheap) and redraws only when `version` changed. Server-sent events would pin one
// of the few synchronous uWSGI workers per open tab, so the page polls instead. Polling pauses
// while the tab is hidden and resumes at once when it is shown again.

import { api } from "./api.js";

export class LiveDocument {
  constructor(path) {
    this.path = path;
    this.doc = null;
    this.receivedAt = -Infinity; // when the request that brought `doc` was answered
    this.listeners = new Set();
    this.frame = 0;
  }

  subscribe(listener) {
    this.listeners.add(listener);
    if (this.doc) listener(this.doc);
  }

  /**
   * Take a document answered by a request started at `startedAt` (performance.now()). Answers to
   * concurrent requests arrive in any order, so an older version is ignored, unless the request
   * started after the current document arrived: then it is simply newer news (a server that
   * restarted counts its versions from 0 again).
   */
  offer(doc, startedAt = performance.now()) {
    const current = this.doc;
    const newer = !current || doc.version > current.version;
    const later = startedAt >= this.receivedAt && doc.version !== current?.version;
    if (!newer && !later) return false;
    this.doc = doc;
    this.receivedAt = performance.now();
    if (!this.frame) {
      // one redraw per frame, however many answers arrive within it
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        for (const listener of this.listeners) listener(this.doc);
      });
    }
    return true;
  }

  /** `api(method, path, body)`, whose answer is offered as the document: the answer. */
  async request(method = "GET", path = this.path, body) {
    const startedAt = performance.now();
    const doc = await api(method, path, body);
    this.offer(doc, startedAt);
    return doc;
  }

  poll() {
    return this.request();
  }
}

/**
 * Polls `documents` every `interval` ms while the tab is visible; `onStatus(state, error)` hears
 * "live", "paused" or "offline" (with the error that made it so).
 */
export class Poller {
  constructor(documents, { interval = 600, onStatus = () => {} } = {}) {
    this.documents = documents;
    this.interval = interval;
    this.onStatus = onStatus;
    this.timer = 0;
    this.running = false;
    this.extra = new Set(); // other tasks with their own cadence: {run, every, last}
    document.addEventListener("visibilitychange", () => this.visibilityChanged());
  }

  /**
   * Also run `run()` every `every` ms while visible (the workers' statistics); after a failure,
   * wait `afterFailure` ms before trying again.
   */
  every(every, run, afterFailure = every) {
    this.extra.add({ run, every, afterFailure, next: 0 });
  }

  start() {
    this.visibilityChanged();
  }

  visibilityChanged() {
    clearTimeout(this.timer);
    if (document.visibilityState === "hidden") {
      this.onStatus("paused");
    } else if (!this.running) {
      this.tick();
    }
  }

  async tick() {
    this.running = true;
    try {
      await Promise.all(this.documents.map((document) => document.poll()));
      this.onStatus("live");
    } catch (error) {
      this.onStatus("offline", error);
    }
    const now = performance.now();
    for (const task of this.extra) {
      if (!task.busy && now >= task.next) {
        task.busy = true;
        task.next = now + task.every;
        task
          .run()
          .catch(() => (task.next = performance.now() + task.afterFailure)) // a task shows its own errors
          .finally(() => (task.busy = false));
      }
    }
    this.running = false;
    if (document.visibilityState !== "hidden") this.timer = setTimeout(() => this.tick(), this.interval);
  }
}
