"""One Redis subscription per web process, fanned out to the process's open event streams.

django-eventstream's ``send_event`` (``importer.events``) publishes every event of every channel
on one Redis pub/sub channel. Instead of a subscription per stream, the relay listens once and
hands each event to the ``Subscription`` of every stream of its job; a stream that falls behind,
or that may have missed events while Redis was away, is told to re-read the event log
(``Subscription.needs_resync``). Everything here runs on the event loop's thread, so it needs no
locks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass

from django.conf import settings
from django_eventstream.utils import make_id, sse_encode_event

from importer.event_log import JobEvent
from importer.events import EVENT_TYPE
from importer.states import FINISHED_STATUSES

logger = logging.getLogger(__name__)

# django-eventstream's send_event publishes every event of every channel on this Redis channel.
REDIS_CHANNEL = "events_channel"
# Events queued for one stream before it stops queueing and re-reads the log instead (a client
# that does not keep up must not make the process buffer without bound).
MAX_PENDING = 50


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
