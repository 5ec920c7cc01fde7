/**
 * <webhooks-view>: the webhooks that tell other systems when the catalogue changes (staff only).
 * It loads the webhooks and each one's last deliveries, and carries out what is asked for: add
 * and edit in a dialog, show a new secret once, regenerate it, enable/disable, delete, and Test,
 * whose outcome (status code and response time, or the error) is shown and announced in the
 * webhook's card. <webhook-list> only shows things and reports choices.
 *
 * People who are not staff never see the link; opening the URL tells them why there is nothing.
 */

import { confirmDialog } from "../components/dialogs.js";
import { notify } from "../components/notices.js";
import { showSecretOnce } from "../components/secret-dialog.js";
import { openWebhookDialog } from "../components/webhook-dialog.js";
import { testResultText, webhookName } from "../components/webhook-list.js";
import { ApiError, describeError, isSessionError } from "../lib/api.js";
import { plural } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { user } from "../lib/session.js";
import { resultsOf, webhooksApi } from "../lib/webhooks.js";

const STAFF_ONLY = "Webhooks are managed by staff. Ask an administrator if another system should hear about catalogue changes.";

class WebhooksView extends HTMLElement {
  connectedCallback() {
    const staff = Boolean(user() && user().is_staff);
    render(this, html`<section class="view" aria-labelledby="webhooks-title">
      <header class="view-header">
        <div>
          <h1 id="webhooks-title">Webhooks</h1>
          <p class="view-subtitle" data-ref="count">${staff ? "Loading webhooks…" : "Tell other systems when the catalogue changes."}</p>
        </div>
        ${staff && html`<div class="view-actions">
          <button type="button" class="button" data-action="refresh">Refresh</button>
          <button type="button" class="button button-primary" data-action="create">Add webhook</button>
        </div>`}
      </header>
      ${staff
        ? html`<webhook-list></webhook-list>`
        : html`<div class="state-box" data-ref="staff-only"><p><strong>${STAFF_ONLY}</strong></p>
            <p><a class="button" href="/products/">Back to the catalogue</a></p></div>`}
    </section>`);
    if (!staff) return;
    this.count = this.querySelector("[data-ref=count]");
    this.list = this.querySelector("webhook-list");
    this.list.addEventListener("retry", () => this.load());
    this.list.addEventListener("webhook-action", ({ detail: { action, webhook } }) => {
      const handlers = { toggle: this.toggle, test: this.test, edit: this.edit, rotate: this.rotate, delete: this.remove };
      if (handlers[action]) handlers[action].call(this, webhook);
    });
    this.querySelector("[data-action=create]").addEventListener("click", () => this.create());
    this.querySelector("[data-action=refresh]").addEventListener("click", () => this.load());
    this.load();
  }

  /** Load the webhooks, then each one's last deliveries (side by side; a slow one delays no other). */
  async load({ focus = null } = {}) {
    this.sequence = (this.sequence || 0) + 1;
    const sequence = this.sequence;
    if (!this.webhooks) this.list.showLoading();
    this.list.setAttribute("aria-busy", "true");
    try {
      const webhooks = resultsOf(await webhooksApi.list());
      if (sequence !== this.sequence) return;
      this.webhooks = webhooks;
      this.count.textContent = webhooks.length ? plural(webhooks.length, "webhook", "webhooks") : "Tell other systems when the catalogue changes.";
      this.list.showWebhooks(webhooks);
      if (focus) this.focus(focus);
      webhooks.forEach((webhook) => this.loadDeliveries(webhook.id));
    } catch (error) {
      if (isSessionError(error) || sequence !== this.sequence) return;
      this.count.textContent = "";
      this.list.showError(error instanceof ApiError && error.status === 403
        ? STAFF_ONLY : `Couldn't load the webhooks. ${describeError(error)}`);
    } finally {
      if (sequence === this.sequence) this.list.removeAttribute("aria-busy");
    }
  }

  async loadDeliveries(id) {
    try {
      const data = await webhooksApi.deliveries(id);
      this.list.showDeliveries(id, { results: resultsOf(data), count: data && typeof data.count === "number" ? data.count : resultsOf(data).length });
    } catch (error) {
      if (!isSessionError(error)) this.list.showDeliveries(id, { error: describeError(error) });
    }
  }

