/**
 * <pagination-nav label="Pages of …">: rows per page, which rows are shown of how many, and
 * first/previous/next/last page buttons.
 *
 * It reports a choice with a `page-change` event whose detail is the change of state: `{page}`
 * for a button, `{pageSize, page: 1}` for another page size. The owner shows where it is with
 * `show()`.
 */

import { formatNumber, roughTotal } from "../lib/format.js";
import { html, render } from "../lib/html.js";

export const PAGE_SIZES = [10, 25, 50, 100];

class PaginationNav extends HTMLElement {
  connectedCallback() {
    render(this, html`<nav class="pagination" aria-label="${this.getAttribute("label") || "Pages"}">
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
      </nav>`);
    this.pageSize = this.querySelector("#page-size");
    this.range = this.querySelector("[data-ref=range]");
    this.current = this.querySelector("[data-ref=current]");
    this.buttons = {};
    this.querySelectorAll("[data-page]").forEach((button) => {
      this.buttons[button.dataset.page] = button;
    });
    this.position = { page: 1, pages: null };

    this.pageSize.addEventListener("change", () => this.report({ pageSize: Number(this.pageSize.value), page: 1 }));
    this.querySelector(".pagination-buttons").addEventListener("click", (event) => {
      const button = event.target.closest("[data-page]");
      if (!button || button.disabled) return;
      const { page, pages } = this.position;
      const target = { first: 1, previous: page - 1, next: page + 1, last: pages || page }[button.dataset.page];
      this.report({ page: Math.max(1, target) });
    });
  }

  report(changes) {
    this.dispatchEvent(new CustomEvent("page-change", { detail: changes }));
  }

  /**
   * Show page `page`, `pageSize` rows a page: `shown` rows on it of `count` in all (null when
   * unknown; `exact` false when it is only an estimate), and whether pages come before and after.
   *
   * An estimate says nothing about where the list ends, so it gives no page count and no Last
   * button: Next follows `hasNext` (the server's `next`) to the real end.
   */
  show({ page, pageSize, count, exact = true, shown, hasPrevious, hasNext }) {
    const pages = count === null || !exact ? null : Math.max(1, Math.ceil(count / pageSize));
    this.position = { page, pages };
    this.pageSize.value = String(pageSize);
    const first = (page - 1) * pageSize;
    const last = first + shown;
    let total = "";
    // "of about 10,000" under rows 10,026–10,050 would contradict itself: then say nothing.
    if (count !== null && exact) total = ` of ${formatNumber(count)}`;
    else if (count !== null && roughTotal(count, last) !== null) {
      total = ` of about ${formatNumber(roughTotal(count, last))}`;
    }
    this.range.textContent = shown ? `${formatNumber(first + 1)}–${formatNumber(last)}${total}` : "";
    this.current.textContent = pages ? `Page ${formatNumber(page)} of ${formatNumber(pages)}` : `Page ${formatNumber(page)}`;
    this.buttons.first.disabled = !hasPrevious;
    this.buttons.previous.disabled = !hasPrevious;
    this.buttons.next.disabled = !hasNext;
    this.buttons.last.hidden = count !== null && !exact;
    this.buttons.last.disabled = !hasNext || !pages;
  }
}

customElements.define("pagination-nav", PaginationNav);
