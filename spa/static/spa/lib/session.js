/** Who is logged in: loaded once from the API, changed by login and logout. */

import { api, ensureCsrf, isSessionError } from "./api.js";

let currentUser = null;
const listeners = new Set();

export function user() {
  return currentUser;
}

export function onUserChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setUser(value) {
  currentUser = value;
  listeners.forEach((listener) => listener(currentUser));
}

/** Ask the server who we are; `null` when nobody is logged in. Network errors propagate. */
export async function loadUser() {
  try {
    setUser(await api.get("/api/auth/me/", { quietSession: true }));
  } catch (error) {
    if (isSessionError(error) || (error.status === 403)) {
      setUser(null);
    } else {
      throw error;
    }
  }
  return currentUser;
}

export async function login({ username, password }) {
  await ensureCsrf();
  const result = await api.post("/api/auth/login/", { username, password }, { quietSession: true });
  // The login answer may or may not carry the user: ask once to have one shape.
  if (result && result.username) {
    setUser(result.user || result);
  } else if (result && result.user) {
    setUser(result.user);
  } else {
    await loadUser();
  }
  return currentUser;
}

export async function logout() {
  try {
    await api.post("/api/auth/logout/", {}, { quietSession: true });
  } finally {
    setUser(null);
  }
}

/** Forget the user locally (the server already did: the session expired). */
export function forgetUser() {
  setUser(null);
}