  /** After a redraw keyboard users stay on the same control of the same webhook, or near it. */
  focus({ id, action }) {
    if (id !== null && id !== undefined && this.list.focusControl(id, action)) return;
    this.querySelector("[data-action=create]").focus();
  }

  returnFocusTo(id = null, action = null) {
    return () => this.focus({ id, action });
  }

  async create() {
    const saved = await openWebhookDialog({ returnFocus: this.returnFocusTo() });
    if (!saved) return;
    if (saved.secret) {
      await showSecretOnce({ webhook: saved, secret: saved.secret, title: "Webhook added: copy its secret",
        returnFocus: this.returnFocusTo() });
    }
    notify(`Added the webhook to ${saved.url}.`, { kind: "success" });
    this.load({ focus: { id: saved.id, action: "test" } });
  }

  async edit(webhook) {
    const saved = await openWebhookDialog({ webhook, returnFocus: this.returnFocusTo(webhook.id, "edit") });
    if (!saved) return;
    this.list.showWebhook(saved);
    this.list.focusControl(saved.id, "edit");
    notify(`Saved the webhook to ${saved.url}.`, { kind: "success" });
  }

  async toggle(webhook) {
    const next = !webhook.is_active;
    this.list.showActive(webhook.id, next, { busy: true });
    try {
      const saved = await webhooksApi.update(webhook.id, { is_active: next });
      this.list.showWebhook(saved);
      notify(`${webhookName(saved)} is now ${saved.is_active ? "enabled" : "disabled"}.`, { kind: "success" });
    } catch (error) {
      this.list.showActive(webhook.id, webhook.is_active);
      if (!isSessionError(error)) notify(`Couldn't change ${webhookName(webhook)}: ${describeError(error)}`, { kind: "error" });
    } finally {
      // The redrawn (or disabled) switch lost the focus; give it back.
      this.list.focusControl(webhook.id, "toggle");
    }
  }

  async test(webhook) {
    this.list.setBusy(webhook.id, "test", true);
    this.list.showTestResult(webhook.id, { text: "Sending a test event…", kind: "pending" });
    try {
      const result = await webhooksApi.test(webhook.id);
      const ok = !result.error && result.status_code >= 200 && result.status_code < 300;
      this.list.showTestResult(webhook.id, { text: testResultText(result), kind: ok ? "ok" : "failed" });
    } catch (error) {
      if (isSessionError(error)) return;
      this.list.showTestResult(webhook.id, { text: `Test not sent: ${describeError(error)}`, kind: "failed" });
    } finally {
      this.list.setBusy(webhook.id, "test", false);
    }
    this.loadDeliveries(webhook.id);
  }

  async rotate(webhook) {
    const confirmed = await confirmDialog({
      title: "Regenerate the secret?",
      message: `${webhookName(webhook)} gets a new signing secret at once; its receiver rejects the next events until it has the new one.`,
      confirmLabel: "Regenerate secret",
      danger: true,
      returnFocus: this.returnFocusTo(webhook.id, "rotate"),
    });
    if (!confirmed) return;
    try {
      const saved = await webhooksApi.rotateSecret(webhook.id);
      const secret = saved && saved.secret;
      if (secret) {
        await showSecretOnce({ webhook: { ...webhook, ...saved }, secret, title: "New secret: copy it",
          returnFocus: this.returnFocusTo(webhook.id, "rotate") });
      }
      if (saved && saved.id) this.list.showWebhook(saved);
      this.list.focusControl(webhook.id, "rotate");
      notify("A new secret was created. The old one no longer signs anything.", { kind: "success" });
    } catch (error) {
      if (!isSessionError(error)) notify(`Couldn't regenerate the secret: ${describeError(error)}`, { kind: "error" });
    }
  }

  async remove(webhook) {
    const confirmed = await confirmDialog({
      title: "Delete this webhook?",
      message: `${webhook.url} will get no more events, and its deliveries are forgotten. This cannot be undone.`,
      confirmLabel: "Delete webhook",
      danger: true,
      returnFocus: this.returnFocusTo(webhook.id, "delete"),
    });
    if (!confirmed) return;
    try {
      await webhooksApi.remove(webhook.id);
      notify(`Deleted the webhook to ${webhook.url}.`, { kind: "success" });
      this.load({ focus: { id: null } });
    } catch (error) {
      if (!isSessionError(error)) notify(`Couldn't delete the webhook: ${describeError(error)}`, { kind: "error" });
    }
  }
}

customElements.define("webhooks-view", WebhooksView);
