"""The live-progress contract of ``GET /api/imports/{id}/events/``, and the stream that keeps it.

What the server promises a client (a browser's ``EventSource``, or a script):

1. ``event: stream-open``, then the job's **current state first**: one ``job`` event whose data is
   the job JSON, exactly as ``GET /api/imports/{id}/`` shows it, and whose ``id:`` is
   ``<channel>:<n>`` (n counts the job's events: 1, 2, 3…, no gaps).
2. With a ``Last-Event-ID`` (``EventSource`` sends it when it reconnects) or ``lastEventId``, the
   stream **replays every event after that id**, in order, instead; ``lastEventId=0`` replays the
   job's whole history.
3. When that replay is impossible (the id is unknown or expired, or the client is more than
   ``REPLAY_LIMIT`` events behind), ``event: stream-reset`` and then the current state as in 1:
   each ``job`` event is a complete snapshot, so the latest says everything.
4. Then each new state as the worker publishes it, in order and without gaps (a gap seen on Redis
   is filled from the event log), and ``event: keep-alive`` every EVENTS_KEEPALIVE_SECONDS while
   nothing happens.
5. Once the job is completed, failed or cancelled: its final state, ``event: stream-end`` with
   ``{"id": …, "status": …}``, and the server closes the stream. A client must close its
   ``EventSource`` then, or the browser reconnects.

Errors (not signed in, someone else's job, a malformed id) are real HTTP statuses answered before
the stream starts (``api.events``), never events. The stream holds no database connection while
it waits: the log is read in a worker thread, whose connection goes back to the pool at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django_eventstream.utils import sse_encode_event

from api.event_relay import OutgoingEvent, event_relay
from importer.event_log import JobEventBacklog, import_job_events_since

# How long a new stream waits for the relay's Redis subscription before reading the log anyway;
# when Redis answers later, every stream re-reads the log, so nothing is lost either way.
RELAY_READY_TIMEOUT = 5.0

STREAM_OPEN = "event: stream-open\ndata:\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"


@sync_to_async(thread_sensitive=False)
def _read_backlog(job_id: int, after: int | None) -> JobEventBacklog:
    try:
        return import_job_events_since(job_id=job_id, after=after)
    finally:
        # Back to the pool at once: a stream spends its life waiting and must not hold a
        # connection meanwhile (a thousand streams would need a thousand).
        connection.close()


def _end_event(job_id: int, status: str) -> str:
    return sse_encode_event("stream-end", {"id": job_id, "status": status}, json_encode=True)


async def job_event_stream(*, job_id: int, channel: str, after: int | None) -> AsyncIterator[str]:
    """The SSE text of one job's stream, from its current state (or ``after``) until it finishes."""
    relay = event_relay()
    # Subscribe before reading the log: an event logged after the read is then certainly relayed
    # (events are logged before they are published), and one seen both ways is sent once, by id.
    subscription = relay.subscribe(channel)
    try:
        await relay.wait_ready(timeout=RELAY_READY_TIMEOUT)
        backlog = await _read_backlog(job_id, after)
        subscription.started = True
        last_id = after if after is not None else -1
        text, last_id, status = _render_backlog(channel, backlog, last_id)
        yield STREAM_OPEN + text
        if status:
            yield _end_event(job_id, status)
            return

        keepalive = float(settings.EVENTS_KEEPALIVE_SECONDS)
        while True:
            batch = await subscription.next_batch(timeout=keepalive)
            if batch is None:
                yield KEEP_ALIVE
                continue
            events, resync = batch
            fresh = _in_order_after(events, last_id)
            if resync or not _is_contiguous(fresh, last_id):
                # A gap (a lost Redis message, a reconnect, a slow client): the log has it all.
                backlog = await _read_backlog(job_id, last_id)
                text, last_id, status = _render_backlog(channel, backlog, last_id)
            else:
                text, last_id, status = _render(fresh, last_id)
            if text:
                yield text
            if status:
                yield _end_event(job_id, status)
                return
    finally:
        relay.unsubscribe(subscription)


def _render_backlog(channel: str, backlog: JobEventBacklog, last_id: int) -> tuple[str, int, str | None]:
    text = ""
    if backlog.reset:
        text += sse_encode_event("stream-reset", {"channels": [channel]}, json_encode=True)
    events = [OutgoingEvent.of(channel, event) for event in backlog.events]
    more, last_id, status = _render(events, last_id, force=True)
    if backlog.finished and not status:
        # The job is gone (deleted) or finished without a logged terminal event.
        status = events[-1].finished_status if events else "deleted"
    return text + more, last_id, status


def _render(events: Iterable[OutgoingEvent], last_id: int, *, force: bool = False
            ) -> tuple[str, int, str | None]:
    """Encode events up to the first final one; return the text, the new last id and that status."""
    parts = []
    for event in events:
        if event.id <= last_id and not force:
            continue
        parts.append(event.text)
        last_id = max(last_id, event.id)
        if event.finished_status:
            return "".join(parts), last_id, event.finished_status
    return "".join(parts), last_id, None


def _in_order_after(events: list[OutgoingEvent], last_id: int) -> list[OutgoingEvent]:
    unique = {event.id: event for event in events if event.id > last_id}
    return [unique[event_id] for event_id in sorted(unique)]


def _is_contiguous(events: list[OutgoingEvent], last_id: int) -> bool:
    # Event ids of a channel are consecutive (the log's counter), so a jump means a lost event.
    # last_id -1: the log was empty when the stream opened; any first event is fine.
    expected = events[0].id if events and last_id < 0 else last_id + 1
    for event in events:
        if event.id != expected:
            return False
        expected += 1
    return True
