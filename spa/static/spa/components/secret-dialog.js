/**
 * The one time a webhook's full signing secret is shown: after it is added and after its secret
 * is regenerated. The server keeps only what it needs to sign and shows its start afterwards, so
 * the dialog says plainly that this is the only chance to copy it.
 */

import { describeError } from "../lib/api.js";
import { copyText } from "../lib/clipboard.js";
import { html } from "../lib/html.js";
import { openDialog, uniqueId } from "./dialogs.js";

/** Show `secret` for `webhook`; `title` says why it is shown. Resolves when the dialog closes. */
export function showSecretOnce({ webhook, secret, title, returnFocus }) {
  const prefix = uniqueId("secret");
  const titleId = `${prefix}-title`;
  const warningId = `${prefix}-warning`;
  return openDialog({
    labelledBy: titleId,
    className: "dialog-form dialog-secret",
    initialFocus: "[data-action=copy]",
    returnFocus,
    template: html`<div class="dialog-body" aria-describedby="${warningId}">
        <h2 id="${titleId}" class="dialog-title">${title}</h2>
        <p class="muted webhook-url-line">${webhook.url}</p>
        <div class="field">
          <label for="${prefix}-value">Signing secret</label>
          <div class="input-group">
            <input id="${prefix}-value" class="mono" readonly value="${secret}" spellcheck="false" autocomplete="off"
              aria-describedby="${warningId}">
            <button type="button" class="button" data-action="copy">Copy</button>
          </div>
        </div>
        <p class="secret-warning" id="${warningId}"><strong>Copy it now: you will not see it again.</strong>
          The receiver needs it to check the <code>webhook-signature</code> header (Standard Webhooks).
          If it is lost, regenerate it.</p>
        <p class="copy-status" role="status" data-ref="copied"></p>
        <div class="dialog-actions">
          <button type="button" class="button button-primary" data-action="done">I have copied it</button>
        </div>
      </div>`,
    setup(dialog, close) {
      const status = dialog.querySelector("[data-ref=copied]");
      const field = dialog.querySelector("input");
      // Clicking into the field selects the whole secret, for copying by hand.
      field.addEventListener("focus", () => field.select());
      dialog.querySelector("[data-action=copy]").addEventListener("click", async () => {
        try {
          await copyText(secret);
          status.textContent = "Secret copied to the clipboard.";
        } catch (error) {
          status.textContent = describeError(error);
          field.focus();
        }
      });
      dialog.querySelector("[data-action=done]").addEventListener("click", () => close(true));
    },
  });
}
