/**
 * <column-mapping>: the mapping step of an import in `needs_mapping`. Lists the file's columns
 * with their sample values and a choice of target for each (the server's suggestions filled in),
 * says what is still missing (a SKU and a name column, each once), and sends the mapping to
 * POST /api/imports/{id}/mapping/. The server checks it again and its messages are shown as they
 * are; the job then goes on, and its stream shows it.
 *
 * Set `.job` to the job; the element dispatches `import-updated` with the job the server answers.
 */

import { api, describeError, isSessionError } from "../lib/api.js";
import { html, render } from "../lib/html.js";

const TARGETS = [
  ["", "Ignore this column"],
  ["sku", "SKU"],
  ["name", "Name"],
  ["description", "Description"],
  ["is_active", "Active (true/false, yes/no, published/draft…)"],
];
const LABELS = Object.fromEntries(TARGETS);

/** What keeps the mapping from being sent, in words; empty when it can be. */
export function mappingProblems(chosen) {
  const counts = {};
  Object.values(chosen).forEach((target) => {
    if (target) counts[target] = (counts[target] || 0) + 1;
  });
  const problems = [];
  ["sku", "name"].forEach((target) => {
    if (!counts[target]) problems.push(`Choose the column that holds the ${target === "sku" ? "SKU" : "name"}.`);
  });
  Object.entries(counts).forEach(([target, count]) => {
    if (count > 1) problems.push(`${LABELS[target]} is chosen for ${count} columns: choose one.`);
  });
  return problems;
}

class ColumnMapping extends HTMLElement {
  set job(job) {
    this._job = job;
    this.draw();
  }

  get job() {
    return this._job;
  }

  draw() {
    const job = this._job;
    const columns = job.columns || [];
    this.classList.add("column-mapping");
    render(this, html`<section aria-labelledby="mapping-title-${job.id}">
        <h3 id="mapping-title-${job.id}">Which column is which?</h3>
        <p class="muted">This file's header does not name the <code>sku</code> and <code>name</code> columns.
          Choose a field for each column; the suggestions are filled in. Your choice is remembered for the
          next file with the same columns.</p>
        <form data-ref="form" novalidate>
          <div class="table-wrap">
            <table class="table table-compact mapping-table">
              <thead><tr><th scope="col">Column</th><th scope="col">Sample values</th><th scope="col">Import as</th></tr></thead>
              <tbody>${columns.map((column, index) => html`<tr>
                  <th scope="row"><label for="map-${job.id}-${index}">${column.key}</label></th>
                  <td class="mapping-samples">${column.samples.length
                    ? column.samples.map((sample) => html`<code>${sample}</code> `)
                    : html`<span class="muted">(empty)</span>`}</td>
                  <td><select id="map-${job.id}-${index}" data-key="${column.key}">
                    ${TARGETS.map(([value, label]) => html`<option value="${value}"
                      ${(column.suggested || "") === value ? "selected" : ""}>${label}</option>`)}
                  </select></td>
                </tr>`)}</tbody>
            </table>
          </div>
          <div class="mapping-missing" data-ref="missing" role="status" aria-live="polite"></div>
          <div class="form-error" data-ref="error" role="alert" hidden></div>
          <div class="card-actions">
            <button type="submit" class="button button-primary" data-ref="submit">Continue with this mapping</button>
          </div>
        </form>
      </section>`);
    this.form = this.querySelector("[data-ref=form]");
    this.form.addEventListener("change", () => this.check());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.check();
  }

  chosen() {
    const chosen = {};
    this.form.querySelectorAll("select[data-key]").forEach((select) => {
      chosen[select.dataset.key] = select.value || null;
    });
    return chosen;
  }

  check() {
    const problems = mappingProblems(this.chosen());
    const missing = this.querySelector("[data-ref=missing]");
    render(missing, problems.length
      ? html`<ul class="mapping-problems">${problems.map((problem) => html`<li>${problem}</li>`)}</ul>`
      : html`<p class="mapping-ok">Ready: every required field has a column.</p>`);
    this.querySelector("[data-ref=submit]").disabled = problems.length > 0;
    return problems;
  }

  async submit() {
    if (this.check().length) return;
    const button = this.querySelector("[data-ref=submit]");
    const error = this.querySelector("[data-ref=error]");
    button.disabled = true;
    error.hidden = true;
    try {
      const job = await api.post(`/api/imports/${this._job.id}/mapping/`, { columns: this.chosen() });
      this.dispatchEvent(new CustomEvent("import-updated", { detail: job, bubbles: true }));
    } catch (failure) {
      button.disabled = false;
      if (isSessionError(failure)) return;
      const messages = failure.body && failure.body.errors && failure.body.errors.columns;
      render(error, Array.isArray(messages) && messages.length
        ? html`<ul>${messages.map((message) => html`<li>${message}</li>`)}</ul>`
        : describeError(failure));
      error.hidden = false;
    }
  }
}

customElements.define("column-mapping", ColumnMapping);
