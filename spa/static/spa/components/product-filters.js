/**
 * <product-filters>: the catalogue's search toolbar — any part of a SKU, a word search of the
 * name, SKU and description (both as you type), and the active status.
 *
 * It only reports what the person asks for, with a `filters-change` event whose detail is
 * `{changes, typing}`: `changes` holds the filters that changed (`sku`, `search`, `status`) and
 * `typing` names the text field typed in (null for the status). The owner keeps the state and
 * shows it back with `show()`.
 */

import { debounce } from "../lib/format.js";
import { html, render } from "../lib/html.js";

/** The status choices, by their value in the URL. */
export const STATUSES = { all: "All", active: "Active", inactive: "Inactive" };
const TYPING_DELAY_MS = 250;

class ProductFilters extends HTMLElement {
  connectedCallback() {
    render(this, html`<form class="toolbar" role="search" aria-label="Filter products">
        <div class="field">
          <label for="filter-sku">SKU</label>
          <input type="search" id="filter-sku" name="sku" autocomplete="off" spellcheck="false" placeholder="Any part of a SKU">
        </div>
        <div class="field field-grow">
          <label for="filter-search">Name or description</label>
          <input type="search" id="filter-search" name="search" autocomplete="off" placeholder="Words, e.g. red shoes" aria-describedby="filter-search-hint">
          <span id="filter-search-hint" class="visually-hidden">Every word must match; best matches first. "Quoted words" in that order, -word to leave out.</span>
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" name="status">
            ${Object.entries(STATUSES).map(([value, label]) => html`<option value="${value}">${label}</option>`)}
          </select>
        </div>
      </form>`);
    this.controls = {
      sku: this.querySelector("#filter-sku"),
      search: this.querySelector("#filter-search"),
      status: this.querySelector("#filter-status"),
    };
    this.onTyping = debounce((field) => this.report({ [field]: this.controls[field].value.trim() }, field),
      TYPING_DELAY_MS);

    this.querySelector("form").addEventListener("submit", (event) => event.preventDefault());
    for (const field of ["sku", "search"]) {
      this.controls[field].addEventListener("input", () => this.onTyping(field));
    }
    this.controls.status.addEventListener("change", () => this.report({ status: this.controls.status.value }));
  }

  disconnectedCallback() {
    this.onTyping.cancel();
  }

  report(changes, typing = null) {
    this.dispatchEvent(new CustomEvent("filters-change", { detail: { changes, typing } }));
  }

  /**
   * Show `filters` ({sku, search, status}). The field being typed in keeps what is typed unless
   * `force` (Back, "Clear filters"), which also drops a pending, not yet reported search.
   */
  show({ sku, search, status }, { force = false } = {}) {
    if (force) this.onTyping.cancel();
    const { controls } = this;
    if (force || document.activeElement !== controls.sku) controls.sku.value = sku;
    if (force || document.activeElement !== controls.search) controls.search.value = search;
    controls.status.value = status;
  }

  focusFirst() {
    this.controls.sku.focus();
  }

  /** Focus the `field` ("sku", "search" or "status"); the first one when not given. */
  focusField(field) {
    (this.controls[field] || this.controls.sku).focus();
  }
}

customElements.define("product-filters", ProductFilters);
