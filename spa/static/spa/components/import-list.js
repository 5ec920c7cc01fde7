/**
 * <import-list>: the past imports, newest first. Each shows what tells two runs of the same file
 * apart: its number (`#123`, the job's id), when it started, its outcome (with the reason of a
 * failure) and its row counts. The ones still running update live over their event streams
 * while the list is on screen. On a phone each import is a card (app.css).
 */

import { statusBadge } from "./import-progress.js";
import { api, describeError, isSessionError, withQuery } from "../lib/api.js";
import { formatNumber, formatDateTime, formatRelative, plural } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { isFinished, watchJob } from "../lib/job-stream.js";

const PAGE_SIZE = 10;
// Enough live rows for anyone's concurrent imports, without one stream per row of history.
const MAX_LIVE = 5;

/** The status badge, and for a failed import the reason, which is what the user needs next. */
function outcomeTemplate(job) {
  return html`${statusBadge(job.status)}${job.status === "failed" && job.message
    && html`<span class="import-reason">${job.message}</span>`}${job.undone_at
    && html`<span class="import-note">undone by #${job.undone_by}</span>`}`;
}

/** An undo's counts: products, not rows of a file. */
function undoRowsText(job) {
  const total = job.total_rows && job.processed_rows !== job.total_rows
    ? `${formatNumber(job.processed_rows)} of ${plural(job.total_rows, "product", "products")}`
    : plural(job.processed_rows, "product", "products");
  const counts = [[job.deleted, "deleted"], [job.restored, "restored"],
    [job.conflicts, job.conflicts === 1 ? "conflict" : "conflicts"]]
    .filter(([count]) => count).map(([count, what]) => `${formatNumber(count)} ${what}`);
  return counts.length ? `${total}: ${counts.join(" · ")}` : total;
}

/**
 * "4,000 rows: 3,990 created · 10 skipped"; while running "1,200 of 4,000 rows". Only the counts
 * that are not zero, so two runs of one file differ where they differ (the second run of a file
 * creates nothing and leaves every row unchanged).
 */
function rowsText(job) {
  if (job.kind === "undo") return undoRowsText(job);
  const total = job.processed_rows !== job.total_rows && job.total_rows
    ? `${formatNumber(job.processed_rows)} of ${plural(job.total_rows, "row", "rows")}`
    : plural(job.processed_rows, "row", "rows");
  const counts = [
    [job.created, "created"], [job.updated, "updated"], [job.unchanged, "unchanged"],
    [job.superseded, "superseded"], [job.skipped, "skipped"],
  ].filter(([count]) => count).map(([count, what]) => `${formatNumber(count)} ${what}`);
  // A preview changed nothing: its counts are what the import would do.
  const prefix = job.preview_only ? "preview of " : "";
  return counts.length ? `${prefix}${total}: ${counts.join(" · ")}${job.preview_only ? " (would be)" : ""}` : total;
}

class ImportList extends HTMLElement {
  connectedCallback() {
    this.page = 1;
    this.watchers = new Map();
    this.load();
  }

  disconnectedCallback() {
    this.stopWatching();
  }

  stopWatching() {
    this.watchers.forEach((watcher) => watcher.stop());
    this.watchers.clear();
  }

  /** Reload the list (a new import was started). */
  async load() {
    this.setAttribute("aria-busy", "true");
    if (!this.data) render(this, html`<div class="state-box" role="status"><span class="spinner" aria-hidden="true"></span> Loading imports…</div>`);
    try {
      this.data = await api.get(withQuery("/api/imports/", { page: this.page, page_size: PAGE_SIZE }));
      this.renderList();
      this.dispatchEvent(new CustomEvent("imports-loaded", { detail: this.data.results, bubbles: true }));
    } catch (error) {
      if (isSessionError(error)) return;
      render(this, html`<div class="state-box state-error" role="alert">
          <p>Couldn't load past imports. ${describeError(error)}</p>
          <button type="button" class="button" data-action="retry">Try again</button>
        </div>`);
      this.querySelector("[data-action=retry]").addEventListener("click", () => this.load());
    } finally {
      this.removeAttribute("aria-busy");
    }
  }

