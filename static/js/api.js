// The one way the page talks to the server: JSON in and out, every error turned into an ApiError
// that a person can read, and every answer reported to listeners (the Workers panel logs which
// worker process answered and which version it saw).

import { h } from "./dom.js";
import { askToken, forgetToken, needsToken, storedToken } from "./token.js";

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

/** Call `listener({method, path, status, pid, version, at})` after every answer. */
export function onAnswer(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * `await api("POST", "/api/perceptron/train", {letters: "a"})`: the answer's JSON object, or an
 * ApiError (HTTP error, network error, or something that is not the API's JSON).
 *
 * A management request the server refuses for want of the operator token (401), or for a wrong
 * one (403), asks the person for the token once and is sent again with it.
 */
export async function api(method, path, body, { signal } = {}) {
  try {
    return await send(method, path, body, signal, storedToken());
  } catch (error) {
    if (!needsToken(error)) throw error;
    forgetToken(); // missing or wrong
    const token = await askToken(
      error.code === "forbidden" ? "The server refused that token. Enter the operator token:" : "This action is for operators: enter the operator token.",
    );
    if (!token) throw error;
    try {
      return await send(method, path, body, signal, token);
    } catch (again) {
      if (needsToken(again)) forgetToken();
      throw again;
    }
  }
}

async function send(method, path, body, signal, token) {
  const init = { method, cache: "no-store", headers: { Accept: "application/json" }, signal };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
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
    method, path, status: response.status, at: Date.now(),
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
 * An alert area (role="alert") that lists errors until the person dismisses them, or until the
 * same kind of action next succeeds (`resolve(kind)`). The same error again is counted, not
 * repeated; at most `keep` different errors are shown.
 */
export class Alerts {
  constructor(element, keep = 4) {
    this.element = element;
    this.keep = keep;
    this.returnFocus = new WeakMap(); // alert -> where the focus was before the alert took it
  }

  /**
   * Show `error` (an ApiError or any Error) as the failure of `what` ("Training a"). `kind` names
   * the action ("train"), for `resolve`. `from` is the control the person just used: the alert
   * is then scrolled into view and, unless the person has moved on, takes the focus (dismissing
   * it gives the focus back, or moves it to `returnTo`), since the alert area may be far from
   * that control.
   */
  show(what, error, { kind = what, from = null, returnTo = null } = {}) {
    if (error?.name === "AbortError") return;
    const message = error instanceof ApiError ? error.message : String(error?.message || error);
    const detail = error instanceof ApiError ? error.detail : "";
    const key = `${what}\n${message}`;
    let item = [...this.element.children].find((alert) => alert.dataset.key === key);
    if (item) {
      const count = Number(item.dataset.count) + 1;
      item.dataset.count = count;
      item.querySelector(".count").textContent = ` (${count} times)`;
      this.element.append(item); // newest last
    } else {
      item = this.#build(what, message, detail, key, kind);
      this.element.append(item);
      while (this.element.children.length > this.keep) this.#remove(this.element.firstElementChild);
    }
    if (from) this.#bringToView(item, from, returnTo);
  }

  /** The same kind of action succeeded: its errors are over. */
  resolve(kind) {
    for (const item of [...this.element.children]) if (item.dataset.kind === kind) this.#remove(item);
  }

  #build(what, message, detail, key, kind) {
    // tabindex -1: focusable by the page, not a tab stop
    const item = h("div", { class: "alert", tabindex: -1, dataset: { key, kind, count: 1 } });
    const dismiss = h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss this error", onclick: () => this.#remove(item) }, "×");
    const text = h("p", {}, h("strong", {}, `${what} failed: `), h("span", { class: "message" }, message), h("span", { class: "count" }));
    item.append(dismiss, text, h("small", {}, detail));
    return item;
  }

  #bringToView(item, from, returnTo) {
    const focused = document.activeElement;
    const stillThere = !focused || focused === document.body || from.contains(focused) || this.element.contains(focused);
    if (!stillThere) return; // the person is busy elsewhere: do not pull them away
    item.scrollIntoView({ block: "nearest" });
    if (returnTo) this.returnFocus.set(item, returnTo);
    else if (!this.element.contains(focused)) this.returnFocus.set(item, focused);
    else if (focused !== item) this.returnFocus.set(item, this.returnFocus.get(focused.closest(".alert")));
    item.focus({ preventScroll: true });
  }

  #remove(item) {
    const hadFocus = item.contains(document.activeElement);
    const back = this.returnFocus.get(item);
    item.remove();
    if (hadFocus && back?.isConnected) back.focus(); // and back to where the person was
  }
}
