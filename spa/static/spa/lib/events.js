/**
 * Announcements from the app's modules (the user changed, the route changed, an upload moved
 * on) to whoever shows them, on the platform's own EventTarget instead of hand-kept lists of
 * listeners.
 */

export class Announcer extends EventTarget {
  /** Tell every listener of `type`; each receives `detail`. */
  announce(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Call `listener(detail)` on every `type` announcement; returns the function that stops it. */
  listen(type, listener) {
    const handler = (event) => listener(event.detail);
    this.addEventListener(type, handler);
    return () => this.removeEventListener(type, handler);
  }
}
