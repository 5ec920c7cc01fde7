/**
 * <import-progress job-id="…">: one import job, live. Shows the phase, a progress bar with the
 * percentage, rows processed of total, rows per second, the created/updated/unchanged/
 * superseded/skipped counts, the first row errors with a link to all of them, and the failure
 * reason with a retry. A running import can be cancelled. An import waiting for its columns to be
 * mapped shows the mapping step (column-mapping.js); a previewed one its review step
 * (import-preview.js), and both go on live over the same stream. A completed import can be
 * undone; an undo is a job too, shown here with its own counts and conflicts (import-undo.js).
 *
 * Its event stream is opened when the element is put on the page and closed when it is taken
 * off (see lib/job-stream.js).
 */

import "./column-mapping.js";
import "./import-preview.js";
import { conflictsTemplate, startUndo, undoActionsTemplate, undoNoteTemplate } from "./import-undo.js";
import { notify } from "./notices.js";
import { api, describeError, isSessionError } from "../lib/api.js";
import { formatBytes, formatDateTime, formatNumber, formatRate, plural } from "../lib/format.js";
import { html, render } from "../lib/html.js";
import { isFinished, watchJob } from "../lib/job-stream.js";

const STATUS_LABELS = {
  pending: "Queued",
  processing: "Running",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  needs_mapping: "Needs mapping",
  previewed: "Previewed",
};

