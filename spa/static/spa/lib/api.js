/**
 * The API client: JSON over fetch with the session cookie and Django's CSRF header.
 *
 * Every failure becomes an `ApiError` (the server answered with an error; carries the server's
 * `detail`, `code` and per-field `errors`) or a `NetworkError` (no answer at all). A request that
 * meets an expired session announces it with a `session-expired` event on `window`, so the app
 * can send the person back to the login page from one place.
 */

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && typeof body === "object" && body.detail) || `The server answered ${status}.`;
    super(String(detail));
    this.status = status;
    this.body = body;
    this.code = body && typeof body === "object" ? body.code : undefined;
  }

  /** `{field: [messages]}` from the error shape, or from DRF's plain `{field: [...]}` shape. */
  get fieldErrors() {
    const body = this.body;
    if (!body || typeof body !== "object") return {};
    if (body.errors && typeof body.errors === "object") return body.errors;
    const fields = {};
    for (const [key, value] of Object.entries(body)) {
      if (Array.isArray(value) && key !== "detail") fields[key] = value;
    }
    return fields;
  }
}

export class NetworkError extends Error {
  constructor() {
    super("Can't reach the server. Check your connection and try again.");
  }
}

const SESSION_CODES = new Set(["not_authenticated", "authentication_failed"]);
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export function cookie(name) {
  const match = document.cookie.split("; ").find((part) => part.startsWith(`${name}=`));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
}

export function csrfToken() {
  return cookie("csrftoken");
}

/** Make sure the CSRF cookie exists (Django rotates it at login, so it is read per request). */
export async function ensureCsrf({ force = false } = {}) {
  if (csrfToken() && !force) return;
  try {
    await fetch("/api/auth/csrf/", { credentials: "same-origin", headers: { Accept: "application/json" } });
  } catch {
    throw new NetworkError();
  }
}

export function isSessionError(error) {
  if (!(error instanceof ApiError)) return false;
  if (error.status === 401) return true;
  return error.status === 403 && SESSION_CODES.has(error.code);
}

function isCsrfFailure(status, body) {
  const detail = body && typeof body === "object" ? String(body.detail || "") : "";
  return status === 403 && detail.startsWith("CSRF Failed");
}

/** Append query parameters, skipping empty ones. */
export function withQuery(url, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  if (!text) return url;
  return url + (url.includes("?") ? "&" : "?") + text;
}

async function readBody(response) {
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  const text = await response.text();
  return text ? { detail: text.length > 300 ? `The server answered ${response.status}.` : text } : null;
}

/**
 * Send one request; `json`, if given, is its JSON body. `quietSession` stops a 401/403 from
 * announcing an expired session (used by the login page and by the first "who am I" check).
 */
export async function request(method, url, { json, signal, quietSession = false, retried = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  if (!SAFE_METHODS.has(method)) {
    await ensureCsrf();
    headers["X-CSRFToken"] = csrfToken();
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin", signal });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new NetworkError();
  }
  const data = await readBody(response);
  if (response.ok) return data;

  // A stale CSRF token (rotated by a login in another tab) deserves one fresh try.
  if (isCsrfFailure(response.status, data) && !retried) {
    await ensureCsrf({ force: true });
    return request(method, url, { json, signal, quietSession, retried: true });
  }
  const error = new ApiError(response.status, data);
  if (isSessionError(error) && !quietSession) {
    window.dispatchEvent(new CustomEvent("session-expired"));
  }
  throw error;
}

export const api = {
  get: (url, options) => request("GET", url, options),
  post: (url, json, options = {}) => request("POST", url, { ...options, json }),
  put: (url, json, options = {}) => request("PUT", url, { ...options, json }),
  patch: (url, json, options = {}) => request("PATCH", url, { ...options, json }),
  delete: (url, options) => request("DELETE", url, options),
};

/** A human sentence for any error thrown by `request`. */
export function describeError(error) {
  if (error instanceof NetworkError) return error.message;
  if (error instanceof ApiError) {
    if (error.status >= 500) return "Something went wrong on the server. Please try again in a moment.";
    return error.message;
  }
  return (error && error.message) || "Something went wrong.";
}
