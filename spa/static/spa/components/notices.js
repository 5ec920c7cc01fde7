/**
 * Notices: short messages that confirm an action or report a failure, read out by screen readers
 * (polite for success, assertive for errors) and dismissed by a click or after a while.
 *
 * They live in a band of their own under the page header (`#notices`, sticky at the top of the
 * window, see app.css), not on top of the page: a notice pushes the page down while it shows
 * instead of covering a row's Edit or Delete button. At most `MAX_SHOWN` stack; a new one
 * replaces the oldest, so a burst of actions cannot fill the screen.
 */

import { html, render } from "../lib/html.js";

const TIMEOUT_MS = { success: 5000, info: 6000, error: 10000 };
const MAX_SHOWN = 3;

/** Show `message`; `kind` is "success", "info" or "error". */
export function notify(message, { kind = "info" } = {}) {
  const notice = document.createElement("div");
  notice.className = `notice notice-${kind}`;
  notice.setAttribute("role", kind === "error" ? "alert" : "status");
  render(notice, html`<span class="notice-text">${message}</span>
    <button type="button" class="notice-close" aria-label="Dismiss notice">×</button>`);
  notice.querySelector("button").addEventListener("click", () => notice.remove());
  // The live region is in the page from the start (index.html), so screen readers watch it.
  const region = document.getElementById("notices");
  region.append(notice);
  while (region.children.length > MAX_SHOWN) region.firstElementChild.remove();
  setTimeout(() => notice.remove(), TIMEOUT_MS[kind] || 6000);
  return notice;
}
