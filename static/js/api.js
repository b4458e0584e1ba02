// The one way the page talks to the server: JSON in and out, every error turned into an ApiError
// that a person can read, and every answer reported to listeners (the Workers panel logs which
// worker process answered and which version it saw).

export class ApiError extends Error {
  constructor({ method, path, status, code, message, pid = null }) {
    super(message);
    Object.assign(this, { method, path, status, code, pid });
  }

  // What to show: the server's own message, and where it came from.
  get detail() {
    const where = this.status ? `${this.status} ${this.code}` : this.code;
    const worker = this.pid ? `, worker ${this.pid}` : "";
    return `${this.method} ${this.path}: ${where}${worker}`;
  }
}

const listeners = new Set();

/** Call `listener({method, path, status, pid, version, ms, at})` after every answer. */
export function onAnswer(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * `await api("POST", "/api/perceptron/train", {letters: "a"})`: the answer's JSON object, or an
 * ApiError (HTTP error, network error, or something that is not the API's JSON).
 */
export async function api(method, path, body, { signal } = {}) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" }, signal };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const started = performance.now();
  let response, text;
  try {
    response = await fetch(path, init);
    text = await response.text();
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError({ method, path, status: 0, code: "network_error", message: `could not reach the server (${error.message})` });
  }
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  const answer = {
    method, path, status: response.status, at: Date.now(), ms: performance.now() - started,
    pid: data && Number.isInteger(data.pid) ? data.pid : null,
    version: data && Number.isInteger(data.version) ? data.version : null,
  };
  for (const listener of listeners) {
    try {
      listener(answer);
    } catch (error) {
      console.error(error);
    }
  }
  if (response.ok && data && typeof data === "object") return data;
  if (data && typeof data.error === "string") {
    throw new ApiError({ method, path, status: response.status, code: data.error, message: data.message || data.error, pid: data.pid });
  }
  const shown = text ? `unexpected answer: ${text.slice(0, 200)}` : "the answer was empty";
  throw new ApiError({ method, path, status: response.status, code: `http_${response.status}`, message: shown });
}

/**
 * An alert area (role="alert") that lists errors until the person dismisses them. The same
 * error again is counted, not repeated; at most `keep` different errors are shown.
 */
export class Alerts {
  constructor(element, keep = 4) {
    this.element = element;
    this.keep = keep;
  }

  /** Show `error` (an ApiError or any Error) as the failure of `what` ("Training a"). */
  show(what, error) {
    if (error?.name === "AbortError") return;
    const message = error instanceof ApiError ? error.message : String(error?.message || error);
    const detail = error instanceof ApiError ? error.detail : "";
    const key = `${what}\n${message}`;
    const same = [...this.element.children].find((item) => item.dataset.key === key);
    if (same) {
      const count = Number(same.dataset.count) + 1;
      same.dataset.count = count;
      same.querySelector(".count").textContent = ` (${count} times)`;
      this.element.append(same); // newest last
      return;
    }
    const item = document.createElement("div");
    item.className = "alert";
    item.dataset.key = key;
    item.dataset.count = 1;
    const text = document.createElement("p");
    const strong = document.createElement("strong");
    strong.textContent = `${what} failed: `;
    const body = document.createElement("span");
    body.className = "message";
    body.textContent = message;
    const count = document.createElement("span");
    count.className = "count";
    text.append(strong, body, count);
    const small = document.createElement("small");
    small.textContent = detail;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "dismiss";
    dismiss.setAttribute("aria-label", "Dismiss this error");
    dismiss.textContent = "×";
    dismiss.addEventListener("click", () => item.remove());
    item.append(dismiss, text, small);
    this.element.append(item);
    while (this.element.children.length > this.keep) this.element.firstElementChild.remove();
  }

  clear() {
    this.element.replaceChildren();
  }
}
