/**
 * Live state of one import job: its current state from the API, then every change from its
 * server-sent event stream.
 *
 * The stream is opened by whoever shows the job and closed when they stop (and while the page
 * is hidden), so no connection outlives what is on screen. A new stream starts at "now", so the
 * job is re-read over HTTP whenever a stream (re)opens; whichever copy is newer wins. Anything
 * odd on the stream (a `stream-error` event, a broken connection) falls back to re-reading the
 * job and reconnecting with a growing delay; without an events URL the job is polled.
 * Server events used: `job` (the job JSON), `stream-end` (the job finished; the server closes),
 * `stream-error` (django-eventstream's refusal).
 */

import { api, isSessionError } from "./api.js";

export const FINISHED = new Set(["completed", "failed", "cancelled"]);

export function isFinished(job) {
  return Boolean(job) && FINISHED.has(job.status);
}

/** Whether `candidate` describes a later moment of the job than `current`. */
export function isNewer(candidate, current) {
  if (!current) return true;
  if (isFinished(current)) return isFinished(candidate) && candidate.status === current.status;
  if (isFinished(candidate)) return true;
  if (candidate.status === current.status) return (candidate.processed_rows || 0) >= (current.processed_rows || 0);
  return true;
}

const POLL_MS = 1500;
const MAX_RETRY_MS = 15000;

/**
 * Call `onUpdate(job)` with the job's state now and on every change until the job finishes or
 * the returned `stop()` is called. `onError(error)` hears about failed re-reads.
 */
export function watchJob(jobOrId, { onUpdate, onError = () => {} }) {
  let latest = typeof jobOrId === "object" ? jobOrId : null;
  const id = latest ? latest.id : jobOrId;
  let source = null;
  let timer = null;
  let retryMs = 1000;
  let stopped = false;

  const apply = (job) => {
    if (stopped || !job || !isNewer(job, latest)) return;
    latest = job;
    onUpdate(job);
    if (isFinished(job)) close();
  };

  const refresh = async () => {
    try {
      apply(await api.get(`/api/imports/${id}/`));
    } catch (error) {
      if (isSessionError(error)) {
        stop();
      }
      onError(error);
    }
  };

  function closeSource() {
    if (source) {
      source.close();
      source = null;
    }
  }

  function close() {
    closeSource();
    clearTimeout(timer);
    timer = null;
  }

  function scheduleReconnect() {
    closeSource();
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      if (!stopped && !isFinished(latest) && !document.hidden) open();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
  }

  function poll() {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      await refresh();
      if (!stopped && !isFinished(latest) && !document.hidden) poll();
    }, POLL_MS);
  }

  function open() {
    if (stopped || source || isFinished(latest)) return;
    const url = latest && latest.events_url;
    if (!url || typeof EventSource === "undefined") {
      poll();
      return;
    }
    source = new EventSource(url, { withCredentials: true });
    source.addEventListener("open", () => {
      // Events sent before this connection existed are not replayed: catch up over HTTP.
      refresh();
    });
    const onJobEvent = (event) => {
      retryMs = 1000;
      try {
        apply(JSON.parse(event.data));
      } catch {
        // A malformed event is ignored; the next one, or a re-read, brings the state.
      }
    };
    source.addEventListener("job", onJobEvent);
    // The server ends a finished job's stream; without close() EventSource would reconnect.
    source.addEventListener("stream-end", () => {
      closeSource();
      refresh();
    });
    source.addEventListener("stream-error", scheduleReconnect);
    source.addEventListener("error", () => {
      // The browser retries a dropped stream by itself (CONNECTING); a refused one is CLOSED.
      if (!source || source.readyState === EventSource.CLOSED) {
        scheduleReconnect();
      } else {
        refresh();
      }
    });
  }

  const onVisibility = () => {
    if (document.hidden) {
      close();
    } else if (!stopped && !isFinished(latest)) {
      refresh().then(open);
    }
  };

  function stop() {
    stopped = true;
    close();
    document.removeEventListener("visibilitychange", onVisibility);
  }

  document.addEventListener("visibilitychange", onVisibility);
  if (latest) onUpdate(latest);
  (async () => {
    if (!latest) await refresh();
    if (!stopped && !isFinished(latest)) open();
  })();

  return { stop, refresh, get job() { return latest; } };
}