  renderList() {
    this.stopWatching();
    const jobs = this.data.results;
    if (!jobs.length) {
      render(this, html`<div class="state-box"><p>No imports yet. Your imports will be listed here.</p></div>`);
      return;
    }
    render(this, html`<div class="table-wrap">
        <table class="table imports-table">
          <caption class="visually-hidden">Past imports</caption>
          <thead><tr>
            <th scope="col">Import</th><th scope="col">Started</th><th scope="col">Outcome</th>
            <th scope="col">Progress</th><th scope="col">Rows</th>
          </tr></thead>
          <tbody>${jobs.map((job) => this.rowTemplate(job))}</tbody>
        </table>
      </div>
      <nav class="pagination pagination-compact" aria-label="Pages of imports">
        <button type="button" class="button button-small" data-page="-1" ${this.data.previous ? "" : "disabled"}>‹ Newer</button>
        <span class="muted">${plural(this.data.count, "import", "imports")}</span>
        <button type="button" class="button button-small" data-page="1" ${this.data.next ? "" : "disabled"}>Older ›</button>
      </nav>`);
    // Widths are set through the CSSOM, not a style="" attribute in the markup, which the
    // Content-Security-Policy (style-src 'self') refuses.
    jobs.forEach((job) => this.setFill(this.querySelector(`tr[data-job="${job.id}"]`), job));
    this.querySelector(".pagination").addEventListener("click", (event) => {
      const button = event.target.closest("[data-page]");
      if (!button || button.disabled) return;
      this.page += Number(button.dataset.page);
      this.load();
    });
    jobs.filter((job) => !isFinished(job)).slice(0, MAX_LIVE).forEach((job) => {
      this.watchers.set(job.id, watchJob(job.id, { onUpdate: (next) => this.updateRow(next) }));
    });
  }

  rowTemplate(job) {
    const percent = Math.round(job.progress || 0);
    return html`<tr data-job="${job.id}">
        <td class="cell-file">
          <a href="/imports/${job.id}/"><span class="visually-hidden">Import </span><span
            class="import-number">#${job.id}</span> <span class="import-file">${job.kind === "undo"
              ? `Undo of #${job.undoes} (${job.filename})` : job.filename}</span></a>
        </td>
        <td class="cell-started"><time datetime="${job.created_at}" title="${formatDateTime(job.created_at)}">${formatRelative(job.created_at)}</time></td>
        <td class="cell-outcome" data-ref="outcome">${outcomeTemplate(job)}</td>
        <td class="cell-progress">
          <div class="progress progress-small" role="progressbar" aria-label="Progress of import #${job.id}"
            aria-valuemin="0" aria-valuemax="100" aria-valuenow="${percent}" data-status="${job.status}">
            <div class="progress-fill"></div>
          </div>
          <span class="progress-small-text" data-ref="percent">${percent}%</span>
        </td>
        <td class="cell-rows" data-ref="rows">${rowsText(job)}</td>
      </tr>`;
  }

  setFill(row, job) {
    row.querySelector(".progress-fill").style.width = `${Math.round(job.progress || 0)}%`;
  }

  updateRow(job) {
    const row = this.querySelector(`tr[data-job="${job.id}"]`);
    if (!row) return;
    const percent = Math.round(job.progress || 0);
    render(row.querySelector("[data-ref=outcome]"), outcomeTemplate(job));
    const bar = row.querySelector("[role=progressbar]");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.dataset.status = job.status;
    this.setFill(row, job);
    row.querySelector("[data-ref=percent]").textContent = `${percent}%`;
    row.querySelector("[data-ref=rows]").textContent = rowsText(job);
  }
}

customElements.define("import-list", ImportList);
