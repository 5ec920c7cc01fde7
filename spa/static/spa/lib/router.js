/**
 * A small History-API router: the path picks the view, the query string holds the view's state
 * (page, filters), so reload, back/forward and shared links all land where they should.
 */

import { Announcer } from "./events.js";

const routes = new Announcer();

/** Paths that belong to the server, never to the app (downloads, API pages, admin). */
const SERVER_PATHS = /^\/(api|admin|static|healthz)(\/|$)/;

export function currentLocation() {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

/** Call `listener(location)` whenever the app goes to another path; returns the unsubscribe. */
export function onRouteChange(listener) {
  return routes.listen("change", listener);
}

function notify() {
  routes.announce("change", currentLocation());
}

/** Go to `url` inside the app. `replace` rewrites the current history entry instead. */
export function navigate(url, { replace = false } = {}) {
  const target = new URL(url, window.location.origin);
  const next = target.pathname + target.search;
  const now = window.location.pathname + window.location.search;
  if (next !== now) {
    window.history[replace ? "replaceState" : "pushState"]({}, "", next);
  }
  notify();
}

/**
 * Update only the query string of the current view (no view change is announced): views call
 * this when their own state changes, so the URL always reflects it.
 */
export function setQuery(params, { replace = false } = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value));
  }
  const text = query.toString();
  const next = window.location.pathname + (text ? `?${text}` : "");
  if (next === window.location.pathname + window.location.search) return;
  window.history[replace ? "replaceState" : "pushState"]({}, "", next);
}

export function startRouter() {
  window.addEventListener("popstate", notify);
  // Same-origin links navigate inside the app unless they are downloads or server pages.
  document.addEventListener("click", (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    const link = event.target.closest("a[href]");
    if (!link || link.hasAttribute("download") || link.target || link.origin !== window.location.origin) return;
    if (SERVER_PATHS.test(link.pathname) || link.getAttribute("href").startsWith("#")) return;
    event.preventDefault();
    navigate(link.pathname + link.search);
  });
  notify();
}
