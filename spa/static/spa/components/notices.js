/**
 * Notices: short messages that confirm an action or report a failure, read out by screen readers
 * (polite for success, assertive for errors) and dismissed by a click or after a while.
 */

import { html, render } from "../lib/html.js";

const TIMEOUT_MS = { success: 5000, info: 6000, error: 10000 };

/** Show `message`; `kind` is "success", "info" or "error". */
export function notify(message, { kind = "info" } = {}) {
  const notice = document.createElement("div");
  notice.className = `notice notice-${kind}`;
  notice.setAttribute("role", kind === "error" ? "alert" : "status");
  render(notice, html`<span class="notice-text">${message}</span>
    <button type="button" class="notice-close" aria-label="Dismiss notice">×</button>`);
  notice.querySelector("button").addEventListener("click", () => notice.remove());
  // The live region is in the page from the start (index.html), so screen readers watch it.
  document.getElementById("notices").append(notice);
  setTimeout(() => notice.remove(), TIMEOUT_MS[kind] || 6000);
  return notice;
}
