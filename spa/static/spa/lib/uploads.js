/**
 * The file upload behind an import, kept at module level so it carries on while the person
 * looks at another view, and the upload panel shows it again when they come back.
 *
 * Files go up with the tus resumable-upload protocol (vendored tus-js-client): in parts, with
 * automatic retries after a dropped connection and resumption of an earlier, interrupted upload
 * of the same file (tus remembers it in localStorage). Once the file is complete the import is
 * started with `{"upload": <id>}`. Only when the server has no tus endpoint at all does a
 * small file go as one multipart request instead.
 */

import { api, csrfToken, ApiError } from "./api.js";

const TUS_ENDPOINT = "/api/uploads/";
const CHUNK_BYTES = 5 * 1024 * 1024;
// Retries after a dropped connection: quickly at first, then every 20 s for a few minutes.
const RETRY_DELAYS_MS = [0, 1000, 3000, 5000, 10000, 20000, 20000, 20000, 20000, 20000, 20000];

/**
 * The one upload in progress, as a plain state object:
 * {phase: "uploading"|"paused"|"retrying"|"starting"|"failed", file, bytesSent, bytesTotal,
 *  resumed, message, canResume}. `null` when nothing is being uploaded.
 */
let state = null;
let tusUpload = null;
const listeners = new Set();

export function uploadState() {
  return state;
}

export function onUploadChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setState(changes) {
  state = changes === null ? null : { ...state, ...changes };
  listeners.forEach((listener) => listener(state));
}

/** The tus upload id: the last path segment of its URL. */
export function uploadIdFromUrl(url) {
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

const listenersForDone = new Set();

/** `listener(job)` is called whenever an upload has become an import. */
export function onImportStarted(listener) {
  listenersForDone.add(listener);
  return () => listenersForDone.delete(listener);
}

async function startImport(body) {
  setState({ phase: "starting", message: "" });
  try {
    const job = await body();
    setState(null);
    listenersForDone.forEach((listener) => listener(job));
    return job;
  } catch (error) {
    setState({ phase: "failed", message: error.message, canResume: false });
    throw error;
  }
}

/** Multipart fallback for servers without tus; reports progress through XHR. */
function uploadMultipart(file) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    form.append("file", file, file.name);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/imports/");
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) setState({ bytesSent: event.loaded, bytesTotal: event.total });
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new Error("The connection to the server was lost.")));
    xhr.send(form);
  });
}

/** Upload `file` and start its import; resolves with the new job. */
export function uploadAndImport(file) {
  if (state && ["uploading", "retrying", "starting"].includes(state.phase)) {
    return Promise.reject(new Error("Another file is still being uploaded."));
  }
  state = null;
  setState({ phase: "uploading", file, bytesSent: 0, bytesTotal: file.size, resumed: false, message: "" });

  return new Promise((resolve, reject) => {
    const upload = new window.tus.Upload(file, {
      endpoint: TUS_ENDPOINT,
      chunkSize: CHUNK_BYTES,
      retryDelays: RETRY_DELAYS_MS,
      metadata: { filename: file.name, filetype: file.type || "text/csv" },
      removeFingerprintOnSuccess: true,
      onBeforeRequest(req) {
        // Django may have rotated the token since the upload began (a login in another tab).
        req.setHeader("X-CSRFToken", csrfToken());
        const xhr = req.getUnderlyingObject();
        if (xhr && "withCredentials" in xhr) xhr.withCredentials = true;
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
        const status = tusStatus(error);
        if ((status === 404 || status === 405) && !upload.url) {
          // No tus endpoint on this server: send a small file in one request.
          tusUpload = null;
          startImport(() => uploadMultipart(file)).then(resolve, reject);
          return;
        }
        setState({ phase: "failed", message: tusMessage(error), canResume: true });
        reject(error);
      },
      onSuccess() {
        tusUpload = null;
        const id = uploadIdFromUrl(upload.url);
        startImport(() => api.post("/api/imports/", { upload: id })).then(resolve, reject);
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
