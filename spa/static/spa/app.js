/**
 * The app shell: checks who is logged in, draws the header, and shows one view per path.
 *
 *   /login/          <login-view>
 *   /products/       <products-view>   (page and filters in the query string)
 *   /imports/[id/]   <imports-view>
 *   /account/        <account-view>
 *   /webhooks/       <webhooks-view>   (staff only: the link is shown to staff, the view tells others why)
 *
 * An expired session anywhere sends the person to the login page, and back afterwards.
 */

import { notify } from "./components/notices.js";
import { describeError } from "./lib/api.js";
import { html, render } from "./lib/html.js";
import { navigate, onRouteChange, startRouter } from "./lib/router.js";
import { forgetUser, loadUser, logout, onUserChange, user } from "./lib/session.js";
import { onImportStarted } from "./lib/uploads.js";
import "./views/account-view.js";
import "./views/imports-view.js";
import "./views/login-view.js";
import "./views/products-view.js";
import "./views/webhooks-view.js";

const ROUTES = [
  { pattern: /^\/login\/?$/, tag: "login-view", title: "Log in", public: true },
  { pattern: /^\/products\/?$/, tag: "products-view", title: "Catalogue", nav: "products" },
  { pattern: /^\/imports\/(\d+\/?)?$/, tag: "imports-view", title: "Imports", nav: "imports" },
  { pattern: /^\/account\/?$/, tag: "account-view", title: "API token", nav: "account" },
  { pattern: /^\/webhooks\/?$/, tag: "webhooks-view", title: "Webhooks", nav: "webhooks" },
];

const main = document.getElementById("main");
const header = document.getElementById("app-header");
let loginReason = "";

function renderHeader() {
  const me = user();
  const active = (ROUTES.find((route) => route.pattern.test(window.location.pathname)) || {}).nav;
  const link = (nav, href, label) => html`<a href="${href}" class="nav-link" ${active === nav ? html`aria-current="page"` : ""}>${label}</a>`;
  render(header, html`<div class="header-inner">
      <a href="${me ? "/products/" : "/login/"}" class="brand">
        <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M3 7l9-4 9 4-9 4-9-4zm0 5l9 4 9-4M3 17l9 4 9-4" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/></svg>
        <span>Product import</span>
      </a>
      ${me && html`<nav class="nav" aria-label="Main">
          ${link("products", "/products/", "Catalogue")}
          ${link("imports", "/imports/", "Imports")}
          ${me.is_staff && link("webhooks", "/webhooks/", "Webhooks")}
          ${link("account", "/account/", "API token")}
        </nav>
        <div class="header-user">
          <span class="muted header-username" title="Logged in as ${me.username}">${me.username}</span>
          <button type="button" class="button button-small button-ghost" data-action="logout">Log out</button>
        </div>`}
    </div>`);
  const logoutButton = header.querySelector("[data-action=logout]");
  if (logoutButton) {
    logoutButton.addEventListener("click", async () => {
      try {
        await logout();
      } catch (error) {
        notify(describeError(error), { kind: "error" });
      }
      loginReason = "You have logged out.";
      navigate("/login/");
    });
  }
}

function showRoute(location) {
  const route = ROUTES.find((candidate) => candidate.pattern.test(location.path));
  if (location.path === "/" || !route) {
    if (location.path !== "/") notify("That page doesn't exist; here is the catalogue.", { kind: "info" });
    navigate(user() ? "/products/" : "/login/", { replace: true });
    return;
  }
  if (!route.public && !user()) {
    navigate(`/login/?next=${encodeURIComponent(location.path + window.location.search)}`, { replace: true });
    return;
  }
  if (route.public && user()) {
    navigate("/products/", { replace: true });
    return;
  }
  document.title = `${route.title} · Product import`;
  renderHeader();
  const existing = main.firstElementChild;
  if (existing && existing.localName === route.tag && typeof existing.routeChanged === "function") {
    // Same view, new query or id: let it update itself (keeps focus, uploads, open streams).
    existing.routeChanged(location);
    return;
  }
  const view = document.createElement(route.tag);
  if (route.tag === "login-view" && loginReason) view.setAttribute("reason", loginReason);
  loginReason = "";
  main.replaceChildren(view);
  // Move focus to the new view's heading so keyboard and screen-reader users start there.
  const heading = view.querySelector("h1");
  if (heading && route.tag !== "login-view") {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
  window.scrollTo(0, 0);
}

async function boot() {
  window.addEventListener("session-expired", () => {
    if (!user()) return;
    forgetUser();
    loginReason = "Your session has expired. Please log in again.";
    const here = window.location.pathname + window.location.search;
    navigate(`/login/?next=${encodeURIComponent(here)}`);
  });
  onUserChange(renderHeader);
  onImportStarted((job) => {
    if (!window.location.pathname.startsWith("/imports")) {
      notify(`The upload of ${job.filename} is complete; import #${job.id} has started.`, { kind: "success" });
    }
  });
  try {
    await loadUser();
  } catch (error) {
    render(main, html`<div class="state-box state-error" role="alert">
        <p>${describeError(error)}</p>
        <button type="button" class="button" data-action="reload">Try again</button>
      </div>`);
    main.querySelector("[data-action=reload]").addEventListener("click", () => window.location.reload());
    return;
  }
  onRouteChange(showRoute);
  startRouter();
  document.documentElement.dataset.ready = "true";
}

boot();
