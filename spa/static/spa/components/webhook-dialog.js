/**
 * The add/edit webhook form in a modal dialog: URL, description, the events as checkboxes, and
 * whether it is enabled. The server judges the URL (only http/https, no private or loopback
 * address): its messages appear next to the fields they concern, and focus moves to the first
 * field in error.
 */

import { html } from "../lib/html.js";
import { EVENT_TYPES, webhooksApi } from "../lib/webhooks.js";
import { uniqueId } from "./dialogs.js";
import { openFormDialog } from "./form-dialog.js";

const FIELDS = ["url", "description", "events", "is_active"];

/**
 * Open the dialog; resolves with the saved webhook (on create it carries the full `secret`), or
 * undefined when cancelled. `returnFocus` is openDialog's.
 */
export function openWebhookDialog({ webhook = null, returnFocus } = {}) {
  webhook = webhook && { ...webhook, events: [...(webhook.events || [])] };
  const editing = Boolean(webhook);
  const prefix = uniqueId("webhook-form");
  const titleId = `${prefix}-title`;
  const values = webhook || { url: "", description: "", events: EVENT_TYPES.map(({ type }) => type), is_active: true };
  const chosen = new Set(values.events);

  const template = html`<form class="dialog-body" novalidate>
      <h2 id="${titleId}" class="dialog-title">${editing ? "Edit webhook" : "Add a webhook"}</h2>
      <p class="form-error" role="alert" hidden></p>
      <div class="field" data-field="url">
        <label for="${prefix}-url">URL</label>
        <input id="${prefix}-url" name="url" type="url" required maxlength="2000" autocomplete="off" spellcheck="false"
          inputmode="url" placeholder="https://example.com/hooks/products"
          aria-describedby="${prefix}-url-hint ${prefix}-url-error" value="${values.url}">
        <p class="field-hint" id="${prefix}-url-hint">Where each event is POSTed, signed with the webhook's secret.</p>
        <p class="field-error" id="${prefix}-url-error" hidden></p>
      </div>
      <div class="field" data-field="description">
        <label for="${prefix}-description">Description</label>
        <input id="${prefix}-description" name="description" maxlength="500" autocomplete="off"
          aria-describedby="${prefix}-description-error" value="${values.description}">
        <p class="field-error" id="${prefix}-description-error" hidden></p>
      </div>
      <fieldset class="field fieldset" data-field="events" aria-describedby="${prefix}-events-error">
        <legend>Events</legend>
        <div class="checkbox-grid">
          ${EVENT_TYPES.map(({ type, label }) => html`<label class="checkbox">
              <input type="checkbox" name="events" value="${type}" ${chosen.has(type) ? "checked" : ""}>
              <span>${label} <code class="muted">${type}</code></span>
            </label>`)}
        </div>
        <p class="field-error" id="${prefix}-events-error" hidden></p>
      </fieldset>
      <div class="field field-inline" data-field="is_active">
        <input type="checkbox" id="${prefix}-active" name="is_active" ${values.is_active ? "checked" : ""}
          aria-describedby="${prefix}-active-error">
        <label for="${prefix}-active">Enabled (events are sent)</label>
        <p class="field-error" id="${prefix}-active-error" hidden></p>
      </div>
      <div class="dialog-actions">
        <button type="button" class="button" data-action="cancel">Cancel</button>
        <button type="submit" class="button button-primary">${editing ? "Save changes" : "Add webhook"}</button>
      </div>
    </form>`;

  return openFormDialog({
    template,
    labelledBy: titleId,
    initialFocus: `#${prefix}-url`,
    returnFocus,
    fields: FIELDS,
    groups: ["events"],
    read: (form) => ({
      url: form.elements.url.value.trim(),
      description: form.elements.description.value.trim(),
      events: [...form.querySelectorAll("input[name=events]:checked")].map((box) => box.value),
      is_active: form.elements.is_active.checked,
    }),
    save: (data) => (editing ? webhooksApi.update(webhook.id, data) : webhooksApi.create(data)),
  });
}
