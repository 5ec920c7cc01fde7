/**
 * <webhook-list>: the webhooks, one card each — URL, description, events, enabled state (and why
 * the server disabled it), the start of its secret, its last deliveries and the outcome of the
 * last Test — or what stands in for them: loading, none yet, a failed load.
 *
 * It shows and reports; its owner does the work. A card's button sends a `webhook-action` event
 * whose detail is `{action: "toggle" | "test" | "edit" | "rotate" | "delete", webhook}`; the error
 * box's button sends `retry`. Cards are cards at every width (a table of URLs and event lists
 * would not fit a phone); the deliveries inside are a table that becomes cards on a phone.
 */

import { formatDateTime, formatNumber, formatRelative, plural } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { EVENT_TYPES } from "../lib/webhooks.js";

const EVENT_LABELS = new Map(EVENT_TYPES.map(({ type, label }) => [type, label]));

/** What a person calls a webhook in a button's name or a notice: its description, else its URL. */
export function webhookName(webhook) {
  return webhook.description || webhook.url;
}

/** Why the server turned the webhook off, if it did (after repeated failed deliveries). */
function disabledReason(webhook) {
  return webhook.is_active ? "" : webhook.disabled_reason || "";
}

function formatDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${formatNumber(Math.round(ms))} ms`;
}

/** The sentence the card's live region reads after a Test: the status code and time, or the error. */
export function testResultText(result) {
  if (result.error) return `Test failed: ${result.error}`;
  const ok = result.status_code >= 200 && result.status_code < 300;
  return `Test ${ok ? "delivered" : "answered"}: HTTP ${result.status_code} in ${formatDuration(result.duration_ms)}`;
}

function statusTemplate(delivery) {
  if (delivery.status_code === null || delivery.status_code === undefined) {
    return html`<span class="badge badge-failed">${delivery.error ? "Error" : "Pending"}</span>`;
  }
  const ok = delivery.succeeded ?? (delivery.status_code >= 200 && delivery.status_code < 300);
  return html`<span class="badge ${ok ? "badge-completed" : "badge-failed"}">${delivery.status_code}</span>`;
}

function deliveryTemplate(delivery) {
  const when = delivery.created_at || delivery.sent_at;
  const answer = delivery.error || delivery.response_excerpt || "";
  return html`<tr>
      <td class="cell-when"><time datetime="${when}" title="${formatDateTime(when)}">${formatRelative(when)}</time></td>
      <td class="cell-event"><code>${delivery.event_type}</code></td>
      <td class="cell-status">${statusTemplate(delivery)}</td>
      <td class="cell-duration">${formatDuration(delivery.duration_ms)}</td>
      <td class="cell-attempt">${delivery.attempt ? `attempt ${formatNumber(delivery.attempt)}` : "–"}</td>
      <td class="cell-answer"><span class="clamp ${delivery.error ? "delivery-error" : "mono"}" title="${answer}">${answer || "–"}</span></td>
    </tr>`;
}

function deliveriesTemplate(webhook, state) {
  if (!state) return html`<p class="muted" role="status"><span class="spinner" aria-hidden="true"></span> Loading deliveries…</p>`;
  if (state.error) return html`<p class="delivery-error">Couldn't load the deliveries. ${state.error}</p>`;
  const { results, count } = state;
  if (!results.length) return html`<p class="muted">No deliveries yet. Press Test to send one.</p>`;
  return html`<div class="table-wrap">
      <table class="table table-compact deliveries-table">
        <caption class="visually-hidden">Last deliveries to ${webhookName(webhook)}</caption>
        <thead><tr>
          <th scope="col">Time</th><th scope="col">Event</th><th scope="col">Status</th>
          <th scope="col">Response time</th><th scope="col">Attempt</th><th scope="col">Answer or error</th>
        </tr></thead>
        <tbody>${results.map(deliveryTemplate)}</tbody>
      </table>
    </div>
    ${count > results.length && html`<p class="muted deliveries-more">The last ${formatNumber(results.length)} of ${plural(count, "delivery", "deliveries")}.</p>`}`;
}

function eventsTemplate(events) {
  if (!events || !events.length) return html`<p class="muted">No events chosen.</p>`;
  return html`<p class="webhook-events-label">${plural(events.length, "event", "events")}:</p>
    <ul class="event-list">${events.map((type) => html`<li title="${type}">${EVENT_LABELS.get(type) || type}</li>`)}</ul>`;
}

class WebhookList extends HTMLElement {
  constructor() {
    super();
    this.webhooks = [];
    this.deliveries = new Map();
    this.testResults = new Map();
    this.addEventListener("click", (event) => this.onClick(event));
  }

  showLoading() {
    this.webhooks = [];
    render(this, html`<div class="state-box" role="status"><span class="spinner" aria-hidden="true"></span> Loading webhooks…</div>`);
  }

  showError(message) {
    this.webhooks = [];
    render(this, html`<div class="state-box state-error" role="alert">
        <p>${message}</p>
        <button type="button" class="button" data-action="retry">Try again</button>
      </div>`);
  }

