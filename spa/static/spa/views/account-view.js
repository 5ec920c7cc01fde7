/**
 * <account-view>: the API token for scripts — reveal (with the password), copy, regenerate —
 * and ready-to-paste curl commands that use it.
 */

import { confirmDialog } from "../components/dialogs.js";
import { notify } from "../components/notices.js";
import { api, describeError, isSessionError } from "../lib/api.js";
import { copyText } from "../lib/clipboard.js";
import { html, render } from "../lib/html.js";
import { user } from "../lib/session.js";

function curlExamples(token) {
  const origin = window.location.origin;
  const key = token || "YOUR_TOKEN";
  return [
    `curl -H "Authorization: Token ${key}" "${origin}/api/products/?page_size=10"`,
    `curl -H "Authorization: Token ${key}" -F "file=@products.csv" "${origin}/api/imports/"`,
    `curl -N -H "Authorization: Token ${key}" "${origin}/api/imports/IMPORT_ID/events/"`,
  ];
}

class AccountView extends HTMLElement {
  constructor() {
    super();
    this.addEventListener("click", (event) => this.onClick(event));
  }

  connectedCallback() {
    // The token is shown only after the password is entered again, never kept from before.
    this.token = null;
    this.render();
  }

  render() {
    const me = user() || {};
    const examples = curlExamples(this.token);
    render(this, html`<section class="view" aria-labelledby="account-title">
      <header class="view-header">
        <div>
          <h1 id="account-title" tabindex="-1">API token</h1>
          <p class="view-subtitle">Scripts use this token instead of your password. Logged in as <strong>${me.username}</strong>.</p>
        </div>
      </header>
      <div class="card">
        <h2 class="card-title">Your token</h2>
        ${this.token
          ? html`<div class="field">
              <label for="api-token">Token</label>
              <div class="input-group">
                <input id="api-token" class="mono" readonly value="${this.token}" spellcheck="false">
                <button type="button" class="button" data-action="copy-token">Copy</button>
              </div>
            </div>`
          : html`<form class="reveal-form" data-ref="reveal" novalidate>
              <p>Enter your password to show your token.</p>
              <input type="text" name="username" autocomplete="username" value="${me.username}" hidden>
              <p class="form-error" role="alert" data-ref="reveal-error" hidden></p>
              <div class="input-group">
                <label for="reveal-password" class="visually-hidden">Password</label>
                <input id="reveal-password" type="password" name="password" autocomplete="current-password" placeholder="Password">
                <button type="submit" class="button button-primary">Show token</button>
              </div>
            </form>`}
        <p class="card-actions">
          <button type="button" class="button button-danger-outline" data-action="regenerate">Regenerate token…</button>
          <span class="muted">A new token replaces the old one at once; scripts using the old one stop working.</span>
        </p>
      </div>
      <div class="card">
        <h2 class="card-title">Try it with curl</h2>
        ${examples.map((command, index) => html`<div class="example">
            <p class="example-label" id="example-${index}">${["List products", "Import a CSV file", "Follow an import's progress live"][index]}</p>
            <div class="code-block">
              <pre aria-labelledby="example-${index}"><code>${command}</code></pre>
              <button type="button" class="button button-small" data-action="copy-example" data-index="${index}">Copy</button>
            </div>
          </div>`)}
        <p class="muted">Files of more than a few MB go faster and resume after a dropped connection with the
          resumable upload endpoint <code>/api/uploads/</code> (tus protocol, e.g. the <code>tuspy</code> client).
          The API is described at <a href="/api/docs/">/api/docs/</a>.</p>
      </div>
    </section>`);

    const reveal = this.querySelector("[data-ref=reveal]");
    if (reveal) reveal.addEventListener("submit", (event) => this.reveal(event));
  }

  async onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    try {
      if (action === "copy-token") {
        await copyText(this.token);
        notify("Token copied to the clipboard.", { kind: "success" });
      } else if (action === "copy-example") {
        await copyText(curlExamples(this.token)[Number(button.dataset.index)]);
        notify("Command copied to the clipboard.", { kind: "success" });
      } else if (action === "regenerate") {
        await this.regenerate();
      }
    } catch (error) {
      if (!isSessionError(error)) notify(describeError(error), { kind: "error" });
    }
  }

  async reveal(event) {
    event.preventDefault();
    const form = event.target;
    const errorBox = form.querySelector("[data-ref=reveal-error]");
    errorBox.hidden = true;
    try {
      const result = await api.post("/api/auth/token/",
        { username: user().username, password: form.elements.password.value }, { quietSession: true });
      this.token = result.token;
      this.render();
      this.querySelector("#api-token").focus();
    } catch (error) {
      errorBox.textContent = error.status === 400 || error.status === 401 || error.status === 403
        ? "That password is not right." : describeError(error);
      errorBox.hidden = false;
      form.elements.password.focus();
    }
  }

  async regenerate() {
    const confirmed = await confirmDialog({
      title: "Regenerate your API token?",
      message: "Scripts that use the current token will stop working until you give them the new one.",
      confirmLabel: "Regenerate token",
      danger: true,
    });
    if (!confirmed) return;
    const result = await api.post("/api/auth/token/regenerate/", {});
    this.token = result.token;
    this.render();
    notify("A new token was created. The old one no longer works.", { kind: "success" });
    this.querySelector("#api-token").focus();
  }
}

customElements.define("account-view", AccountView);
