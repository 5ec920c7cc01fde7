/**
 * <product-table>: one page of products — SKU, name, description, an inline active switch, the
 * last change, edit and delete — or what stands in for it: loading, no products yet, nothing
 * matching the filters, a failed load.
 *
 * The words a search matched are marked in the SKU, name and description (lib/highlight.js).
 *
 * It shows and reports; its owner does the work. A row's button sends a `product-action` event
 * whose detail is `{action: "toggle" | "edit" | "delete", product}`; the state boxes' buttons send
 * `clear-filters` and `retry`.
 */

import { formatDateTime } from "../lib/format.js";
import { highlight, searchedWords } from "../lib/highlight.js";
import { html, render } from "../lib/html.js";

function rowTemplate(product, searched) {
  return html`<tr data-id="${product.id}">
      <td class="cell-sku"><code>${highlight(product.sku, searched)}</code></td>
      <td class="cell-name">${highlight(product.name, searched)}</td>
      <td class="col-description"><span class="clamp" title="${product.description}">${highlight(product.description, searched)}</span></td>
      <td class="cell-active">
        <button type="button" class="switch" role="switch" data-action="toggle"
          aria-checked="${product.is_active ? "true" : "false"}" aria-label="Active: ${product.sku}">
          <span class="switch-track" aria-hidden="true"><span class="switch-thumb"></span></span>
          <span class="switch-text" aria-hidden="true">${product.is_active ? "Active" : "Inactive"}</span>
        </button>
      </td>
      <td class="col-updated"><time datetime="${product.updated_at}">${formatDateTime(product.updated_at)}</time></td>
      <td class="cell-actions">
        <button type="button" class="button button-small" data-action="edit" aria-label="Edit ${product.sku}">Edit</button>
        <button type="button" class="button button-small button-danger-outline" data-action="delete" aria-label="Delete ${product.sku}">Delete</button>
      </td>
    </tr>`;
}

class ProductTable extends HTMLElement {
  constructor() {
    super();
    this.products = [];
    this.searched = searchedWords("");
    this.addEventListener("click", (event) => this.onClick(event));
  }

  connectedCallback() {
    this.classList.add("table-wrap");
  }

  /** While a page loads, the one shown stays, dimmed and marked busy. */
  set busy(value) {
    if (value) this.setAttribute("aria-busy", "true");
    else this.removeAttribute("aria-busy");
    this.classList.toggle("is-loading", value);
  }

  showLoading() {
    this.products = [];
    render(this, html`<div class="state-box" role="status"><span class="spinner" aria-hidden="true"></span> Loading products…</div>`);
  }

  showError(message) {
    this.products = [];
    render(this, html`<div class="state-box state-error" role="alert">
        <p>${message}</p>
        <button type="button" class="button" data-action="retry">Try again</button>
      </div>`);
  }

  /**
   * Show `products`, page `page` of the catalogue; `filtered` says whether filters are on, and
   * `search` is the search box's text, whose words are marked in the rows.
   */
  showProducts(products, { page, filtered, search = "" }) {
    this.products = products;
    this.searched = searchedWords(search);
    if (!products.length) {
      render(this, filtered
        ? html`<div class="state-box">
            <p><strong>No products match these filters.</strong></p>
            <button type="button" class="button" data-action="clear-filters">Clear filters</button>
          </div>`
        : html`<div class="state-box">
            <p><strong>No products yet.</strong> Import a CSV file or create the first product.</p>
            <p><a class="button button-primary" href="/imports/">Import a CSV</a></p>
          </div>`);
      return;
    }
    render(this, html`<table class="table products-table">
        <caption class="visually-hidden">Products, page ${page}</caption>
        <thead>
          <tr>
            <th scope="col">SKU</th>
            <th scope="col">Name</th>
            <th scope="col" class="col-description">Description</th>
            <th scope="col">Active</th>
            <th scope="col" class="col-updated">Updated</th>
            <th scope="col"><span class="visually-hidden">Actions</span></th>
          </tr>
        </thead>
        <tbody>${products.map((product) => rowTemplate(product, this.searched))}</tbody>
      </table>`);
  }

  /** Show `product`'s saved data in its row, if the row is shown (its buttons are redrawn). */
  showProduct(product) {
    const index = this.products.findIndex((candidate) => String(candidate.id) === String(product.id));
    const row = this.querySelector(`tr[data-id="${CSS.escape(String(product.id))}"]`);
    if (index < 0 || !row) return;
    this.products[index] = { ...this.products[index], ...product };
    const holder = document.createElement("tbody");
    render(holder, rowTemplate(this.products[index], this.searched));
    row.replaceWith(holder.firstElementChild);
  }

  /** Show `product`'s switch as `active`; `busy` disables it while the change is being saved. */
  showActive(product, active, { busy = false } = {}) {
    const button = this.control(product.id, "toggle");
    if (!button) return;
    button.setAttribute("aria-checked", active ? "true" : "false");
    button.querySelector(".switch-text").textContent = active ? "Active" : "Inactive";
    button.disabled = busy;
  }

  /** Focus the `action` button of the product `id`; false when that row is not shown. */
  focusControl(id, action) {
    const target = this.control(id, action);
    if (target) target.focus();
    return Boolean(target);
  }

  /** Focus the first row's edit button; false when there are no rows. */
  focusFirstRow() {
    const target = this.querySelector("tbody [data-action=edit]");
    if (target) target.focus();
    return Boolean(target);
  }

  control(id, action) {
    if (id === null || id === undefined) return null;
    return this.querySelector(`tr[data-id="${CSS.escape(String(id))}"] [data-action="${action}"]`);
  }

  onClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const { action } = button.dataset;
    if (action === "retry" || action === "clear-filters") {
      this.dispatchEvent(new CustomEvent(action));
      return;
    }
    const row = button.closest("tr[data-id]");
    const product = row && this.products.find((candidate) => String(candidate.id) === row.dataset.id);
    if (product) this.dispatchEvent(new CustomEvent("product-action", { detail: { action, product } }));
  }
}

customElements.define("product-table", ProductTable);
