/**
 * <products-view>: the catalogue. A paginated table with SKU search (as you type), a name and
 * description search, an active filter and a page-size choice, all mirrored in the URL so reload
 * and back work; create/edit in a dialog, inline active toggle, delete one, delete all.
 */

import { openProductDialog } from "../components/product-dialog.js";
import { confirmDialog } from "../components/dialogs.js";
import { notify } from "../components/notices.js";
import { api, describeError, withQuery, ApiError, isSessionError } from "../lib/api.js";
import { debounce, formatDateTime, formatNumber } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { currentLocation, setQuery } from "../lib/router.js";
import { user } from "../lib/session.js";

const PAGE_SIZES = [10, 25, 50, 100];
const DEFAULT_PAGE_SIZE = 25;
const STATUSES = { all: "All", active: "Active", inactive: "Inactive" };
const TYPING_DELAY_MS = 250;

function stateFromQuery(query) {
  const pageSize = Number(query.get("page_size"));
  const page = Number(query.get("page"));
  const status = query.get("status");
  return {
    page: Number.isInteger(page) && page > 0 ? page : 1,
    pageSize: PAGE_SIZES.includes(pageSize) ? pageSize : DEFAULT_PAGE_SIZE,
    sku: query.get("sku") || "",
    search: query.get("search") || "",
    status: status in STATUSES ? status : "all",
  };
}

function queryFromState(state) {
  return {
    page: state.page > 1 ? state.page : "",
    page_size: state.pageSize !== DEFAULT_PAGE_SIZE ? state.pageSize : "",
    sku: state.sku,
    search: state.search,
    status: state.status !== "all" ? state.status : "",
  };
}

function apiUrl(state) {
  return withQuery("/api/products/", {
    page: state.page,
    page_size: state.pageSize,
    sku: state.sku,
    search: state.search,
    is_active: state.status === "all" ? "" : String(state.status === "active"),
  });
}

class ProductsView extends HTMLElement {
  connectedCallback() {
    this.state = stateFromQuery(currentLocation().query);
    this.data = null;
    this.lastTypedField = null;
    this.renderSkeleton();
    this.load();
  }

  disconnectedCallback() {
    if (this.controller) this.controller.abort();
    this.onTyping.cancel();
  }

  /** The router calls this when back/forward changed only the query string. */
  routeChanged(location) {
    this.state = stateFromQuery(location.query);
    this.lastTypedField = null;
    this.onTyping.cancel();
    this.syncControls({ force: true });
    this.load();
  }

  renderSkeleton() {
    const staff = Boolean(user() && user().is_staff);
    render(this, html`<section class="view" aria-labelledby="products-title">
      <header class="view-header">
        <div>
          <h1 id="products-title">Catalogue</h1>
          <p class="view-subtitle" data-ref="count" aria-live="polite">Loading products…</p>
        </div>
        <div class="view-actions">
          <button type="button" class="button button-primary" data-action="create">New product</button>
          ${staff && html`<button type="button" class="button button-danger-outline" data-action="delete-all">Delete all…</button>`}
        </div>
      </header>
      <form class="toolbar" role="search" aria-label="Filter products">
        <div class="field">
          <label for="filter-sku">SKU</label>
          <input type="search" id="filter-sku" name="sku" autocomplete="off" spellcheck="false" placeholder="Any part of a SKU">
        </div>
        <div class="field field-grow">
          <label for="filter-search">Name or description</label>
          <input type="search" id="filter-search" name="search" autocomplete="off" placeholder="Search text">
        </div>
        <div class="field">
          <label for="filter-status">Status</label>
          <select id="filter-status" name="status">
            ${Object.entries(STATUSES).map(([value, label]) => html`<option value="${value}">${label}</option>`)}
          </select>
        </div>
      </form>
      <div class="table-wrap" data-ref="results"></div>
      <nav class="pagination" aria-label="Pages of products" data-ref="pagination">
        <div class="field field-inline">
          <label for="page-size">Rows per page</label>
          <select id="page-size" name="page_size">
            ${PAGE_SIZES.map((size) => html`<option value="${size}">${size}</option>`)}
          </select>
        </div>
        <p class="pagination-range" data-ref="range"></p>
        <div class="pagination-buttons">
          <button type="button" class="button button-small" data-page="first" aria-label="First page">«</button>
          <button type="button" class="button button-small" data-page="previous">‹ Previous</button>
          <span class="pagination-current" data-ref="current"></span>
          <button type="button" class="button button-small" data-page="next">Next ›</button>
          <button type="button" class="button button-small" data-page="last" aria-label="Last page">»</button>
        </div>
      </nav>
    </section>`);

    this.refs = {};
    this.querySelectorAll("[data-ref]").forEach((element) => {
      this.refs[element.dataset.ref] = element;
    });
    this.controls = {
      sku: this.querySelector("#filter-sku"),
      search: this.querySelector("#filter-search"),
      status: this.querySelector("#filter-status"),
      pageSize: this.querySelector("#page-size"),
    };
    this.syncControls();

    this.onTyping = debounce((field) => {
      // Typing refines one search: it rewrites the current history entry instead of adding one
      // per pause, so Back leaves the search rather than replaying it letter by letter.
      const replace = this.lastTypedField === field;
      this.lastTypedField = field;
      this.update({ [field]: this.controls[field].value.trim(), page: 1 }, { replace });
    }, TYPING_DELAY_MS);

    this.querySelector("form.toolbar").addEventListener("submit", (event) => event.preventDefault());
    for (const field of ["sku", "search"]) {
      this.controls[field].addEventListener("input", () => this.onTyping(field));
    }
    this.controls.status.addEventListener("change", () => this.update({ status: this.controls.status.value, page: 1 }));
    this.controls.pageSize.addEventListener("change", () =>
      this.update({ pageSize: Number(this.controls.pageSize.value), page: 1 }));
    this.refs.pagination.addEventListener("click", (event) => this.onPageButton(event));
    this.querySelector("[data-action=create]").addEventListener("click", () => this.createProduct());
    const deleteAll = this.querySelector("[data-action=delete-all]");
    if (deleteAll) deleteAll.addEventListener("click", () => this.deleteAll());
    this.refs.results.addEventListener("click", (event) => this.onTableClick(event));
  }

