/**
 * A form in a modal dialog whose validity the server judges: the product and webhook dialogs.
 *
 * On submit the form's values (`read`) go to `save`; its answer closes the dialog. A refused save
 * shows the server's messages next to the fields they concern (`[data-field=name]` boxes with a
 * `.field-error`), marks those controls `aria-invalid` and moves focus to the first of them;
 * messages for fields the form does not show go to its `.form-error`.
 */

import { ApiError, describeError } from "../lib/api.js";
import { openDialog } from "./dialogs.js";

/**
 * Open the dialog; resolves with what `save` returned, or undefined when cancelled.
 * `fields`: the names the form shows. `groups`: names whose box holds several controls (a set of
 * checkboxes), which are not marked invalid one by one (the box's message describes the group).
 */
export function openFormDialog({ template, labelledBy, initialFocus, returnFocus, fields, groups = [], read, save }) {
  return openDialog({
    template,
    labelledBy,
    className: "dialog-form",
    initialFocus,
    returnFocus,
    setup(dialog, close) {
      const form = dialog.querySelector("form");
      const formError = form.querySelector(".form-error");
      const submit = form.querySelector("[type=submit]");
      dialog.querySelector("[data-action=cancel]").addEventListener("click", () => close(undefined));

      const clearErrors = () => {
        formError.hidden = true;
        form.querySelectorAll(".field-error").forEach((element) => {
          element.hidden = true;
          element.textContent = "";
        });
        form.querySelectorAll("[aria-invalid]").forEach((element) => element.removeAttribute("aria-invalid"));
      };

      const showErrors = (error) => {
        const fieldErrors = error instanceof ApiError ? error.fieldErrors : {};
        let firstInvalid = null;
        const unplaced = [];
        for (const [name, messages] of Object.entries(fieldErrors)) {
          const text = flattenMessages(messages).join(" ");
          const box = fields.includes(name) && form.querySelector(`[data-field="${name}"]`);
          if (!box) {
            unplaced.push(text);
            continue;
          }
          const control = box.querySelector("input, textarea");
          const message = box.querySelector(".field-error");
          message.textContent = text;
          message.hidden = false;
          if (!groups.includes(name)) control.setAttribute("aria-invalid", "true");
          firstInvalid = firstInvalid || control;
        }
        if (!firstInvalid || unplaced.length) {
          formError.textContent = unplaced.length ? unplaced.join(" ") : describeError(error);
          formError.hidden = false;
        }
        (firstInvalid || submit).focus();
      };

      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        clearErrors();
        submit.disabled = true;
        submit.setAttribute("aria-busy", "true");
        try {
          close(await save(read(form)));
        } catch (error) {
          showErrors(error);
        } finally {
          submit.disabled = false;
          submit.removeAttribute("aria-busy");
        }
      });
    },
  });
}

/** A field's messages as a flat list: a list field's may come per item ({"events": {"0": [...]}}). */
function flattenMessages(messages) {
  if (messages === null || messages === undefined) return [];
  if (Array.isArray(messages)) return messages.flatMap(flattenMessages);
  if (typeof messages === "object") return Object.values(messages).flatMap(flattenMessages);
  return [String(messages)];
}
