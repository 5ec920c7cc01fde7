"""``GET /api/imports/{id}/events/`` against a real daphne, read by a plain HTTP client.

Events are published from this test process with ``import_job_publish`` — the worker's own
function — so they travel as in production: logged in the test database, sent through Redis, and
relayed by daphne. Jobs are plain rows (no file, no worker): the stream only relays their states.
"""

from __future__ import annotations

import time

import psutil
import pytest
from django.test import Client

from importer.events import import_job_channel, import_job_publish
from importer.models import ImportJob
from importer.serializers import import_job_payload
from importer.states import ImportStatus
from tests.support.clients import token_headers
from tests.support.processes import running_daphne
from tests.support.sse import SSEEvent, SSEStream, open_stream

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sse_server(django_db_setup, tmp_path_factory):
    """One daphne for the module, configured like production (connection pool on).

    A short keep-alive keeps idle streams talking, so a stuck read shows up as missing events,
    not as a client timeout.
    """
    logs = tmp_path_factory.mktemp("daphne-logs")
    with running_daphne(logs, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="4",
                        EVENTS_KEEPALIVE_SECONDS="1") as (server, url):
        yield server, url


@pytest.fixture
def base_url(sse_server, transactional_db) -> str:
    return sse_server[1]


def new_job(owner, **fields) -> ImportJob:
    return ImportJob.objects.create(owner=owner, filename="products.csv", **fields)


def publish(job: ImportJob, **fields) -> None:
    """Change the job as the worker does: save the row, then publish its JSON."""
    for name, value in fields.items():
        setattr(job, name, value)
    job.save()
    import_job_publish(import_job_payload(job))


def events_url(base_url: str, job: ImportJob) -> str:
    return f"{base_url}/api/imports/{job.pk}/events/"


def connect(base_url: str, job: ImportJob, *, headers=None, cookies=None) -> SSEStream:
    response = open_stream(events_url(base_url, job), headers=headers, cookies=cookies)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return SSEStream(response)


def first_job_event(stream: SSEStream) -> SSEEvent:
    events = stream.read_until(lambda event: event.event == "job")
    assert [event.event for event in events] == ["stream-open", "job"]
    return events[-1]


def is_job(event: SSEEvent) -> bool:
    return event.event == "job"


# --- Who may read ---------------------------------------------------------------------------------


def test_token_holder_gets_the_jobs_current_state_first(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING)
    publish(job, total_rows=100, processed_rows=40, progress=40)

    stream = connect(base_url, job, headers=token_headers(user))
    try:
        event = first_job_event(stream)
    finally:
        stream.close()

    state = event.json()
    assert (state["id"], state["status"], state["processed_rows"]) == (job.pk, "processing", 40)
    assert event.id == f"{import_job_channel(job.pk)}:{event.number}"


def test_job_without_any_published_event_still_starts_with_its_state(base_url, user):
    job = new_job(user, message="Waiting for a worker.")

    stream = connect(base_url, job, headers=token_headers(user))
    try:
        state = first_job_event(stream).json()
    finally:
        stream.close()

    assert (state["status"], state["message"]) == ("pending", "Waiting for a worker.")


def test_browser_session_cookie_streams(base_url, user):
    job = new_job(user)
    publish(job, message="queued")
    browser = Client()
    browser.force_login(user)

    stream = connect(base_url, job, cookies={"sessionid": browser.cookies["sessionid"].value})
    try:
        assert first_job_event(stream).json()["message"] == "queued"
    finally:
        stream.close()


def test_anonymous_request_is_refused_before_any_stream(base_url, user):
    job = new_job(user)

    response = open_stream(events_url(base_url, job))

    assert response.status_code in (401, 403)
    assert response.headers["Content-Type"].startswith("application/json")
    assert "credentials" in response.json()["detail"]


def test_invalid_token_is_401(base_url, user):
    job = new_job(user)

    response = open_stream(events_url(base_url, job), headers={"Authorization": "Token not-a-real-token"})

    assert response.status_code == 401


def test_another_users_job_is_404_like_a_missing_one(base_url, user, other_user):
    job = new_job(user)
    publish(job, message="private")

    theirs = open_stream(events_url(base_url, job), headers=token_headers(other_user))
    missing = open_stream(f"{base_url}/api/imports/{job.pk + 1000}/events/",
                          headers=token_headers(other_user))

    assert theirs.status_code == missing.status_code == 404
    assert "private" not in theirs.text
    assert theirs.json() == missing.json()


def test_staff_may_read_any_users_job(base_url, user, staff_user):
    job = new_job(user)
    publish(job, message="visible to staff")

    stream = connect(base_url, job, headers=token_headers(staff_user))
    try:
        assert first_job_event(stream).json()["message"] == "visible to staff"
    finally:
        stream.close()


def test_malformed_last_event_id_is_400(base_url, user):
    job = new_job(user)

    response = open_stream(events_url(base_url, job),
                           headers={**token_headers(user), "Last-Event-ID": "nonsense"})

    assert response.status_code == 400
    assert "nonsense" in response.text


# --- What arrives ---------------------------------------------------------------------------------


def test_published_states_arrive_live_and_in_order(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING, total_rows=500)
    publish(job, processed_rows=0)
    stream = connect(base_url, job, headers=token_headers(user))
    try:
        first = first_job_event(stream)
        for rows in (100, 200, 300, 400):
            publish(job, processed_rows=rows)
        live = stream.read_until(lambda event: is_job(event) and event.json()["processed_rows"] == 400)
    finally:
        stream.close()

    assert [event.json()["processed_rows"] for event in live] == [100, 200, 300, 400]
    assert [event.number for event in live] == [first.number + n for n in (1, 2, 3, 4)]