  /** Show the state in the controls; `force` also overwrites the field being typed in (Back). */
  syncControls({ force = false } = {}) {
    const { sku, search, status, pageSize } = this.controls;
    if (force || document.activeElement !== sku) sku.value = this.state.sku;
    if (force || document.activeElement !== search) search.value = this.state.search;
    status.value = this.state.status;
    pageSize.value = String(this.state.pageSize);
  }

  update(changes, { replace = false } = {}) {
    if (!("sku" in changes) && !("search" in changes)) this.lastTypedField = null;
    this.state = { ...this.state, ...changes };
    setQuery(queryFromState(this.state), { replace });
    this.load();
  }

  get pageCount() {
    if (!this.data || typeof this.data.count !== "number") return null;
    return Math.max(1, Math.ceil(this.data.count / this.state.pageSize));
  }

  onPageButton(event) {
    const button = event.target.closest("[data-page]");
    if (!button || button.disabled) return;
    const pages = this.pageCount;
    const target = {
      first: 1,
      previous: this.state.page - 1,
      next: this.state.page + 1,
      last: pages || this.state.page,
    }[button.dataset.page];
    this.update({ page: Math.max(1, target) });
  }

  /**
   * Fetch and show the current page. `focus` ({id, action}) names a control to focus once the
   * table is redrawn, so keyboard users stay where they were after an edit re-renders the rows.
   */
  async load({ focus = null } = {}) {
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    const results = this.refs.results;
    results.setAttribute("aria-busy", "true");
    results.classList.add("is-loading");
    if (!this.data) {
      render(results, html`<div class="state-box" role="status"><span class="spinner" aria-hidden="true"></span> Loading products…</div>`);
    }
    try {
      const data = await api.get(apiUrl(this.state), { signal: controller.signal });
      if (controller.signal.aborted) return;
      this.data = data;
      this.renderResults();
      if (focus) this.restoreFocus(focus);
    } catch (error) {
      if (error.name === "AbortError" || controller.signal.aborted) return;
      if (error instanceof ApiError && error.status === 404 && this.state.page > 1) {
        // The page no longer exists (products were deleted meanwhile): show the first one.
        this.update({ page: 1 }, { replace: true });
        return;
      }
      if (isSessionError(error)) return;
      this.data = null;
      this.refs.count.textContent = "";
      render(results, html`<div class="state-box state-error" role="alert">
          <p>Couldn't load the products. ${describeError(error)}</p>
          <button type="button" class="button" data-action="retry">Try again</button>
        </div>`);
      this.renderPagination();
    } finally {
      if (this.controller === controller) {
        results.removeAttribute("aria-busy");
        results.classList.remove("is-loading");
      }
    }
  }

  restoreFocus({ id, action }) {
    const target = (id && this.querySelector(`tr[data-id="${id}"] [data-action="${action}"]`))
      || this.querySelector("tbody [data-action=edit]")
      || this.controls.sku;
    target.focus();
  }

  hasFilters() {
    return Boolean(this.state.sku || this.state.search || this.state.status !== "all");
  }

  renderResults() {
    const { count, results } = this.data;
    const total = typeof count === "number" ? count : null;
    this.refs.count.textContent = total === null
      ? ""
      : `${formatNumber(total)} ${total === 1 ? "product" : "products"}${this.hasFilters() ? " match" : ""}`;

    if (!results.length) {
      render(this.refs.results, this.hasFilters()
        ? html`<div class="state-box">
            <p><strong>No products match these filters.</strong></p>
            <button type="button" class="button" data-action="clear-filters">Clear filters</button>
          </div>`
        : html`<div class="state-box">
            <p><strong>No products yet.</strong> Import a CSV file or create the first product.</p>
            <p><a class="button button-primary" href="/imports/">Import a CSV</a></p>
          </div>`);
      this.renderPagination();
      return;
    }

    render(this.refs.results, html`<table class="table products-table">
        <caption class="visually-hidden">Products, page ${this.state.page}</caption>
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
        <tbody>${results.map((product) => this.rowTemplate(product))}</tbody>
      </table>`);
    this.renderPagination();
  }

