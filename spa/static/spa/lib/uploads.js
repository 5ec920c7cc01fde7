/**
 * The file upload behind an import, kept at module level so it carries on while the person
 * looks at another view, and the upload panel shows it again when they come back.
 *
 * Files go up with the tus resumable-upload protocol (vendored tus-js-client): in parts of the
 * size the server asks for, with automatic retries after a dropped connection and resumption of
 * an earlier, interrupted upload of the same file (tus remembers it in localStorage). Once the
 * file is complete the import is started with `{"upload": <id>}`.
 */

import { api, csrfToken } from "./api.js";
import { Announcer } from "./events.js";

const TUS_ENDPOINT = "/api/uploads/";
// Only for a server whose OPTIONS answer names no part size; this server's default is 8 MiB.
const FALLBACK_PART_BYTES = 5 * 1024 * 1024;
// Retries after a dropped connection: quickly at first, then every 20 s for a few minutes.
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 20000, 20000, 20000, 20000, 20000];

/**
 * The one upload in progress, as a plain state object:
 * {phase: "uploading"|"paused"|"retrying"|"starting"|"failed", file, bytesSent, bytesTotal,
 *  resumed, message, canResume}. `null` when nothing is being uploaded.
 */
let state = null;
let tusUpload = null;
let serverPartBytes = null;
// Counts calls of uploadAndImport, so one that was cancelled (or overtaken) while it asked for
// the part size does not start after all.
let attempts = 0;
const announcer = new Announcer();

export function uploadState() {
  return state;
}

/** Call `listener(state)` whenever the upload moves on; returns the unsubscribe. */
export function onUploadChange(listener) {
  return announcer.listen("change", listener);
}

/** Call `listener(job)` whenever an upload has become an import; returns the unsubscribe. */
export function onImportStarted(listener) {
  return announcer.listen("import-started", listener);
}

function setState(changes) {
  state = changes === null ? null : { ...state, ...changes };
  announcer.announce("change", state);
}

/**
 * The biggest part the server accepts, from the `Tus-Max-Chunk-Size` header of its OPTIONS
 * answer (a bigger PATCH is refused with 413). Asked once per page; without a usable answer
 * the fallback is used and the next upload asks again.
 */
async function partBytes() {
  if (serverPartBytes) return serverPartBytes;
  try {
    const response = await fetch(TUS_ENDPOINT, { method: "OPTIONS", credentials: "same-origin" });
    const size = Number(response.headers.get("Tus-Max-Chunk-Size"));
    if (response.ok && Number.isSafeInteger(size) && size > 0) serverPartBytes = size;
  } catch {
    // No answer at all: the upload's own requests will meet the same trouble and report it.
  }
  return serverPartBytes || FALLBACK_PART_BYTES;
}

/** The tus upload id: the last path segment of its URL. */
function uploadIdFromUrl(url) {
  const segments = new URL(url, window.location.origin).pathname.split("/").filter(Boolean);
  return segments[segments.length - 1];
}

function tusStatus(error) {
  const response = error && error.originalResponse;
  return response ? response.getStatus() : 0;
}

function tusMessage(error) {
  const response = error && error.originalResponse;
  if (response) {
    try {
      const body = JSON.parse(response.getBody() || "{}");
      if (body.detail) return String(body.detail);
    } catch {
      // Not JSON: fall through to a generic sentence.
    }
    return `The server refused the upload (HTTP ${response.getStatus()}).`;
  }
  return "The connection to the server was lost.";
}

async function startImport(uploadId, { preview = false } = {}) {
  setState({ phase: "starting", message: "" });
  try {
    // preview: the worker compares the file with the catalogue and changes nothing, until the
    // person confirms (POST /api/imports/{id}/confirm/).
    const job = await api.post("/api/imports/", { upload: uploadId, preview });
    setState(null);
    announcer.announce("import-started", job);
    return job;
  } catch (error) {
    setState({ phase: "failed", message: error.message, canResume: false });
    throw error;
  }
}

/**
 * Upload `file` and start its import (a preview of it with `{ preview: true }`); resolves with the
 * new job (or null when the upload was cancelled before its first request).
 */
export async function uploadAndImport(file, { preview = false } = {}) {
  if (state && ["uploading", "retrying", "starting"].includes(state.phase)) {
    throw new Error("Another file is still being uploaded.");
  }
  state = null;
  setState({ phase: "uploading", file, bytesSent: 0, bytesTotal: file.size, resumed: false, message: "" });
  const attempt = ++attempts;
  const chunkSize = await partBytes();
  if (attempt !== attempts || !state) return null;

  return new Promise((resolve, reject) => {
    const upload = new window.tus.Upload(file, {
      endpoint: TUS_ENDPOINT,
      chunkSize,
      retryDelays: RETRY_DELAYS_MS,
      metadata: { filename: file.name, filetype: file.type || "text/csv" },
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        // Django may have rotated the token since the upload began (a login in another tab).
        req.setHeader("X-CSRFToken", csrfToken());
      },
      onProgress(bytesSent, bytesTotal) {
        if (state && state.phase !== "paused") {
          setState({ phase: "uploading", bytesSent, bytesTotal, message: "" });
        }
      },
      onShouldRetry(error) {
        const status = tusStatus(error);
        // The tus client's own rule: client errors are final, except conflicts and locks.
        const retry = !(status >= 400 && status < 500 && status !== 409 && status !== 423);
        if (retry) setState({ phase: "retrying", message: tusMessage(error) });
        return retry;
      },
      onError(error) {
        setState({ phase: "failed", message: tusMessage(error), canResume: true });
        reject(error);
      },
      onSuccess() {
        tusUpload = null;
        startImport(uploadIdFromUrl(upload.url), { preview }).then(resolve, reject);
      },
    });
    tusUpload = upload;
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        // The same file was partly sent before (a reload, a crash): carry on where it stopped.
        upload.resumeFromPreviousUpload(previous[0]);
        setState({ resumed: true });
      }
      upload.start();
    });
  });
}

export function pauseUpload() {
  if (!tusUpload || !state) return;
  tusUpload.abort();
  setState({ phase: "paused", message: "" });
}

/** Carry on after a pause or a final failure: tus asks the server how much it already has. */
export function resumeUpload() {
  if (!tusUpload || !state) return;
  setState({ phase: "uploading", message: "" });
  tusUpload.start();
}

/** Give up the upload; the server deletes what it received (tus termination). */
export async function cancelUpload() {
  const upload = tusUpload;
  tusUpload = null;
  setState(null);
  if (upload) {
    try {
      await upload.abort(true);
    } catch {
      // The server will expire the partial upload on its own.
    }
  }
}

export function dismissUpload() {
  tusUpload = null;
  setState(null);
}