def test_idle_stream_sends_keep_alives(base_url, user):
    job = new_job(user)
    stream = connect(base_url, job, headers=token_headers(user))
    try:
        first_job_event(stream)
        events = stream.read_until(lambda event: event.event == "keep-alive", skip=(), timeout=10)
    finally:
        stream.close()

    assert events[-1].event == "keep-alive"


def test_reconnect_with_last_event_id_replays_everything_missed(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING, total_rows=600)
    publish(job, processed_rows=100)
    stream = connect(base_url, job, headers=token_headers(user))
    seen = first_job_event(stream)
    stream.close()

    for rows in (200, 300, 400):
        publish(job, processed_rows=rows)
    resumed = connect(base_url, job, headers={**token_headers(user), "Last-Event-ID": seen.id})
    try:
        replayed = resumed.read_until(lambda event: is_job(event) and event.json()["processed_rows"] == 400)
        publish(job, processed_rows=500)
        live = resumed.read_until(is_job)
    finally:
        resumed.close()

    assert replayed[0].event == "stream-open"
    assert [event.json()["processed_rows"] for event in replayed[1:]] == [200, 300, 400]
    assert [event.number for event in replayed[1:] + live] == [seen.number + n for n in (1, 2, 3, 4)]
    assert live[0].json()["processed_rows"] == 500


def test_last_event_id_zero_replays_the_job_from_its_first_event(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING, total_rows=300)
    for rows in (0, 100, 200):
        publish(job, processed_rows=rows)

    response = open_stream(f"{events_url(base_url, job)}?lastEventId=0", headers=token_headers(user))
    assert response.status_code == 200
    stream = SSEStream(response)
    try:
        events = stream.read_until(lambda event: is_job(event) and event.json()["processed_rows"] == 200)
    finally:
        stream.close()

    assert [event.json()["processed_rows"] for event in events if is_job(event)] == [0, 100, 200]


def test_unknown_last_event_id_resets_to_the_current_state(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING)
    publish(job, processed_rows=70)
    channel = import_job_channel(job.pk)

    stream = connect(base_url, job, headers={**token_headers(user), "Last-Event-ID": f"{channel}:999"})
    try:
        events = stream.read_until(is_job)
    finally:
        stream.close()

    assert [event.event for event in events] == ["stream-open", "stream-reset", "job"]
    assert events[-1].json()["processed_rows"] == 70


def test_stream_ends_after_the_final_state_of_a_running_job(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING, total_rows=10)
    publish(job, processed_rows=5)
    stream = connect(base_url, job, headers=token_headers(user))
    try:
        first_job_event(stream)
        publish(job, processed_rows=10, progress=100, status=ImportStatus.COMPLETED)
        rest = stream.read_to_end()
    finally:
        stream.close()

    assert [event.event for event in rest] == ["job", "stream-end"]
    assert rest[0].json()["status"] == "completed"
    assert rest[1].json() == {"id": job.pk, "status": "completed"}
    assert stream.closed


def test_finished_job_sends_its_final_state_and_closes(base_url, user):
    job = new_job(user, status=ImportStatus.PROCESSING)
    publish(job, processed_rows=3)
    # Finished without a published final event (say the worker died just after committing):
    # the job row, not the log, decides.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.FAILED, message="Stopped.")

    stream = connect(base_url, job, headers=token_headers(user))
    try:
        events = stream.read_to_end()
    finally:
        stream.close()

    assert [event.event for event in events] == ["stream-open", "job", "stream-end"]
    assert (events[1].json()["status"], events[1].json()["message"]) == ("failed", "Stopped.")
    assert events[2].json()["status"] == "failed"


# --- Database connections ------------------------------------------------------------------------


def postgres_sockets(pid: int) -> int:
    """TCP connections from process ``pid`` to PostgreSQL's port."""
    return sum(1 for conn in psutil.Process(pid).net_connections(kind="tcp")
               if conn.raddr and conn.raddr.port == 5432)


def test_open_streams_hold_no_database_connection(transactional_db, process_logs, user):
    """Without a pool every connection is a real socket: count daphne's while streams wait."""
    jobs = [new_job(user) for _ in range(6)]
    with running_daphne(process_logs, DATABASE_POOL="false", EVENTS_KEEPALIVE_SECONDS="1") as (server, url):
        streams = [connect(url, job, headers=token_headers(user)) for job in jobs]
        try:
            for stream in streams:
                first_job_event(stream)
            time.sleep(0.5)
            assert postgres_sockets(server.pid) == 0
            publish(jobs[0], processed_rows=1)
            assert streams[0].read_until(is_job)[0].json()["processed_rows"] == 1
            assert postgres_sockets(server.pid) == 0
        finally:
            for stream in streams:
                stream.close()


def test_more_streams_than_pooled_connections_all_stream(transactional_db, process_logs, user):
    """Eight streams through a pool of two: holding connections would starve the third for 30 s."""
    jobs = [new_job(user) for _ in range(8)]
    with running_daphne(process_logs, DATABASE_POOL="true", DATABASE_POOL_MAX_SIZE="2",
                        EVENTS_KEEPALIVE_SECONDS="1") as (_, url):
        streams = []
        try:
            started = time.monotonic()
            for job in jobs:
                streams.append(connect(url, job, headers=token_headers(user)))
                first_job_event(streams[-1])
            for job in jobs:
                publish(job, message="still live")
            for stream in streams:
                assert stream.read_until(is_job)[0].json()["message"] == "still live"
            assert time.monotonic() - started < 20
        finally:
            for stream in streams:
                stream.close()
