"""A script that follows a job's events across dropped connections, and what it must have seen."""

from __future__ import annotations

import threading
import time

import requests

from importer.models import ImportJob
from tests.support.jobs import FINISH_TIMEOUT
from tests.support.sse import SSEEvent, SSEStream, open_stream


class SSEClient(threading.Thread):
    """A script following a job's events: reconnects with Last-Event-ID until the stream ends.

    What a browser's EventSource does (minus closing on ``stream-end``, which clients must add):
    on any error or closed connection it waits a moment and connects again, sending the id of
    the last event it received.
    """

    def __init__(self, url: str, *, headers: dict[str, str], give_up_after: float = FINISH_TIMEOUT) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.headers = headers
        self.give_up_after = give_up_after
        self.events: list[SSEEvent] = []
        self.connections = 0
        self.last_event_id: str | None = None
        self.ended = threading.Event()
        self.connected = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        deadline = time.monotonic() + self.give_up_after
        while time.monotonic() < deadline and not self.ended.is_set():
            headers = dict(self.headers)
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            try:
                response = open_stream(self.url, headers=headers, read_timeout=30)
            except requests.RequestException:
                time.sleep(0.2)
                continue
            if response.status_code != 200:
                self.error = f"HTTP {response.status_code}: {response.text[:300]}"
                response.close()
                time.sleep(0.5)
                continue
            self.connections += 1
            self.connected.set()
            try:
                for event in SSEStream(response):
                    if event.event == "keep-alive":
                        continue
                    self.events.append(event)
                    if event.id:
                        self.last_event_id = event.id
                    if event.event == "stream-end":
                        self.ended.set()
                        break
            except requests.RequestException:
                pass
            finally:
                response.close()
            if not self.ended.is_set():
                time.sleep(0.2)

    def job_states(self) -> list[dict]:
        return [event.json() for event in self.events if event.event == "job"]

    def job_event_numbers(self) -> list[int]:
        return [event.number for event in self.events if event.event == "job"]


def assert_stream_told_the_truth(client: SSEClient, job: ImportJob) -> None:
    """The stream ended on the job's true final state, never went backwards, and skipped no event."""
    assert client.ended.is_set(), (
        f"the stream never ended; events: {[(e.event, e.id) for e in client.events]}")
    assert client.events[-1].event == "stream-end"
    assert client.events[-1].json() == {"id": job.pk, "status": job.status}
    states = client.job_states()
    final = states[-1]
    assert (final["status"], final["processed_rows"], final["created"], final["updated"]) == (
        job.status, job.processed_rows, job.created_rows, job.updated_rows)
    progress = [state["processed_rows"] for state in states]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    numbers = client.job_event_numbers()
    # A channel's event ids are consecutive: every id between the first and the last one seen
    # must have arrived exactly once, or the client missed (or repeated) a state.
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), (
        f"events missed or repeated: {numbers}")
