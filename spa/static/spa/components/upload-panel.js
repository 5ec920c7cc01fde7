/**
 * <upload-panel>: choose or drop a CSV file, then watch it upload (bytes, percentage) with
 * pause, resume and cancel. The upload itself lives in lib/uploads.js, so it survives this
 * panel being hidden; the panel only shows it.
 */

import { html, render } from "../lib/html.js";
import { formatBytes } from "../lib/format.js";
import {
  cancelUpload, dismissUpload, onUploadChange, pauseUpload, resumeUpload, uploadAndImport, uploadState,
} from "../lib/uploads.js";

const ACCEPT = ".csv,text/csv,text/plain,application/vnd.ms-excel";

function looksLikeCsv(file) {
  return /\.(csv|txt)$/i.test(file.name) || /csv|text\/plain/.test(file.type);
}

class UploadPanel extends HTMLElement {
  connectedCallback() {
    this.classList.add("card", "upload-panel");
    this.unsubscribe = onUploadChange((state) => this.show(state));
    this.show(uploadState());
  }

  disconnectedCallback() {
    if (this.unsubscribe) this.unsubscribe();
  }

  /** Open the file picker (used by "Retry" on a failed import whose file is gone). */
  choose() {
    const input = this.querySelector("input[type=file]");
    if (input) {
      input.focus();
      input.click();
    }
  }

  /** Upload `file` again (the retry of a failed import whose file is still in memory). */
  retryWith(file) {
    this.start(file);
  }

  start(file) {
    if (!looksLikeCsv(file)) {
      this.showIdle(`“${file.name}” doesn't look like a CSV file. Choose a .csv file.`);
      return;
    }
    const preview = this.querySelector("[data-ref=preview]");
    // Remembered across the panel's redraws (it is drawn again after each upload).
    this.preview = preview ? preview.checked : Boolean(this.preview);
    uploadAndImport(file, { preview: this.preview }).catch(() => {
      // The panel shows the failure from the upload state; nothing more to do here.
    });
  }

  show(state) {
    if (!state) {
      this.showIdle();
      return;
    }
    this.showProgress(state);
  }

  showIdle(error = "") {
    this.dataset.state = "idle";
    render(this, html`<h2 class="card-title" id="upload-title">Import a CSV file</h2>
      <div class="dropzone" data-ref="dropzone">
        <svg class="dropzone-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false">
          <path d="M12 16V4m0 0-4 4m4-4 4 4M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3" fill="none"
            stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>
        </svg>
        <p class="dropzone-text">Drag a CSV file here, or</p>
        <input type="file" id="upload-file" class="visually-hidden file-input" accept="${ACCEPT}"
          aria-describedby="upload-hint">
        <label for="upload-file" class="button button-primary">Choose a file…</label>
        <p class="field-hint" id="upload-hint">Columns <code>sku</code>, <code>name</code> and optionally
          <code>description</code> and <code>is_active</code>; other names (a shop's export) are mapped in the
          next step. Existing SKUs are updated, whatever their letter case. Large files are fine: the upload
          resumes after a dropped connection.</p>
      </div>
      <label class="checkbox upload-preview">
        <input type="checkbox" data-ref="preview" ${this.preview ? "checked" : ""} aria-describedby="upload-preview-hint">
        <span>Preview changes before importing
          <span class="field-hint" id="upload-preview-hint">See what the file would create and change, then import or discard it.</span></span>
      </label>
      ${error && html`<p class="form-error" role="alert">${error}</p>`}`);

    const dropzone = this.querySelector("[data-ref=dropzone]");
    const input = this.querySelector("input[type=file]");
    input.addEventListener("change", () => {
      if (input.files.length) this.start(input.files[0]);
    });
    const over = (event) => {
      event.preventDefault();
      dropzone.classList.add("is-over");
    };
    dropzone.addEventListener("dragenter", over);
    dropzone.addEventListener("dragover", over);
    dropzone.addEventListener("dragleave", (event) => {
      if (!dropzone.contains(event.relatedTarget)) dropzone.classList.remove("is-over");
    });
    dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropzone.classList.remove("is-over");
      const file = event.dataTransfer && event.dataTransfer.files[0];
      if (file) this.start(file);
    });
  }

  showProgress(state) {
    const total = state.bytesTotal || 0;
    const percent = total ? Math.floor((state.bytesSent / total) * 100) : 0;
    const phaseText = {
      uploading: "Uploading",
      paused: "Paused",
      retrying: "Connection lost — retrying…",
      starting: "Upload complete — starting the import…",
      failed: "Upload stopped",
    }[state.phase];
    // Rebuild only when the phase changes; progress ticks update text and attributes in place,
    // so the focused button keeps its focus.
    if (this.dataset.state !== state.phase) {
      this.dataset.state = state.phase;
      const busy = state.phase === "uploading" || state.phase === "retrying";
      render(this, html`<h2 class="card-title">Uploading ${state.file ? state.file.name : "file"}</h2>
        <p class="upload-phase" data-ref="phase" aria-live="polite"></p>
        <div class="progress" role="progressbar" aria-label="Upload progress" aria-valuemin="0"
          aria-valuemax="100" data-ref="bar"><div class="progress-fill"></div></div>
        <p class="progress-text"><span data-ref="percent"></span> <span class="muted" data-ref="bytes"></span></p>
        <p class="form-error" role="alert" data-ref="message" hidden></p>
        <div class="card-actions">
          ${busy && html`<button type="button" class="button" data-action="pause">Pause</button>`}
          ${(state.phase === "paused" || (state.phase === "failed" && state.canResume)) &&
            html`<button type="button" class="button button-primary" data-action="resume">Resume upload</button>`}
          ${state.phase !== "starting" && state.phase !== "failed" &&
            html`<button type="button" class="button button-danger-outline" data-action="cancel">Cancel upload</button>`}
          ${state.phase === "failed" &&
            html`<button type="button" class="button" data-action="dismiss">Choose another file</button>`}
        </div>`);
      const on = (action, handler) => {
        const button = this.querySelector(`[data-action=${action}]`);
        if (button) button.addEventListener("click", handler);
      };
      on("pause", () => pauseUpload());
      on("resume", () => resumeUpload());
      on("cancel", () => cancelUpload());
      on("dismiss", () => dismissUpload());
    }
    const bar = this.querySelector("[data-ref=bar]");
    bar.setAttribute("aria-valuenow", String(percent));
    bar.setAttribute("aria-valuetext", `${percent}% uploaded`);
    bar.querySelector(".progress-fill").style.width = `${percent}%`;
    this.querySelector("[data-ref=phase]").textContent = state.resumed && state.phase === "uploading"
      ? `${phaseText} (resumed an earlier, interrupted upload of this file)`
      : phaseText;
    this.querySelector("[data-ref=percent]").textContent = `${percent}%`;
    this.querySelector("[data-ref=bytes]").textContent = `${formatBytes(state.bytesSent)} of ${formatBytes(total)}`;
    const message = this.querySelector("[data-ref=message]");
    message.hidden = !state.message;
    message.textContent = state.message || "";
  }
}

customElements.define("upload-panel", UploadPanel);
