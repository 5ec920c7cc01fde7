"""A plain HTTP client's view of a server-sent-events stream, for tests and benchmarks.

Reads a streaming ``requests`` response as it arrives and splits it into events, the way a
script (or ``curl -N``) would consume ``GET /api/imports/{id}/events/``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import requests


@dataclass(frozen=True)
class SSEEvent:
    """One event of the stream: its type (``event:``), ``id:`` and ``data:`` text."""

    event: str
    data: str
    id: str | None = None

    def json(self):
        return json.loads(self.data)

    @property
    def number(self) -> int | None:
        """The event's position in its channel (the part of ``id`` after the last colon)."""
        return int(self.id.rsplit(":", 1)[1]) if self.id else None


def parse_block(block: str) -> SSEEvent | None:
    """One blank-line-separated block of the stream; None for a comment-only block."""
    event, event_id, data = "message", None, []
    for line in block.splitlines():
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            event_id = value
    if event == "message" and not data and event_id is None:
        return None
    return SSEEvent(event=event, data="\n".join(data), id=event_id)


class SSEStream:
    """Events of an open streaming response, in order; ``closed`` once the server has ended it."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.closed = False
        self._chunks = response.iter_content(chunk_size=None)
        self._buffer = ""

    def __iter__(self) -> Iterator[SSEEvent]:
        while True:
            while "\n\n" not in self._buffer:
                try:
                    chunk = next(self._chunks)
                except StopIteration:
                    self.closed = True
                    return
                self._buffer += chunk.decode("utf-8").replace("\r\n", "\n")
            block, self._buffer = self._buffer.split("\n\n", 1)
            event = parse_block(block)
            if event is not None:
                yield event

    def read_until(self, stop: Callable[[SSEEvent], bool], *, timeout: float = 20.0,
                   skip: tuple[str, ...] = ("keep-alive",)) -> list[SSEEvent]:
        """Events up to and including the first one ``stop`` accepts (keep-alives left out)."""
        deadline = time.monotonic() + timeout
        events: list[SSEEvent] = []
        for event in self:
            if event.event not in skip:
                events.append(event)
                if stop(event):
                    return events
            if time.monotonic() > deadline:
                break
        raise AssertionError(f"stream {'ended' if self.closed else 'timed out'} before the expected "
                             f"event; got {[(e.event, e.id) for e in events]}")

    def read_to_end(self, *, timeout: float = 20.0) -> list[SSEEvent]:
        """Every event until the server closes the stream."""
        deadline = time.monotonic() + timeout
        events = []
        for event in self:
            if event.event != "keep-alive":
                events.append(event)
            if time.monotonic() > deadline:
                raise AssertionError(f"stream still open after {timeout}s; got {[e.event for e in events]}")
        return events

    def close(self) -> None:
        self.response.close()


def open_stream(url: str, *, headers: dict[str, str] | None = None, cookies: dict[str, str] | None = None,
                read_timeout: float = 15.0) -> requests.Response:
    """GET ``url`` as a streaming request (the caller checks the status before reading events)."""
    return requests.get(url, headers={"Accept": "text/event-stream", **(headers or {})}, cookies=cookies,
                        stream=True, timeout=(5, read_timeout))