/** Long values (a 300-character SKU is a typical bad row) are cut for the table; the title has it all. */
function shorten(value, max = 40) {
  const text = String(value || "");
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function downloadLabel(job, more) {
  if (job.stored_errors !== undefined && job.stored_errors < job.skipped) {
    return `the first ${plural(job.stored_errors, "row error", "row errors")}`;
  }
  if (!more) return job.skipped === 1 ? "the row error" : "the row errors";
  return `all ${plural(job.skipped, "row error", "row errors")}`;
}

export function statusBadge(status) {
  return html`<span class="badge badge-${status}">${STATUS_LABELS[status] || status}</span>`;
}

/**
 * The phase as a person reads it: "Counting rows", "Complete", "Failed: <reason>"… A finished
 * job's phase is its status, so the status decides; only a running job's phase says more.
 */
export function phaseText(job) {
  if (job.status === "failed") return `Failed: ${job.message || "the import could not finish."}`;
  if (job.kind === "undo" && (job.status === "cancelled" || job.status === "completed")) return job.message;
  if (job.status === "cancelled") return "Cancelled";
  if (job.status === "completed") return "Complete";
  if (job.status === "needs_mapping") return "Waiting for you: say which column is which";
  if (job.status === "previewed") return "Previewed: review the changes, then import or discard them";
  return job.phase_label || STATUS_LABELS[job.status] || job.status;
}

class ImportProgress extends HTMLElement {
  connectedCallback() {
    this.classList.add("card", "import-progress");
    this.setAttribute("aria-labelledby", `import-title-${this.jobId}`);
    this.job = null;
    this.rendered = false;
    render(this, html`<div class="state-box" role="status"><span class="spinner" aria-hidden="true"></span> Loading the import…</div>`);
    this.watch = watchJob(this.jobId, {
      onUpdate: (job) => this.update(job),
      onConnection: (state) => this.showConnection(state),
      onError: (error) => this.showError(error),
    });
  }

  disconnectedCallback() {
    if (this.watch) this.watch.stop();
    this.watch = null;
  }

  get jobId() {
    return Number(this.getAttribute("job-id"));
  }

  /** Say when live updates pause or stop; nothing while the import is still loading. */
  showConnection(state) {
    if (!this.rendered) return;
    this.showNote({
      live: "",
      reconnecting: "Live updates interrupted — reconnecting…",
      stopped: "Live updates stopped. Reload the page to follow this import again.",
    }[state]);
  }

  showError(error) {
    // An expired session is the app's to handle: it goes to the login page.
    if (isSessionError(error)) return;
    if (!this.rendered) {
      render(this, html`<div class="state-box state-error" role="alert">
          <p>Couldn't load import #${this.jobId}. ${describeError(error)}</p>
        </div>`);
      return;
    }
    this.showNote(`Live updates stopped: ${describeError(error)}`);
  }

  showNote(text) {
    this.refs.connection.textContent = text;
    this.refs.connection.hidden = !text;
  }

  renderFrame(job) {
    this.rendered = true;
    const undo = job.kind === "undo";
    // An undo counts products (deleted, restored, left alone), an import rows of its file.
    const counts = undo
      ? [["deleted", "Deleted"], ["restored", "Restored"], ["conflicts", "Conflicts"], ["forced", "Forced"]]
      : [["created", "Created"], ["updated", "Updated"], ["unchanged", "Unchanged"],
        ["superseded", "Superseded"], ["skipped", "Skipped"]];
    render(this, html`<header class="card-header">
        <div>
          <h2 class="card-title" id="import-title-${job.id}">${undo
            ? `Undo #${job.id} of import #${job.undoes}: ${job.filename}`
            : `Import #${job.id}: ${job.filename}`}</h2>
          <p class="muted">${undo ? "" : `${formatBytes(job.size_bytes)} · `}started ${formatDateTime(job.created_at)}</p>
        </div>
        <span data-ref="badge"></span>
      </header>
      <p class="import-phase" data-ref="phase"></p>
      <div class="progress progress-large" role="progressbar" aria-label="Import progress of ${job.filename}"
        aria-valuemin="0" aria-valuemax="100" aria-valuenow="${Math.round(job.progress || 0)}" data-ref="bar">
        <div class="progress-fill"></div>
      </div>
      <p class="progress-text" data-ref="progressText">
        <strong class="progress-percent" data-ref="percent"></strong>
        <span data-ref="rows"></span>
        <span class="muted" data-ref="rate"></span>
      </p>
      <dl class="counts" data-ref="counts">
        ${counts.map(([key, label]) => html`<div><dt>${label}</dt><dd data-count="${key}"></dd></div>`)}
      </dl>
      <div data-ref="undo"></div>
      <p class="connection-note muted" data-ref="connection" role="status" hidden></p>
      <div class="failure" role="alert" data-ref="failure" hidden></div>
      <div data-ref="step"></div>
      <div data-ref="errors"></div>
      <div class="card-actions" data-ref="actions"></div>`);
    this.refs = {};
    this.querySelectorAll("[data-ref]").forEach((element) => {
      this.refs[element.dataset.ref] = element;
    });
    this.refs.actions.addEventListener("click", (event) => this.onAction(event));
    this.refs.failure.addEventListener("click", (event) => this.onAction(event));
    this.refs.undo.addEventListener("click", (event) => this.onAction(event));
    // The mapping and preview steps answer with the job the server returned: shown at once.
    this.refs.step.addEventListener("import-updated", (event) => this.update(event.detail));
    this.shownStatus = null;
    this.shownErrors = null;
    this.shownUndo = undefined;
  }

  update(job) {
    // A finished import never runs again: a state still in flight when the cancel's answer
    // arrived must not undo it.
    if (isFinished(this.job) && !isFinished(job)) return;
    this.job = job;
    if (!this.rendered) this.renderFrame(job);
    const refs = this.refs;
    const percent = Math.max(0, Math.min(100, Math.round(job.progress || 0)));
    refs.phase.textContent = phaseText(job);
    refs.bar.setAttribute("aria-valuenow", String(percent));
    refs.bar.setAttribute("aria-valuetext", `${percent}% — ${phaseText(job)}`);
    refs.bar.dataset.status = job.status;
    refs.bar.querySelector(".progress-fill").style.width = `${percent}%`;
    refs.percent.textContent = `${percent}%`;
    const [one, many] = job.kind === "undo" ? ["product", "products"] : ["row", "rows"];
    refs.rows.textContent = job.total_rows === null || job.total_rows === undefined
      ? `${plural(job.processed_rows, one, many)} processed`
      : `${formatNumber(job.processed_rows)} of ${plural(job.total_rows, one, many)}`;
    refs.rate.textContent = job.rows_per_second ? `· ${formatRate(job.rows_per_second)}` : "";
    // A count a server does not send (superseded, before it existed) shows as 0.
    refs.counts.querySelectorAll("[data-count]").forEach((element) => {
      element.textContent = formatNumber(job[element.dataset.count] ?? 0);
    });
    this.renderUndo(job);

    if (this.shownStatus !== job.status) {
      this.shownStatus = job.status;
      render(refs.badge, statusBadge(job.status));
      this.renderActions(job);
      this.renderStep(job);
      if (job.status === "failed") {
        render(refs.failure, html`<p><strong>The import failed.</strong> ${job.message || "No reason was given."}</p>
          <button type="button" class="button button-primary" data-action="retry">Retry</button>`);
        refs.failure.hidden = false;
      } else {
        refs.failure.hidden = true;
      }
      if (isFinished(job)) {
        this.dispatchEvent(new CustomEvent("import-finished", { detail: job, bubbles: true }));
      }
    }
    if (this.shownErrors !== job.skipped) {
      this.shownErrors = job.skipped;
      this.renderErrors(job);
    }
  }

  renderActions(job) {
    if (job.status === "previewed") {
      render(this.refs.actions, ""); // the review step has Import and Discard
      return;
    }
    const cancelLabel = job.kind === "undo" ? "Cancel undo" : job.preview_only ? "Cancel preview" : "Cancel import";
    render(this.refs.actions, isFinished(job)
      ? html`${job.status === "completed" && html`<a class="button" href="/products/">View the catalogue</a>`}${
        undoActionsTemplate(job)}`
      : html`<button type="button" class="button button-danger-outline" data-action="cancel">${cancelLabel}</button>`);
  }

  /** The undo note and, on an undo, its conflicts; redrawn only when what they show changes
   * (an import's undo changes while it is shown: its undo's events update it too). */
  renderUndo(job) {
    const key = JSON.stringify([job.status, job.undone_by, job.undone_at, job.undo, job.conflicts,
      (job.conflict_sample || []).length]);
    if (this.shownUndo === key) return;
    const actionsChanged = this.shownUndo !== undefined && isFinished(job);
    this.shownUndo = key;
    render(this.refs.undo, html`${undoNoteTemplate(job)}${conflictsTemplate(job)}`);
    if (actionsChanged) this.renderActions(job);
  }

  /** The step a person must take: the column mapping, or the preview's review; else nothing. */
  renderStep(job) {
    const waiting = job.status === "needs_mapping" || job.status === "previewed";
    this.refs.counts.hidden = waiting;
    this.refs.bar.hidden = job.status === "needs_mapping";
    this.refs.progressText.hidden = job.status === "needs_mapping";
    const step = this.refs.step;
    if (!waiting) {
      step.replaceChildren();
      return;
    }
    const element = document.createElement(job.status === "needs_mapping" ? "column-mapping" : "import-preview");
    element.job = job;
    step.replaceChildren(element);
  }

  renderErrors(job) {
    const errors = job.errors || [];
    if (!job.skipped) {
      render(this.refs.errors, "");
      return;
    }
    const more = job.skipped > errors.length;
    // A server from before stored_errors existed stored every error.
    const notStored = job.stored_errors === undefined ? 0 : job.skipped - job.stored_errors;
    render(this.refs.errors, html`<section class="row-errors" aria-labelledby="row-errors-${job.id}">
        <h3 id="row-errors-${job.id}">${plural(job.skipped, "row was", "rows were")} skipped</h3>
        <div class="table-wrap">
          <table class="table table-compact">
            <thead><tr><th scope="col">Line</th><th scope="col">SKU</th><th scope="col">Reason</th></tr></thead>
            <tbody>${errors.map((error) => html`<tr>
                <td>${formatNumber(error.line)}</td><td><code title="${error.sku}">${shorten(error.sku) || "—"}</code></td><td>${error.reason}</td>
              </tr>`)}</tbody>
          </table>
        </div>
        ${job.errors_url && html`<p><a href="${job.errors_url}" download="import-${job.id}-errors.csv">
          Download ${downloadLabel(job, more)} (CSV)</a></p>`}
        ${notStored > 0 && html`<p class="row-errors-cut">The list is cut: only the first
          ${plural(job.stored_errors, "row error is", "row errors are")} kept, and
          ${plural(notStored, "more was", "more were")} counted but not stored.</p>`}
      </section>`);
  }

  async onAction(event) {
    const button = event.target.closest("[data-action]");
    if (!button) return;
    if (button.dataset.action === "cancel") {
      button.disabled = true;
      try {
        // The answer is the cancelled job; showing it at once beats waiting for its event.
        this.update(await api.post(`/api/imports/${this.job.id}/cancel/`, {}));
        notify(`${this.job.kind === "undo" ? "Undo" : "Import"} #${this.job.id} was cancelled.`, { kind: "info" });
      } catch (error) {
        // Most likely the import finished meanwhile; its stream shows how.
        button.disabled = false;
        if (!isSessionError(error)) notify(`Couldn't cancel the import: ${describeError(error)}`, { kind: "error" });
      }
    }
    if (button.dataset.action === "undo" || button.dataset.action === "undo-force") {
      const force = button.dataset.action === "undo-force";
      // The forced undo is of the import; on an undo's page that is the one it undoes.
      const target = this.job.kind === "undo" ? await api.get(`/api/imports/${this.job.undoes}/`) : this.job;
      await startUndo(target, { force });
    }
    if (button.dataset.action === "retry") {
      this.dispatchEvent(new CustomEvent("import-retry", { detail: this.job, bubbles: true }));
    }
  }
}

customElements.define("import-progress", ImportProgress);