  showWebhooks(webhooks) {
    this.webhooks = webhooks;
    if (!webhooks.length) {
      render(this, html`<div class="state-box">
          <p><strong>No webhooks yet.</strong> Add one to tell another system when the catalogue changes.</p>
        </div>`);
      return;
    }
    render(this, html`<ul class="webhook-list" aria-label="Webhooks">${webhooks.map((webhook) => html`<li>${this.cardTemplate(webhook)}</li>`)}</ul>`);
  }

  cardTemplate(webhook) {
    const id = `webhook-card-${webhook.id}`;
    const name = webhookName(webhook);
    const reason = disabledReason(webhook);
    const test = this.testResults.get(String(webhook.id));
    return html`<article class="card webhook-card" data-id="${webhook.id}" aria-labelledby="${id}-url">
        <div class="webhook-header">
          <div class="webhook-heading">
            <h2 class="card-title webhook-url" id="${id}-url">${webhook.url}</h2>
            ${webhook.description && html`<p class="webhook-description">${webhook.description}</p>`}
          </div>
          <button type="button" class="switch" role="switch" data-action="toggle"
            aria-checked="${webhook.is_active ? "true" : "false"}" aria-label="Enabled: ${name}">
            <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
            <span class="switch-text" aria-hidden="true">${webhook.is_active ? "Enabled" : "Disabled"}</span>
          </button>
        </div>
        ${reason && html`<p class="webhook-disabled" data-ref="reason"><strong>Disabled by the server:</strong> ${reason}</p>`}
        <div class="webhook-events">${eventsTemplate(webhook.events)}</div>
        ${webhook.secret_prefix && html`<p class="webhook-secret muted">Signing secret: <code>${webhook.secret_prefix}…</code></p>`}
        <div class="card-actions webhook-actions">
          <button type="button" class="button button-small button-primary" data-action="test" aria-label="Test ${name}">Test</button>
          <button type="button" class="button button-small" data-action="edit" aria-label="Edit ${name}">Edit</button>
          <button type="button" class="button button-small" data-action="rotate" aria-label="Regenerate the secret of ${name}">Regenerate secret…</button>
          <button type="button" class="button button-small button-danger-outline" data-action="delete" aria-label="Delete ${name}">Delete</button>
        </div>
        <p class="test-result ${test ? `test-result-${test.kind}` : ""}" role="status" data-ref="test">${test ? test.text : ""}</p>
        <h3 class="deliveries-title" id="${id}-deliveries">Last deliveries</h3>
        <div data-ref="deliveries">${deliveriesTemplate(webhook, this.deliveries.get(String(webhook.id)))}</div>
      </article>`;
  }

  /** Show `webhook`'s saved data in its card, keeping its deliveries and its last test. */
  showWebhook(webhook) {
    const index = this.webhooks.findIndex((candidate) => String(candidate.id) === String(webhook.id));
    const card = this.card(webhook.id);
    if (index < 0 || !card) return;
    this.webhooks[index] = { ...this.webhooks[index], ...webhook };
    const holder = document.createElement("div");
    render(holder, this.cardTemplate(this.webhooks[index]));
    card.replaceWith(holder.firstElementChild);
  }

  /** Show the last deliveries (`{results, count}`) or `{error}` of the webhook `id`. */
  showDeliveries(id, state) {
    this.deliveries.set(String(id), state);
    const card = this.card(id);
    const webhook = this.find(id);
    if (card && webhook) render(card.querySelector("[data-ref=deliveries]"), deliveriesTemplate(webhook, state));
  }

  /**
   * Say how the webhook's test went, in the card's live region: the region stays in the page and
   * only its text changes, so screen readers announce it.
   */
  showTestResult(id, { text, kind }) {
    this.testResults.set(String(id), { text, kind });
    const region = this.card(id) && this.card(id).querySelector("[data-ref=test]");
    if (!region) return;
    region.className = `test-result test-result-${kind}`;
    region.textContent = text;
  }

  /** Show the switch as `active`; `busy` disables it (and the Test button) while saving. */
  showActive(id, active, { busy = false } = {}) {
    const button = this.control(id, "toggle");
    if (!button) return;
    button.setAttribute("aria-checked", active ? "true" : "false");
    button.querySelector(".switch-text").textContent = active ? "Enabled" : "Disabled";
    button.disabled = busy;
  }

  setBusy(id, action, busy) {
    const button = this.control(id, action);
    if (!button) return;
    button.disabled = busy;
    if (busy) button.setAttribute("aria-busy", "true");
    else button.removeAttribute("aria-busy");
  }

  focusControl(id, action) {
    const target = this.control(id, action);
    if (target) target.focus();
    return Boolean(target);
  }

  card(id) {
    return this.querySelector(`article[data-id="${CSS.escape(String(id))}"]`);
  }

  control(id, action) {
    const card = this.card(id);
    return card && card.querySelector(`[data-action="${action}"]`);
  }

  find(id) {
    return this.webhooks.find((candidate) => String(candidate.id) === String(id));
  }

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button || button.disabled) return;
    const { action } = button.dataset;
    if (action === "retry") {
      this.dispatchEvent(new CustomEvent("retry"));
      return;
    }
    const card = button.closest("article[data-id]");
    const webhook = card && this.find(card.dataset.id);
    if (webhook) this.dispatchEvent(new CustomEvent("webhook-action", { detail: { action, webhook } }));
  }
}

customElements.define("webhook-list", WebhookList);
