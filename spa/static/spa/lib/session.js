/** Who is logged in: loaded once from the API, changed by login and logout. */

import { api, ensureCsrf, isSessionError } from "./api.js";
import { Announcer } from "./events.js";

let currentUser = null;
const changes = new Announcer();

export function user() {
  return currentUser;
}

/** Call `listener(user)` whenever someone logs in or out; returns the unsubscribe. */
export function onUserChange(listener) {
  return changes.listen("change", listener);
}

function setUser(value) {
  currentUser = value;
  changes.announce("change", currentUser);
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
  // The login answers with the user, in the same shape as /api/auth/me/.
  setUser(await api.post("/api/auth/login/", { username, password }, { quietSession: true }));
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
