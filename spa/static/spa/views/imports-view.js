/**
 * <imports-view>: start an import (upload panel), follow the current one live, and see past
 * imports. `/imports/<id>/` shows that import; `/imports/` shows the latest one while it runs,
 * so leaving and coming back (or reloading) picks the live progress up again.
 */

import "../components/import-list.js";
import "../components/import-progress.js";
import "../components/upload-panel.js";
import { html, render } from "../lib/html.js";
import { isFinished } from "../lib/job-stream.js";
import { navigate } from "../lib/router.js";
import { onImportStarted } from "../lib/uploads.js";

/** Files of imports started in this page's life, so "Retry" can send the same file again. */
const filesByJob = new Map();

function jobIdFromPath(path) {
  const match = path.match(/^\/imports\/(\d+)\/?$/);
  return match ? Number(match[1]) : null;
}

class ImportsView extends HTMLElement {
  connectedCallback() {
    render(this, html`<section class="view" aria-labelledby="imports-title">
      <header class="view-header">
        <div>
          <h1 id="imports-title" tabindex="-1">Imports</h1>
          <p class="view-subtitle">Upload a product CSV; progress shows live while it is imported.</p>
        </div>
      </header>
      <div class="imports-grid">
        <upload-panel></upload-panel>
        <div data-ref="current" class="current-import"></div>
      </div>
      <h2 class="section-title">Past imports</h2>
      <import-list></import-list>
    </section>`);
    this.current = this.querySelector("[data-ref=current]");
    this.list = this.querySelector("import-list");
    this.panel = this.querySelector("upload-panel");
    this.shownJobId = null;

    this.unsubscribe = onImportStarted((job) => {
      if (this.lastFile) filesByJob.set(job.id, this.lastFile);
      navigate(`/imports/${job.id}/`);
      this.list.load();
    });
    this.addEventListener("change", (event) => {
      // Remember the chosen file for a retry (the panel's file input bubbles its change here).
      if (event.target.matches("input[type=file]") && event.target.files.length) this.lastFile = event.target.files[0];
    });
    this.addEventListener("drop", (event) => {
      if (event.dataTransfer && event.dataTransfer.files.length) this.lastFile = event.dataTransfer.files[0];
    });
    this.addEventListener("import-retry", (event) => this.retry(event.detail));
    this.addEventListener("import-finished", () => this.list.load());
    this.addEventListener("imports-loaded", (event) => this.showLatestIfRunning(event.detail));
    this.routeChanged({ path: window.location.pathname });
  }

  disconnectedCallback() {
    if (this.unsubscribe) this.unsubscribe();
  }

  routeChanged(location) {
    const id = jobIdFromPath(location.path);
    if (id) {
      this.showJob(id);
    } else if (this.shownJobId && !this.autoShown) {
      this.showJob(null);
    }
  }

  showJob(id, { auto = false } = {}) {
    if (id === this.shownJobId) return;
    this.shownJobId = id;
    this.autoShown = auto;
    if (!id) {
      render(this.current, "");
      return;
    }
    const progress = document.createElement("import-progress");
    progress.setAttribute("job-id", String(id));
    this.current.replaceChildren(progress);
  }

  /** On /imports/, follow the newest import if it is still running. */
  showLatestIfRunning(jobs) {
    if (jobIdFromPath(window.location.pathname) || this.shownJobId) return;
    const running = jobs.find((job) => !isFinished(job));
    if (running) this.showJob(running.id, { auto: true });
  }

  retry(job) {
    const file = filesByJob.get(job.id);
    if (file) {
      this.lastFile = file;
      this.panel.retryWith(file);
    } else {
      // The file is not in this page any more (it was reloaded): ask for it again.
      this.panel.scrollIntoView({ behavior: "smooth", block: "center" });
      this.panel.choose();
    }
  }
}

customElements.define("imports-view", ImportsView);