  rowTemplate(product) {
    return html`<tr data-id="${product.id}">
        <td class="cell-sku"><code>${product.sku}</code></td>
        <td class="cell-name">${product.name}</td>
        <td class="col-description"><span class="clamp" title="${product.description}">${product.description}</span></td>
        <td>
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

  renderPagination() {
    const pages = this.pageCount;
    const { page, pageSize } = this.state;
    const data = this.data;
    const count = data && typeof data.count === "number" ? data.count : null;
    const shown = data ? data.results.length : 0;
    this.refs.range.textContent = !data || !shown
      ? ""
      : `${formatNumber((page - 1) * pageSize + 1)}–${formatNumber((page - 1) * pageSize + shown)}` +
        (count === null ? "" : ` of ${formatNumber(count)}`);
    this.refs.current.textContent = pages ? `Page ${formatNumber(page)} of ${formatNumber(pages)}` : `Page ${formatNumber(page)}`;
    const hasPrevious = Boolean(data && data.previous) || (!data && page > 1);
    const hasNext = Boolean(data && data.next);
    this.querySelector("[data-page=first]").disabled = !hasPrevious;
    this.querySelector("[data-page=previous]").disabled = !hasPrevious;
    this.querySelector("[data-page=next]").disabled = !hasNext;
    this.querySelector("[data-page=last]").disabled = !hasNext || !pages;
  }

  productById(id) {
    return this.data && this.data.results.find((product) => String(product.id) === String(id));
  }

  onTableClick(event) {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    if (action === "retry") return this.load();
    if (action === "clear-filters") {
      this.update({ sku: "", search: "", status: "all", page: 1 });
      this.syncControls({ force: true });
      this.controls.sku.focus();
      return;
    }
    const row = button.closest("tr[data-id]");
    const product = row && this.productById(row.dataset.id);
    if (!product) return;
    if (action === "toggle") this.toggle(product, button);
    if (action === "edit") this.edit(product);
    if (action === "delete") this.deleteOne(product);
  }

  async toggle(product, button) {
    const next = !product.is_active;
    // Flip at once for immediate feedback; the server's answer confirms or reverts it.
    const show = (active) => {
      button.setAttribute("aria-checked", active ? "true" : "false");
      button.querySelector(".switch-text").textContent = active ? "Active" : "Inactive";
    };
    show(next);
    button.disabled = true;
    try {
      const saved = await api.patch(`/api/products/${product.id}/`, { is_active: next });
      Object.assign(product, saved);
      show(product.is_active);
      notify(`${product.sku} is now ${product.is_active ? "active" : "inactive"}.`, { kind: "success" });
    } catch (error) {
      show(product.is_active);
      if (!isSessionError(error)) notify(`Couldn't change ${product.sku}: ${describeError(error)}`, { kind: "error" });
    } finally {
      button.disabled = false;
      button.focus();
    }
  }

  async createProduct() {
    const saved = await openProductDialog();
    if (!saved) return;
    notify(`Created ${saved.sku}.`, { kind: "success" });
    this.load({ focus: { id: saved.id, action: "edit" } });
  }

  async edit(product) {
    const saved = await openProductDialog({ product });
    if (!saved) return;
    notify(`Saved ${saved.sku}.`, { kind: "success" });
    this.load({ focus: { id: saved.id, action: "edit" } });
  }

  async deleteOne(product) {
    const confirmed = await confirmDialog({
      title: "Delete this product?",
      message: `${product.sku} — ${product.name} will be deleted. This cannot be undone.`,
      confirmLabel: "Delete product",
      danger: true,
    });
    if (!confirmed) return;
    try {
      await api.delete(`/api/products/${product.id}/`);
      notify(`Deleted ${product.sku}.`, { kind: "success" });
      this.load({ focus: { id: null } });
    } catch (error) {
      if (!isSessionError(error)) notify(`Couldn't delete ${product.sku}: ${describeError(error)}`, { kind: "error" });
    }
  }

  async deleteAll() {
    const confirmed = await confirmDialog({
      title: "Delete all products?",
      message: "Are you sure? This cannot be undone.",
      confirmLabel: "Delete all products",
      danger: true,
    });
    if (!confirmed) return;
    try {
      const result = await api.post("/api/products/bulk-delete/", { confirm: true });
      const deleted = result && typeof result.deleted === "number" ? result.deleted : null;
      notify(deleted === null ? "All products were deleted." : `Deleted all ${formatNumber(deleted)} products.`,
        { kind: "success" });
      this.update({ page: 1 }, { replace: true });
    } catch (error) {
      if (!isSessionError(error)) notify(`Nothing was deleted: ${describeError(error)}`, { kind: "error" });
    }
  }
}

customElements.define("products-view", ProductsView);
