"""Live progress of an import over server-sent events: ``GET /api/imports/{id}/events/``.

The stream sends the job's current state first (or, after a reconnect, every event the client
missed since its ``Last-Event-ID``), then each state the worker publishes, and ends with a
``stream-end`` event once the job is finished::

    event: stream-open
    event: job          id: <channel>:<n>   data: <the job JSON, as GET /api/imports/{id}/>
    event: keep-alive   (every EVENTS_KEEPALIVE_SECONDS while nothing happens)
    event: stream-end   data: {"id": …, "status": "completed"}   then the server closes

Browsers' ``EventSource`` reconnects whenever a stream closes, so clients must ``close()`` it
on ``stream-end``.

Why not django-eventstream's own view: it answers a denied read with HTTP 200 and a
``stream-error`` event, starts a new client at "now" without the current state, never ends, and
keeps the request's database connection for the stream's whole life (about a hundred streams
exhaust PostgreSQL). Here access is decided, and errors answered with a real status, before
streaming starts; the database connection goes back to the pool before the first byte; and one
Redis subscription per process (``EventRelay``) fans events out to the open streams, which read
the database again only to fill a gap. Events are still published and logged by
django-eventstream (``importer.events``), so ids and the replay log are the package's own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import StreamingHttpResponse
from django_eventstream.utils import make_id, sse_encode_event
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from importer.events import (
    EVENT_TYPE,
    InvalidEventId,
    JobEvent,
    JobEventBacklog,
    import_job_channel,
    import_job_events_since,
    parse_last_event_id,
)
from importer.models import FINISHED_STATUSES
from importer.selectors import import_job_list

logger = logging.getLogger(__name__)

# django-eventstream's send_event publishes every event of every channel on this Redis channel.
REDIS_CHANNEL = "events_channel"
# Events queued for one stream before it stops queueing and re-reads the log instead (a client
# that does not keep up must not make the process buffer without bound).
MAX_PENDING = 50
# How long a new stream waits for the relay's Redis subscription before reading the log anyway;
# when Redis answers later, every stream re-reads the log, so nothing is lost either way.
RELAY_READY_TIMEOUT = 5.0

STREAM_OPEN = "event: stream-open\ndata:\n\n"
KEEP_ALIVE = "event: keep-alive\ndata:\n\n"


# --- The relay: one Redis subscription per process, fanned out to its streams --------------------


@dataclass(frozen=True)
class OutgoingEvent:
    """An event ready to send: encoded once, however many streams send it."""

    id: int
    text: str
    finished_status: str | None

    @classmethod
    def of(cls, channel: str, event: JobEvent) -> OutgoingEvent:
        status = event.job_status
        return cls(
            id=event.id,
            text=sse_encode_event(EVENT_TYPE, event.data, event_id=make_id({channel: event.id})),
            finished_status=status if status in FINISHED_STATUSES else None,
        )


class Subscription:
    """One open stream's inbox on the relay."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.pending: list[OutgoingEvent] = []
        self.needs_resync = False
        self.started = False
        self._wakeup = asyncio.Event()

    def deliver(self, event: OutgoingEvent) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.resync()
            return
        self.pending.append(event)
        self._wakeup.set()

    def resync(self) -> None:
        """Ask the stream to re-read the log: it may have missed events."""
        self.needs_resync = True
        self._wakeup.set()

    async def next_batch(self, *, timeout: float) -> tuple[list[OutgoingEvent], bool] | None:
        """The events delivered since the last call and whether to re-read the log; None on timeout."""
        try:
            async with asyncio.timeout(timeout):
                await self._wakeup.wait()
        except TimeoutError:
            return None
        self._wakeup.clear()
        events, resync = self.pending, self.needs_resync
        self.pending, self.needs_resync = [], False
        return events, resync


