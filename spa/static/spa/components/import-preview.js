/**
 * <import-preview>: a previewed import's review step. Shows what the file would do (created,
 * updated, unchanged, superseded, skipped), the sample of rows that would change with their
 * current and new values (before → after), and "Import" (POST /api/imports/{id}/confirm/: the
 * stored file is imported for real, into the catalogue as it is then) or "Discard" (cancel).
 * The row errors are shown by the surrounding <import-progress>, as for an import.
 *
 * Set `.job`; the element dispatches `import-updated` with the job the server answers.
 */

import { notify } from "./notices.js";
import { api, describeError, isSessionError } from "../lib/api.js";
import { formatNumber, plural } from "../lib/format.js";
import { html, render } from "../lib/html.js";

const FIELDS = [["name", "Name"], ["description", "Description"], ["is_active", "Active"], ["sku", "SKU"]];

function shown(field, value) {
  if (field === "is_active") return value ? "active" : "inactive";
  return value === "" ? "(empty)" : value;
}

/** The fields a change alters, each as before → after (a new product: its values). */
function changeCells(change) {
  if (!change.current) {
    return html`<span class="change-new">${change.new.name}</span>${change.new.description
      && html` <span class="muted">— ${change.new.description}</span>`}`;
  }
  const altered = FIELDS.filter(([field]) => change.current[field] !== change.new[field]);
  return html`<ul class="change-fields">${altered.map(([field, label]) => html`<li>
      <span class="change-label">${label}:</span>
      <del>${shown(field, change.current[field])}</del> <span aria-hidden="true">→</span><span class="visually-hidden">becomes</span>
      <ins>${shown(field, change.new[field])}</ins></li>`)}</ul>`;
}

class ImportPreview extends HTMLElement {
  set job(job) {
    this._job = job;
    this.draw();
  }

  draw() {
    const job = this._job;
    const preview = job.preview || {};
    const changes = job.changes || [];
    const wouldChange = (preview.create || 0) + (preview.update || 0);
    this.classList.add("import-preview");
    render(this, html`<section aria-labelledby="preview-title-${job.id}">
        <h3 id="preview-title-${job.id}">Preview: nothing has been changed yet</h3>
        <dl class="counts preview-counts">
          <div><dt>Would create</dt><dd>${formatNumber(preview.create || 0)}</dd></div>
          <div><dt>Would update</dt><dd>${formatNumber(preview.update || 0)}</dd></div>
          <div><dt>Unchanged</dt><dd>${formatNumber(preview.unchanged || 0)}</dd></div>
          <div><dt>Superseded</dt><dd>${formatNumber(preview.superseded || 0)}</dd></div>
          <div><dt>Skipped</dt><dd>${formatNumber(preview.skipped || 0)}</dd></div>
        </dl>
        ${changes.length ? html`<h4>${changes.length < wouldChange
            ? `The first ${plural(changes.length, "row", "rows")} that would change, of ${formatNumber(wouldChange)}`
            : plural(changes.length, "row would change", "rows would change")}</h4>
          <div class="table-wrap">
            <table class="table table-compact preview-changes">
              <thead><tr><th scope="col">Line</th><th scope="col">SKU</th><th scope="col">Change</th><th scope="col">Before → after</th></tr></thead>
              <tbody>${changes.map((change) => html`<tr>
                  <td>${formatNumber(change.line)}</td><td><code>${change.sku}</code></td>
                  <td>${change.action === "create" ? "New product" : "Update"}</td>
                  <td>${changeCells(change)}</td>
                </tr>`)}</tbody>
            </table>
          </div>`
          : html`<p>No product would change.</p>`}
        <div class="card-actions">
          <button type="button" class="button button-primary" data-action="confirm">Import</button>
          <button type="button" class="button button-danger-outline" data-action="discard">Discard</button>
        </div>
      </section>`);
    this.querySelectorAll("[data-action]").forEach((button) => {
      button.addEventListener("click", () => this.act(button));
    });
  }

  async act(button) {
    const confirm = button.dataset.action === "confirm";
    this.querySelectorAll("[data-action]").forEach((b) => { b.disabled = true; });
    try {
      const url = `/api/imports/${this._job.id}/${confirm ? "confirm" : "cancel"}/`;
      const job = await api.post(url, {});
      if (!confirm) notify(`The preview of import #${job.id} was discarded.`, { kind: "info" });
      this.dispatchEvent(new CustomEvent("import-updated", { detail: job, bubbles: true }));
    } catch (error) {
      this.querySelectorAll("[data-action]").forEach((b) => { b.disabled = false; });
      if (!isSessionError(error)) notify(`Couldn't ${confirm ? "start the import" : "discard the preview"}: ${describeError(error)}`, { kind: "error" });
    }
  }
}

customElements.define("import-preview", ImportPreview);
