/**
 * Live state of one import job, from its server-sent event stream (GET /api/imports/{id}/events/,
 * whose contract is written at the top of api/job_stream.py).
 *
 * Every connection starts with `stream-open` and then the job's current state as a `job` event.
 * When the connection drops, EventSource reconnects by itself with Last-Event-ID and the server
 * sends the `job` events missed since then, in order, or, when it can't, `stream-reset` followed
 * by the current state. Either way the stream alone keeps the job current, in the server's
 * order, so each `job` event simply replaces the last one. `stream-end` says the job is finished;
 * the server then closes the stream, and close() keeps EventSource from reconnecting.
 *
 * A stream is open only while someone shows the job and the page is visible; reopened after
 * the page was hidden, it starts with the current state again.
 */

import { api } from "./api.js";

const FINISHED = new Set(["completed", "failed", "cancelled"]);

export function isFinished(job) {
  return Boolean(job) && FINISHED.has(job.status);
}

/**
 * Call `onUpdate(job)` with the job's state and on every change until the job finishes or the
 * returned `stop()` is called.
 *
 * `onConnection(state)` hears "live" when a stream opens, "reconnecting" when it dropped and
 * EventSource tries again, and "stopped" when the server refused a stream although the job
 * still runs. `onError(error)` hears that the job could not be read at all (no such job, no
 * access); an expired session is already announced by lib/api.js.
 */
export function watchJob(id, { onUpdate, onConnection = () => {}, onError = () => {} }) {
  let source = null;
  let latest = null;
  let ended = false; // the server ended the stream, or stop() was called: no stream any more
  let stopped = false; // stop() was called: nothing more is reported

  function open() {
    if (ended || source || document.hidden) return;
    const stream = new EventSource(`/api/imports/${id}/events/`);
    source = stream;
    stream.addEventListener("stream-open", () => onConnection("live"));
    stream.addEventListener("job", (event) => {
      latest = JSON.parse(event.data);
      onUpdate(latest);
    });
    stream.addEventListener("stream-end", () => {
      end();
      // The stream also ends when the job was deleted meanwhile: a read says what became of it.
      if (!isFinished(latest)) readOnce();
    });
    stream.addEventListener("error", () => {
      if (stream.readyState === EventSource.CONNECTING) {
        onConnection("reconnecting");
        return;
      }
      // Refused with an HTTP error (the session expired, the job is gone): EventSource does not
      // retry, and neither do we. One plain read tells why, through the API's error handling.
      close();
      readOnce();
    });
  }

  function close() {
    if (source) source.close();
    source = null;
  }

  async function readOnce() {
    let job;
    try {
      job = await api.get(`/api/imports/${id}/`);
    } catch (error) {
      if (!stopped) onError(error);
      return;
    }
    if (stopped) return;
    latest = job;
    onUpdate(job);
    if (isFinished(job)) end();
    else if (!ended) onConnection("stopped");
  }

  const onVisibility = () => (document.hidden ? close() : open());

  function end() {
    ended = true;
    close();
    document.removeEventListener("visibilitychange", onVisibility);
  }

  document.addEventListener("visibilitychange", onVisibility);
  open();
  return {
    stop() {
      stopped = true;
      end();
    },
  };
}
