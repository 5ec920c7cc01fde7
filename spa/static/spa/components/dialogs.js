/**
 * Modal dialogs on the native <dialog> element: it traps focus, closes on Escape and makes the
 * page behind it inert. These helpers add what it lacks: focus goes to a chosen control on open
 * and back to the control that opened the dialog on close, and the dialog is removed afterwards.
 *
 * The page behind a dialog may redraw while it is open (a slow search answers): the control
 * that opened it is then gone, and focus would fall to <body>. `returnFocus` says where focus
 * goes then — the same control in the redrawn page, or a stable one near it.
 */

import { html, render } from "../lib/html.js";

let counter = 0;

export function uniqueId(prefix) {
  counter += 1;
  return `${prefix}-${counter}`;
}

/**
 * Show a <dialog> built from `template`; resolves with the dialog's return value once closed.
 * `setup(dialog, close)` wires its controls; `initialFocus` is a selector inside the dialog;
 * `returnFocus()` focuses something when the control that opened the dialog no longer exists.
 */
export function openDialog({ template, labelledBy, className = "", initialFocus, setup, returnFocus }) {
  const opener = document.activeElement;
  const dialog = document.createElement("dialog");
  dialog.className = `dialog ${className}`.trim();
  if (labelledBy) dialog.setAttribute("aria-labelledby", labelledBy);
  render(dialog, template);
  document.body.append(dialog);

  return new Promise((resolve) => {
    let result;
    const close = (value) => {
      result = value;
      dialog.close();
    };
    dialog.addEventListener("close", () => {
      dialog.remove();
      if (opener && opener.isConnected && opener !== document.body && typeof opener.focus === "function") {
        opener.focus();
      } else if (returnFocus) {
        returnFocus();
      }
      resolve(result);
    });
    dialog.addEventListener("cancel", () => {
      result = undefined;
    });
    if (setup) setup(dialog, close);
    dialog.showModal();
    const target = initialFocus && dialog.querySelector(initialFocus);
    if (target) target.focus();
  });
}

/**
 * Ask a yes/no question. Resolves to true only when the person confirms; the safe choice
 * ("Cancel") has the focus first, so Enter never destroys anything by accident.
 */
export function confirmDialog({ title, message, confirmLabel = "Confirm", danger = false, returnFocus }) {
  const titleId = uniqueId("confirm-title");
  const messageId = uniqueId("confirm-message");
  return openDialog({
    labelledBy: titleId,
    className: "dialog-confirm",
    initialFocus: "[data-action=cancel]",
    returnFocus,
    template: html`<form method="dialog" class="dialog-body" aria-describedby="${messageId}">
        <h2 id="${titleId}" class="dialog-title">${title}</h2>
        <p id="${messageId}">${message}</p>
        <div class="dialog-actions">
          <button type="button" class="button" data-action="cancel">Cancel</button>
          <button type="button" class="button ${danger ? "button-danger" : "button-primary"}" data-action="confirm">${confirmLabel}</button>
        </div>
      </form>`,
    setup(dialog, close) {
      dialog.querySelector("[data-action=cancel]").addEventListener("click", () => close(false));
      dialog.querySelector("[data-action=confirm]").addEventListener("click", () => close(true));
    },
  }).then((value) => value === true);
}