class EventRelay:
    """Listens to Redis once for the whole process and hands each event to its channel's streams.

    It reconnects after any Redis error; the streams then re-read the log for what they missed.
    Everything here runs on the event loop's thread, so it needs no locks.
    """

    def __init__(self) -> None:
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="import-events-relay")

    def subscribe(self, channel: str) -> Subscription:
        subscription = Subscription(channel)
        self._subscriptions.setdefault(channel, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.channel)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.channel]

    async def wait_ready(self, *, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
            return True
        except TimeoutError:
            return False

    async def _run(self) -> None:
        from redis.asyncio import Redis

        delay = 0.5
        while True:
            client = Redis(**settings.EVENTSTREAM_REDIS)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(REDIS_CHANNEL)
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":
                        delay = 0.5
                        self._ready.set()
                        self._resync_started_streams()
                    elif message["type"] == "message":
                        self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the relay must outlive any Redis trouble
                logger.warning("Live events: lost the Redis subscription; retrying in %.1fs", delay,
                               exc_info=True)
            finally:
                self._ready.clear()
                await _close_quietly(pubsub, client)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _resync_started_streams(self) -> None:
        # Events published while the subscription was down never reach us: every stream that had
        # already read the log reads it again. (Streams still opening read it after this anyway.)
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                if subscription.started:
                    subscription.resync()

    def _dispatch(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
            channel = message["channel"]
        except (ValueError, KeyError, TypeError):
            return
        subscriptions = self._subscriptions.get(channel)
        if not subscriptions or message.get("pub_id") is None:
            return
        event = OutgoingEvent.of(channel, JobEvent(int(message["pub_id"]), message["data"]))
        for subscription in subscriptions:
            subscription.deliver(event)


async def _close_quietly(*closables) -> None:
    for closable in closables:
        try:
            await closable.aclose()
        except Exception:  # noqa: BLE001 - already broken; nothing more to do
            pass


_relays: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EventRelay] = weakref.WeakKeyDictionary()


def event_relay() -> EventRelay:
    """The relay of the running event loop (daphne has one), started on first use."""
    loop = asyncio.get_running_loop()
    relay = _relays.get(loop)
    if relay is None:
        relay = _relays[loop] = EventRelay()
        relay.start()
    return relay


# --- One job's stream ---------------------------------------------------------------------------


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


# --- The view ------------------------------------------------------------------------------------


class _JSONForErrors(BaseContentNegotiation):
    """Always JSON: a successful answer is the stream itself; only errors go through renderers.

    ``EventSource`` sends ``Accept: text/event-stream``, which DRF would otherwise refuse with 406
    before it even checks who is asking.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ImportJobEventsView(APIView):
    """The live progress of one import job, as server-sent events (owner or staff only)."""

    # No HEAD: it would open a stream only to throw its body away.
    http_method_names = ["get", "options"]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONForErrors

    @extend_schema(
        operation_id="imports_events",
        summary="Live progress of an import (server-sent events)",
        description=(
            "A `text/event-stream`: `stream-open`, then `job` events whose data is the job JSON "
            "(the current state first), `keep-alive` while idle, and `stream-end` once the job is "
            "completed, failed or cancelled, after which the server closes the stream. Resume with "
            "the `Last-Event-ID` header (EventSource does this itself) or `lastEventId`; "
            "`lastEventId=0` replays the job's events from the start. Another user's job is 404."
        ),
        parameters=[
            OpenApiParameter("lastEventId", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                             description="Resume after this event id (as sent in `id:`)."),
            OpenApiParameter("Last-Event-ID", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                             description="The same, as browsers send it when they reconnect."),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
    )
    def get(self, request, pk: int):
        job = get_object_or_404(import_job_list(user=request.user).only("pk"), pk=pk)
        channel = import_job_channel(job.pk)
        try:
            after = parse_last_event_id(self._last_event_id(request), channel=channel)
        except InvalidEventId as exc:
            raise ValidationError({"lastEventId": [str(exc)]}) from exc
        # Everything the stream needs from the database is known; hand the connection back
        # before streaming starts (see _read_backlog).
        connection.close()
        response = StreamingHttpResponse(
            job_event_stream(job_id=job.pk, channel=channel, after=after),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        # Tells nginx-like proxies not to buffer the stream.
        response["X-Accel-Buffering"] = "no"
        return response

    @staticmethod
    def _last_event_id(request) -> str:
        header = request.headers.get("Last-Event-ID", "")
        if header:
            return header
        values = [value for value in request.query_params.getlist("lastEventId") if value]
        return values[-1] if values else ""
