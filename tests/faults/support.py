"""What every fault test needs: the oracle, the catalogue as stored, waits, and real services.

The oracle is the catalogue an uninterrupted import of a CSV gives: for each SKU, compared the
way the unique index compares them (PostgreSQL's ``lower()``), the last row of the file wins.
Each fault test compares the final catalogue with it, so "nothing lost, nothing duplicated" is
checked, not assumed.
"""

from __future__ import annotations

import csv
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import requests
from django.db import connection

from catalog.models import Product
from importer.models import ImportJob, ImportStatus
from tests.support.jobs import finished, log_excerpt, wait_for_job  # noqa: F401 - shared with the fault tests
from tests.support.sse import SSEEvent, SSEStream, open_stream

Catalogue = dict[str, tuple[str, str, str]]

# The machine is shared by many agents on 2 cores: waits are generous and always poll.
FINISH_TIMEOUT = 180.0


def oracle(*paths: Path) -> Catalogue:
    """The catalogue that importing ``paths`` one after another must leave (keyed by lower(sku))."""
    rows: list[tuple[str, str, str]] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows.extend((sku.strip(), name.strip(), description) for sku, name, description in reader)
    # The same case mapping as the unique index on lower(sku): PostgreSQL's, not Python's.
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(s) FROM unnest(%s::text[]) WITH ORDINALITY AS t(s, n) ORDER BY n",
                       [[sku for sku, _, _ in rows]])
        keys = [key for (key,) in cursor.fetchall()]
    return dict(zip(keys, rows, strict=True))


def stored_catalogue() -> Catalogue:
    """The catalogue as the database holds it, keyed by PostgreSQL's lower(sku)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(sku), sku, name, description FROM catalog_product")
        return {key: (sku, name, description) for key, sku, name, description in cursor.fetchall()}


def assert_catalogue_is(expected: Catalogue) -> None:
    stored = stored_catalogue()
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    wrong = [key for key in expected.keys() & stored.keys() if stored[key] != expected[key]]
    assert not (missing or extra or wrong), (
        f"catalogue differs from the oracle: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
        f"{len(extra)} extra (e.g. {sorted(extra)[:3]}), {len(wrong)} with other values "
        f"(e.g. {wrong[:1]} stored {[stored[k] for k in wrong[:1]]}, expected {[expected[k] for k in wrong[:1]]})"
    )


def assert_completed_and_accounts_for(job: ImportJob, *, rows: int, expected: Catalogue,
                                      products_before: int = 0) -> None:
    """The job completed, its counts add up to the file, and they match what the catalogue holds."""
    assert job.status == ImportStatus.COMPLETED, job.message
    assert (job.processed_rows, job.total_rows, job.progress) == (rows, rows, 100)
    assert job.created_rows + job.updated_rows + job.unchanged_rows + job.skipped_rows == rows
    assert job.skipped_rows == job.error_count == 0
    assert products_before + job.created_rows == Product.objects.count() == len(expected)


def products_and_created_rows(job_id: int) -> tuple[int, int, int]:
    """(products in the catalogue, the job's created_rows, its processed_rows), in one snapshot.

    One statement sees one snapshot: it shows whether what is committed in the catalogue is
    exactly what the job says it has written.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM catalog_product), created_rows, processed_rows "
            "FROM importer_importjob WHERE id = %s", [job_id])
        return cursor.fetchone()


class RedisServer:
    """A redis-server of the test's own on a free port, to stop and restart at will.

    The machine's shared Redis must never be stopped; this one holds nothing (no RDB, no AOF),
    exactly like a Redis that crashed and came back empty.
    """

    def __init__(self, *, port: int, log_dir: Path) -> None:
        self.port = port
        self.log_dir = log_dir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log = (self.log_dir / f"redis-{self.port}-{time.time_ns()}.log").open("wb")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops Redis; wait until it has gone."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


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
    assert client.ended.is_set(), f"the stream never ended; events: {[(e.event, e.id) for e in client.events]}"
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
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), f"events missed or repeated: {numbers}"


def token_headers(user) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def post_csv(url: str, path: Path, *, headers: dict[str, str], timeout: float = 60) -> requests.Response:
    """Start an import of a small file the simple way: multipart POST /api/imports/."""
    with path.open("rb") as handle:
        return requests.post(f"{url}/api/imports/", files={"file": (path.name, handle, "text/csv")},
                             headers=headers, timeout=timeout)

