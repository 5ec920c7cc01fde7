/** <login-view>: the session login form; on success the app goes where the person was headed. */

import { describeError, ApiError } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { navigate, currentLocation } from "../lib/router.js";
import { login } from "../lib/session.js";

/** Only same-app paths are followed after login, never another site. */
function safeNext(value) {
  return value && value.startsWith("/") && !value.startsWith("//") && !value.startsWith("/login") ? value : "/products/";
}

class LoginView extends HTMLElement {
  connectedCallback() {
    const reason = this.getAttribute("reason");
    render(this, html`<section class="login" aria-labelledby="login-title">
      <form class="card login-card" novalidate>
        <h1 id="login-title" class="login-title">Log in</h1>
        <p class="muted">Product import — manage your catalogue and import CSV files.</p>
        ${reason && html`<p class="notice-inline" role="status">${reason}</p>`}
        <p class="form-error" role="alert" data-ref="error" hidden></p>
        <div class="field">
          <label for="login-username">Username</label>
          <input id="login-username" name="username" autocomplete="username" required autocapitalize="none" spellcheck="false">
        </div>
        <div class="field">
          <label for="login-password">Password</label>
          <input id="login-password" name="password" type="password" autocomplete="current-password" required>
        </div>
        <button type="submit" class="button button-primary button-block">Log in</button>
      </form>
    </section>`);
    const form = this.querySelector("form");
    const errorBox = this.querySelector("[data-ref=error]");
    this.querySelector("#login-username").focus();
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const username = form.elements.username.value.trim();
      const password = form.elements.password.value;
      if (!username || !password) {
        errorBox.textContent = "Enter your username and password.";
        errorBox.hidden = false;
        (username ? form.elements.password : form.elements.username).focus();
        return;
      }
      const submit = form.querySelector("[type=submit]");
      submit.disabled = true;
      errorBox.hidden = true;
      try {
        await login({ username, password });
        navigate(safeNext(currentLocation().query.get("next")), { replace: true });
      } catch (error) {
        errorBox.textContent = error instanceof ApiError && error.status < 500
          ? describeError(error)
          : `Couldn't log in. ${describeError(error)}`;
        errorBox.hidden = false;
        form.elements.password.select();
        form.elements.password.focus();
      } finally {
        submit.disabled = false;
      }
    });
  }
}

customElements.define("login-view", LoginView);
