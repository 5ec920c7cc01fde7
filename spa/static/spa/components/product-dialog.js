/**
 * The create/edit product form in a modal dialog. The server is the judge of validity (for
 * instance a SKU that exists in another letter case): its messages appear next to the fields
 * they concern, and focus moves to the first field in error.
 */

import { api } from "../lib/api.js";
import { html, render } from "../lib/html.js";
import { uniqueId } from "./dialogs.js";
import { openFormDialog } from "./form-dialog.js";

const FIELDS = ["sku", "name", "description", "is_active"];

function fieldTemplate({ id, name, label, control, hint }) {
  return html`<div class="field" data-field="${name}">
      <label for="${id}">${label}</label>
      ${control}
      ${hint && html`<p class="field-hint" id="${id}-hint">${hint}</p>`}
      <p class="field-error" id="${id}-error" hidden></p>
    </div>`;
}

/**
 * Open the dialog; resolves with the saved product, or undefined when cancelled.
 * `returnFocus` is openDialog's: where focus goes if the opener was redrawn meanwhile.
 */
export function openProductDialog({ product = null, returnFocus } = {}) {
  // A copy: the list behind the dialog may reload and replace its products while it is open.
  product = product && { ...product };
  const editing = Boolean(product);
  const prefix = uniqueId("product");
  const titleId = `${prefix}-title`;
  const values = product || { sku: "", name: "", description: "", is_active: true };

  const template = html`<form class="dialog-body" novalidate>
      <h2 id="${titleId}" class="dialog-title">${editing ? "Edit product" : "New product"}</h2>
      <p class="form-error" role="alert" hidden></p>
      ${fieldTemplate({
        id: `${prefix}-sku`, name: "sku", label: "SKU",
        hint: "Unique, whatever the letter case.",
        control: html`<input id="${prefix}-sku" name="sku" required maxlength="255" autocomplete="off"
          aria-describedby="${prefix}-sku-hint ${prefix}-sku-error" value="${values.sku}">`,
      })}
      ${fieldTemplate({
        id: `${prefix}-name`, name: "name", label: "Name",
        control: html`<input id="${prefix}-name" name="name" required maxlength="255"
          aria-describedby="${prefix}-name-error" value="${values.name}">`,
      })}
      ${fieldTemplate({
        id: `${prefix}-description`, name: "description", label: "Description",
        control: html`<textarea id="${prefix}-description" name="description" rows="4"
          aria-describedby="${prefix}-description-error">${values.description}</textarea>`,
      })}
      <div class="field field-inline" data-field="is_active">
        <input type="checkbox" id="${prefix}-active" name="is_active" ${values.is_active ? "checked" : ""}
          aria-describedby="${prefix}-active-error">
        <label for="${prefix}-active">Active (visible in the shop)</label>
        <p class="field-error" id="${prefix}-active-error" hidden></p>
      </div>
      <div class="dialog-actions">
        <button type="button" class="button" data-action="cancel">Cancel</button>
        <button type="submit" class="button button-primary">${editing ? "Save changes" : "Create product"}</button>
      </div>
    </form>`;

  return openFormDialog({
    template,
    labelledBy: titleId,
    initialFocus: `#${prefix}-sku`,
    returnFocus,
    fields: FIELDS,
    read: (form) => ({
      sku: form.elements.sku.value.trim(),
      name: form.elements.name.value.trim(),
      description: form.elements.description.value,
      is_active: form.elements.is_active.checked,
    }),
    save: (data) => (editing ? api.put(`/api/products/${product.id}/`, data) : api.post("/api/products/", data)),
  });
}
