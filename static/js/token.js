// The operator token, for management actions (resets, arms): asked for only when the server
// refuses one with 401 or 403, and kept for this tab's session only (sessionStorage: never in
// the URL, never in localStorage). Public actions never ask.

import { $ } from "./dom.js";

const KEY = "voweler.operatorToken";
const REFUSALS = new Set(["unauthorized", "forbidden"]); // the server's codes for "needs / wrong token"

export const needsToken = (error) => REFUSALS.has(error?.code);

export function storedToken() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null; // storage blocked: ask each time
  }
}

export function forgetToken() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    /* nothing kept */
  }
}

let asking = null; // one dialog at a time, however many actions were refused at once

/** Ask the person for the token; resolves to it, or null if they cancelled. */
export function askToken(reason) {
  asking ??= new Promise((resolve) => {
    const dialog = $("#token-dialog");
    const input = $("#token-input");
    $("#token-reason").textContent = reason;
    input.value = "";
    dialog.addEventListener(
      "close",
      () => {
        asking = null;
        const token = dialog.returnValue === "use" ? input.value.trim() : "";
        input.value = "";
        if (token) {
          try {
            sessionStorage.setItem(KEY, token);
          } catch {
            /* kept for this one request only */
          }
        }
        resolve(token || null);
      },
      { once: true },
    );
    dialog.showModal();
    input.focus();
  });
  return asking;
}
