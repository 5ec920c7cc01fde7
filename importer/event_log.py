"""Reading an import job's event log: what a stream sends before it waits for live events.

Used by the web process (``api.job_stream``) when a stream opens, when a client reconnects with a
``Last-Event-ID``, and whenever a stream may have missed an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote

from django.core.serializers.json import DjangoJSONEncoder

from importer.events import import_job_channel
from importer.models import ImportJob
from importer.serializers import import_job_payload

# A client further behind than this gets the job's current state instead of every missed event:
# each event is a complete snapshot of the job, so the latest one says everything.
REPLAY_LIMIT = 500
_REPLAY_PAGE = 100
# An id this server hands out is "<channel>:<n>", a few dozen characters; a browser sends back
# exactly what it was given. Anything longer is refused before it is parsed.
MAX_EVENT_ID_LENGTH = 1024
MAX_EVENT_NUMBER_DIGITS = 18


class InvalidEventId(ValueError):
    """A Last-Event-ID that is not one this server hands out."""


def parse_last_event_id(value: str, *, channel: str) -> int | None:
    """The id to resume ``channel`` after, from a ``Last-Event-ID`` header (or ``lastEventId``).

    Accepts what the stream sends (``<channel>:<id>``, possibly among other channels, as
    django-eventstream writes it) and a bare number. Another channel's id alone means "no id".
    """
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_EVENT_ID_LENGTH:
        raise InvalidEventId(
            f"An event id of this stream is at most {MAX_EVENT_ID_LENGTH} characters long; "
            f"this one has {len(value):,}."
        )
    if _is_event_number(value):
        return int(value)
    for part in value.split(","):
        name, sep, number = part.rpartition(":")
        if not sep or not _is_event_number(number):
            raise InvalidEventId(f"{value[:80]!r} is not an event id of this stream.")
        if unquote(name) == channel:
            return int(number)
    return None


def _is_event_number(text: str) -> bool:
    # ASCII digits only (str.isdigit() accepts "²", which int() refuses), and no more of them
    # than the log's 64-bit counter has.
    return text.isascii() and text.isdigit() and len(text) <= MAX_EVENT_NUMBER_DIGITS


@dataclass(frozen=True)
class JobEvent:
    """One event of a job's channel: its id and the job's JSON at that moment."""

    id: int
    data: str

    @property
    def job_status(self) -> str | None:
        try:
            return json.loads(self.data).get("status")
        except (ValueError, AttributeError):
            return None


@dataclass(frozen=True)
class JobEventBacklog:
    """What a stream sends before it waits for live events.

    ``finished``: the job is over and the last event is its final state; nothing will follow.
    ``reset``: the requested id was unknown (expired, or too far behind), so the client gets the
    current state instead of a replay.
    """

    events: list[JobEvent]
    finished: bool = False
    reset: bool = False

    @property
    def last_id(self) -> int | None:
        return self.events[-1].id if self.events else None


def import_job_events_since(*, job_id: int, after: int | None) -> JobEventBacklog:
    """The events of a job's channel after id ``after``, or its current state if ``after`` is None.

    - A finished job answers with its final state (from the job row, which is authoritative even
      if its last event was never published), preceded by the events after ``after`` if given.
    - Otherwise the current state is the latest logged event, not the job row: the row may already
      hold a chunk whose event is still on its way, and sending it under an older id would make
      that event arrive afterwards and progress appear to go backwards.
    """
    channel = import_job_channel(job_id)
    storage = _storage()
    # The log's position is read before the job: events are logged after their chunk commits, so
    # a row read afterwards is at least as new as every event up to this id.
    current_id = storage.get_current_id(channel)
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return JobEventBacklog(events=[], finished=True)
    if job.is_finished:
        final = JobEvent(current_id, _json(import_job_payload(job)))
        if after is not None and after < current_id:
            # A client reconnecting after the job ended still gets every state it missed, in
            # order; the row stands in for the last logged event (its final state).
            replayed = _replay(storage, channel, after=after)
            if replayed:
                return JobEventBacklog(
                    events=[event for event in replayed if event.id < current_id] + [final], finished=True
                )
        return JobEventBacklog(events=[final], finished=True)

    if after is not None and after <= current_id:
        replayed = _replay(storage, channel, after=after)
        if replayed is not None:
            return JobEventBacklog(events=replayed)
    latest = _replay(storage, channel, after=current_id - 1) if current_id else None
    if not latest:
        latest = [JobEvent(current_id, _json(import_job_payload(job)))]
    return JobEventBacklog(events=latest[-1:], reset=after is not None)


def _replay(storage, channel: str, *, after: int) -> list[JobEvent] | None:
    """Every logged event after ``after``; None if that id is unknown or too far behind."""
    from django_eventstream.storage import EventDoesNotExist

    events: list[JobEvent] = []
    while True:
        try:
            page = storage.get_events(channel, after, limit=_REPLAY_PAGE)
        except EventDoesNotExist:
            return None
        events.extend(JobEvent(int(event.id), event.data) for event in page)
        if len(page) < _REPLAY_PAGE:
            return events
        if len(events) > REPLAY_LIMIT:
            return None
        after = events[-1].id


def _storage():
    from django_eventstream.utils import get_storage

    storage = get_storage()
    if storage is None:
        raise RuntimeError("EVENTSTREAM_STORAGE_CLASS must be set: live progress replays from it.")
    return storage


def _json(payload: dict) -> str:
    # The same encoding send_event uses, so a replayed state looks exactly like a live one.
    return json.dumps(payload, cls=DjangoJSONEncoder)
