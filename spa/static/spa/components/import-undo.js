/**
 * Undo, as the import's page shows it: the "Undo import" button on a completed import, the
 * confirmation that says what will happen (N products deleted, M restored), the note on an
 * import that was undone (by whom, when, a link to the undo), and, on an undo's own page, its
 * conflicts: products changed since the import, left as they are, current values beside what the
 * undo would have restored, with the choice to undo those too (force).
 *
 * The rules are the server's: the buttons follow the import's `undo` ({available,
 * force_available, deletes, restores, until, reason}) and a refusal's message is shown as is.
 */

import { confirmDialog } from "./dialogs.js";
import { notify } from "./notices.js";
import { api, describeError, isSessionError } from "../lib/api.js";
import { formatDateTime, formatNumber, plural } from "../lib/format.js";
import { html } from "../lib/html.js";
import { navigate } from "../lib/router.js";

/** The buttons for an import: undo it, or (after an undo that left conflicts) force the rest. */
export function undoActionsTemplate(job) {
  const undo = job.undo;
  if (!undo) return "";
  if (undo.available) {
    return html`<button type="button" class="button button-danger-outline" data-action="undo">Undo import</button>`;
  }
  if (undo.force_available) {
    return html`<button type="button" class="button button-danger-outline" data-action="undo-force">Undo the conflicts too</button>`;
  }
  return "";
}

/** On an import: whether it was undone (or is being undone), by whom, and why it cannot be. */
export function undoNoteTemplate(job) {
  if (job.kind === "undo") {
    return html`<p class="undo-note">This undoes <a href="/imports/${job.undoes}/">import #${job.undoes}</a>${
      job.force ? ", products changed since it included (forced)" : ""}.</p>`;
  }
  if (job.undone_by && job.undone_at) {
    return html`<p class="undo-note" data-ref="undone">Undone by <a href="/imports/${job.undone_by}/">undo #${job.undone_by}</a>${
      job.undone_by_user ? ` (${job.undone_by_user})` : ""} on ${formatDateTime(job.undone_at)}.</p>`;
  }
  if (job.undone_by) {
    return html`<p class="undo-note" data-ref="undone">Being undone by <a href="/imports/${job.undone_by}/">undo #${job.undone_by}</a>.</p>`;
  }
  if (job.status === "completed" && job.undo && job.undo.available && job.undo.until) {
    return html`<p class="undo-note muted">Can be undone until ${formatDateTime(job.undo.until)}.</p>`;
  }
  return "";
}

function productCells(values) {
  if (!values) return html`<td colspan="2"><em>deleted</em></td>`;
  return html`<td><span title="${values.name}">${values.name}</span></td><td>${values.is_active ? "active" : "inactive"}</td>`;
}

/** On an undo: its conflicts (a count and the sample), and what force would do. */
export function conflictsTemplate(job) {
  if (job.kind !== "undo" || !job.conflicts) return "";
  const sample = job.conflict_sample || [];
  return html`<section class="undo-conflicts" aria-labelledby="conflicts-${job.id}">
      <h3 id="conflicts-${job.id}">${plural(job.conflicts, "product was", "products were")} changed since the import and left as ${job.conflicts === 1 ? "it is" : "they are"}</h3>
      <p class="muted">Changed by hand or by a later import. ${sample.length < job.conflicts
        ? `The first ${formatNumber(sample.length)} are listed.` : ""}</p>
      <div class="table-wrap">
        <table class="table table-compact">
          <thead><tr>
            <th scope="col">SKU</th><th scope="col">Undo would</th>
            <th scope="col">Name now</th><th scope="col">State now</th>
            <th scope="col">Would restore</th>
          </tr></thead>
          <tbody>${sample.map((conflict) => html`<tr>
              <td><code>${conflict.sku}</code></td>
              <td>${conflict.action === "delete" ? "delete it" : "restore it"}</td>
              ${productCells(conflict.current)}
              <td>${conflict.would_restore ? conflict.would_restore.name : "—"}</td>
            </tr>`)}</tbody>
        </table>
      </div>
      ${job.status === "completed" && !job.force && html`<p><button type="button" class="button button-danger-outline"
        data-action="undo-force">Undo ${job.conflicts === 1 ? "it" : `these ${formatNumber(job.conflicts)}`} too</button></p>`}
    </section>`;
}

/**
 * Ask, then start the undo of import `job`; on success go to the undo's page, where its progress
 * shows live. `force`: undo the products changed since the import too.
 */
export async function startUndo(job, { force = false } = {}) {
  const undo = job.undo || {};
  const message = force
    ? `The products changed since import #${job.id} that its undo left alone get back their values from before it, or are deleted if the import created them. Changes made since then to those products are lost.`
    : `${plural(undo.deletes, "product", "products")} the import created will be deleted and ${plural(undo.restores, "product", "products")} it updated get back the values they had before it. Products changed since the import are left as they are and listed.`;
  const confirmed = await confirmDialog({
    title: force ? `Undo the conflicts of import #${job.id} too?` : `Undo import #${job.id}?`,
    message,
    confirmLabel: force ? "Undo them too" : "Undo import",
    danger: true,
  });
  if (!confirmed) return null;
  try {
    const started = await api.post(`/api/imports/${job.id}/undo/`, { force });
    notify(`Undoing import #${job.id}…`, { kind: "info" });
    navigate(`/imports/${started.id}/`);
    return started;
  } catch (error) {
    if (!isSessionError(error)) notify(`Couldn't undo the import: ${describeError(error)}`, { kind: "error" });
    return null;
  }
}
