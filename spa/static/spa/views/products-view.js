/**
 * <products-view>: the catalogue. It keeps the view's state (page, page size, filters) and
 * mirrors it in the URL so reload and back work, loads the page of products that the state
 * names, and carries out what is asked for: create and edit in a dialog, the inline active
 * toggle, delete one, delete all. The toolbar (<product-filters>), the table (<product-table>)
 * and the page controls (<pagination-nav>) only show things and report choices.
 */

import { PAGE_SIZES } from "../components/pagination.js";
import { STATUSES } from "../components/product-filters.js";
import "../components/product-table.js";
import { openProductDialog } from "../components/product-dialog.js";
import { confirmDialog } from "../components/dialogs.js";
import { notify } from "../components/notices.js";
import { api, describeError, withQuery, ApiError, isSessionError } from "../lib/api.js";
import { formatNumber, plural, roughTotal } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { currentLocation, setQuery } from "../lib/router.js";
import { user } from "../lib/session.js";

const DEFAULT_PAGE_SIZE = 25;

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

/**
 * The count line: "1 product", "2 products match", and for an estimate "about 22,000 products
 * match" — or, when the estimate is below the `seen` rows already shown, "more than N".
 */
function countText({ count, exact }, { filtered, seen }) {
  if (typeof count !== "number") return "";
  if (exact === false) {
    const about = roughTotal(count, seen);
    return about !== null
      ? `about ${formatNumber(about)} products match`
      : `more than ${formatNumber(seen)} products match`;
  }
  const noun = count === 1 ? "product" : "products";
  if (!filtered) return `${formatNumber(count)} ${noun}`;
  return `${formatNumber(count)} ${noun} ${count === 1 ? "matches" : "match"}`;
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

/** The export of what the list shows: the same filters, every page (the server streams it). */
function exportUrl(state) {
  return withQuery("/api/products/export/", {
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
    const staff = Boolean(user() && user().is_staff);
    render(this, html`<section class="view" aria-labelledby="products-title">
      <header class="view-header">
        <div>
          <h1 id="products-title">Catalogue</h1>
          <p class="view-subtitle" data-ref="count" aria-live="polite">Loading products…</p>
        </div>
        <div class="view-actions">
          <a class="button" data-ref="export" href="${exportUrl(this.state)}" download>Download CSV</a>
          <button type="button" class="button button-primary" data-action="create">New product</button>
          ${staff && html`<button type="button" class="button button-danger-outline" data-action="delete-all">Delete all…</button>`}
        </div>
      </header>
      <product-filters></product-filters>
      <p class="list-status" role="status" data-ref="status"></p>
      <product-table></product-table>
      <pagination-nav label="Pages of products"></pagination-nav>
    </section>`);
    this.exportLink = this.querySelector("[data-ref=export]");
    this.count = this.querySelector("[data-ref=count]");
    this.status = this.querySelector("[data-ref=status]");
    this.sequence = 0;
    this.filters = this.querySelector("product-filters");
    this.table = this.querySelector("product-table");
    this.pagination = this.querySelector("pagination-nav");
    this.filters.show(this.state);
    this.showPagination();

    this.filters.addEventListener("filters-change", ({ detail: { changes, typing } }) => {
      // Typing refines one search: it rewrites the current history entry instead of adding one
      // per pause, so Back leaves the search rather than replaying it letter by letter.
      const replace = typing !== null && typing === this.lastTypedField;
      this.update({ ...changes, page: 1 }, { replace, typing });
    });
    this.pagination.addEventListener("page-change", ({ detail }) => this.update(detail));
    this.table.addEventListener("product-action", ({ detail: { action, product } }) => {
      if (action === "toggle") this.toggle(product);
      if (action === "edit") this.edit(product);
      if (action === "delete") this.deleteOne(product);
    });
    this.table.addEventListener("retry", () => this.load());
    this.table.addEventListener("clear-filters", () => {
      this.update({ sku: "", search: "", status: "all", page: 1 });
      this.filters.show(this.state, { force: true });
      this.filters.focusFirst();
    });
    this.querySelector("[data-action=create]").addEventListener("click", () => this.createProduct());
    const deleteAll = this.querySelector("[data-action=delete-all]");
    if (deleteAll) deleteAll.addEventListener("click", () => this.deleteAll());
    this.load();
  }

  disconnectedCallback() {
    if (this.controller) this.controller.abort();
  }

  /** The router calls this when back/forward changed only the query string. */
  routeChanged(location) {
    this.state = stateFromQuery(location.query);
    this.lastTypedField = null;
    this.filters.show(this.state, { force: true });
    this.load();
  }

  /** Change the state, put it in the URL (`replace`: in the current history entry) and load. */
  update(changes, { replace = false, typing = null } = {}) {
    this.lastTypedField = typing;
    this.state = { ...this.state, ...changes };
    setQuery(queryFromState(this.state), { replace });
    this.load();
  }

  /**
   * Fetch and show the current page, then focus `focus` ({id, action}) if given.
   *
   * Only the newest request's answer is shown: a newer load aborts the older request, and a
   * sequence number stops an answer that was already read when the abort came. Until the
   * answer is in, the rows and the count shown stay those of the previous answer, together.
   */
  async load({ focus = null } = {}) {
    this.exportLink.href = exportUrl(this.state);
    if (this.controller) this.controller.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.sequence += 1;
    const sequence = this.sequence;
    const superseded = () => sequence !== this.sequence || controller.signal.aborted;
    this.showBusy(true);
    try {
      const data = await api.get(apiUrl(this.state), { signal: controller.signal });
      if (superseded()) return;
      this.data = data;
      this.showData();
      if (focus) this.restoreFocus(focus);
    } catch (error) {
      if (error.name === "AbortError" || superseded()) return;
      if (error instanceof ApiError && error.status === 404 && this.state.page > 1) {
        // The page no longer exists (products were deleted meanwhile): show the first one.
        this.update({ page: 1 }, { replace: true });
        return;
      }
      if (isSessionError(error)) return;
      this.data = null;
      this.count.textContent = "";
      this.table.showError(`Couldn't load the products. ${describeError(error)}`);
      this.showPagination();
    } finally {
      if (sequence === this.sequence) this.showBusy(false);
    }
  }

  /** While a request is out the table is busy and a status line says so. */
  showBusy(busy) {
    this.table.busy = busy;
    // Before the first answer the table itself says "Loading products…".
    if (busy && !this.data) this.table.showLoading();
    this.status.textContent = busy && this.data ? (this.hasFilters() ? "Searching…" : "Loading…") : "";
  }

  /** After a redraw keyboard users stay where they were: on the same control, or near it. */
  restoreFocus({ id, action }) {
    if (!this.table.focusControl(id, action) && !this.table.focusFirstRow()) this.filters.focusFirst();
  }

  hasFilters() {
    return Boolean(this.state.sku || this.state.search || this.state.status !== "all");
  }

  showData() {
    const { count, count_exact: exact, results } = this.data;
    const seen = (this.state.page - 1) * this.state.pageSize + results.length;
    this.count.textContent = countText({ count, exact }, { filtered: this.hasFilters(), seen });
    this.table.showProducts(results, { page: this.state.page, filtered: this.hasFilters(), search: this.state.search });
    this.showPagination();
  }

  showPagination() {
    const { page, pageSize } = this.state;
    const data = this.data;
    this.pagination.show({
      page,
      pageSize,
      count: data && typeof data.count === "number" ? data.count : null,
      exact: !data || data.count_exact !== false,
      shown: data ? data.results.length : 0,
      // Before the first answer (or after a failed one) only the page number says what is before.
      hasPrevious: data ? Boolean(data.previous) : page > 1,
      hasNext: Boolean(data && data.next),
    });
  }

  async toggle(product) {
    const next = !product.is_active;
    // Flip at once for immediate feedback; the server's answer confirms or reverts it.
    this.table.showActive(product, next, { busy: true });
    try {
      const saved = await api.patch(`/api/products/${product.id}/`, { is_active: next });
      Object.assign(product, saved);
      notify(`${product.sku} is now ${product.is_active ? "active" : "inactive"}.`, { kind: "success" });
    } catch (error) {
      if (!isSessionError(error)) notify(`Couldn't change ${product.sku}: ${describeError(error)}`, { kind: "error" });
    } finally {
      this.table.showActive(product, product.is_active);
      // Disabling the switch took its focus away; give it back.
      this.table.focusControl(product.id, "toggle");
    }
  }

  /**
   * Where focus goes when a dialog closes and the button that opened it was redrawn by a reload
   * meanwhile: the same button of the same product if it is still shown, else the search field.
   */
  returnFocusTo({ id = null, action = null } = {}) {
    return () => {
      if (!this.table.focusControl(id, action)) this.filters.focusField(this.lastTypedField);
    };
  }

  async createProduct() {
    const saved = await openProductDialog({ returnFocus: this.returnFocusTo() });
    if (!saved) return;
    notify(`Created ${saved.sku}.`, { kind: "success" });
    this.load({ focus: { id: saved.id, action: "edit" } });
  }

  async edit(product) {
    const saved = await openProductDialog({ product, returnFocus: this.returnFocusTo({ id: product.id, action: "edit" }) });
    if (!saved) return;
    // The row shows what was saved at once, so nothing (the delete confirmation included) offers
    // the product's old data while the page reloads.
    this.table.showProduct(saved);
    this.table.focusControl(saved.id, "edit");
    notify(`Saved ${saved.sku}.`, { kind: "success" });
    this.load({ focus: { id: saved.id, action: "edit" } });
  }

  async deleteOne(product) {
    const confirmed = await confirmDialog({
      title: "Delete this product?",
      message: `${product.sku} — ${product.name} will be deleted. This cannot be undone.`,
      confirmLabel: "Delete product",
      danger: true,
      returnFocus: this.returnFocusTo({ id: product.id, action: "delete" }),
    });
    if (!confirmed) return;
    try {
      await api.delete(`/api/products/${product.id}/`);
      notify(`Deleted ${product.sku}.`, { kind: "success" });
      this.load({ focus: { id: null, action: "edit" } });
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
      returnFocus: this.returnFocusTo(),
    });
    if (!confirmed) return;
    try {
      const result = await api.post("/api/products/bulk-delete/", { confirm: true });
      const deleted = result && typeof result.deleted === "number" ? result.deleted : null;
      notify(deleted === null ? "All products were deleted." : `Deleted all ${plural(deleted, "product", "products")}.`,
        { kind: "success" });
      this.update({ page: 1 }, { replace: true });
    } catch (error) {
      if (!isSessionError(error)) notify(`Nothing was deleted: ${describeError(error)}`, { kind: "error" });
    }
  }
}

customElements.define("products-view", ProductsView);
