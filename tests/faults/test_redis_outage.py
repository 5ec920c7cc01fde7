"""Fault 5: Redis (broker and event bus) stops in the middle of an import, then comes back empty.

The test runs a redis-server of its own (the machine's shared Redis is never touched) and points
the worker and daphne at it. While Redis is down the import goes on (the job row, not Redis, is
the source of truth; publishing progress is best effort); when Redis is back, progress events
flow again, a script that kept its event stream open sees the true final state, and the worker
takes new imports again. The import runs exactly once: catalogue = oracle, one attempt.
"""

from __future__ import annotations

import time

import pytest

from importer.states import ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for
from tests.faults.sse_client import SSEClient, assert_stream_told_the_truth
from tests.support.catalogue import assert_catalogue_is, oracle
from tests.support.clients import post_csv, token_headers
from tests.support.jobs import finished, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 60_000
CHUNK = 500


def _rows_per_second(job_id: int, *, chunks: int, processes, timeout: float = 120) -> float:
    """Wait for ``chunks`` more committed chunks; return the rate they came at."""
    start_rows = wait_for_job(job_id, lambda j: True, what="readable").processed_rows
    started = time.monotonic()
    job = wait_for_job(job_id, lambda j: j.processed_rows >= start_rows + chunks * CHUNK or j.is_finished,
                       what=f"{chunks} chunks further", processes=processes, timeout=timeout)
    return (job.processed_rows - start_rows) / (time.monotonic() - started)


def test_import_survives_a_redis_outage_exactly_once_and_events_resume(
    own_redis, daphnes, workers, user, make_csv
):
    path = make_csv(ROWS)
    later = make_csv(300, name="after-outage.csv", seed=11, variant=" v2")
    expected = oracle(path)
    env = {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url}
    server, url = daphnes(**env)
    worker = workers(IMPORT_CHUNK_SIZE=str(CHUNK), **env)
    processes = [worker, server]
    auth = token_headers(user)

    created = post_csv(url, path, headers=auth)
    assert created.status_code == 201, created.text[:1000]
    job_id = created.json()["id"]
    client = SSEClient(f"{url}/api/imports/{job_id}/events/", headers=auth)
    client.start()
    assert client.connected.wait(60), client.error
    wait_for_job(job_id, lambda j: j.status == ImportStatus.PROCESSING and j.processed_rows >= 2 * CHUNK,
                 what="importing", processes=processes, timeout=120)
    rate_before = _rows_per_second(job_id, chunks=4, processes=processes)

    own_redis.stop()
    events_at_stop = len(client.events)
    rate_during = _rows_per_second(job_id, chunks=6, processes=processes)
    during = wait_for_job(job_id, lambda j: True, what="readable")
    assert not during.is_finished, "the import ended during the outage: make the file bigger"
    own_redis.start()
    restarted = time.monotonic()
    events_at_restart = len(client.events)

    deadline = time.monotonic() + 60
    while len(client.events) == events_at_restart and time.monotonic() < deadline:
        time.sleep(0.05)
    events_resumed_after = time.monotonic() - restarted
    job = wait_for_job(job_id, finished, what="finished", processes=processes)
    finished_after = time.monotonic() - restarted
    client.join(timeout=60)
    print(f"\nredis outage: {rate_before:,.0f} rows/s before, {rate_during:,.0f} rows/s during; "
          f"first event {events_resumed_after:.1f}s and end {finished_after:.1f}s after the restart; SSE connections: {client.connections}; "
          f"events before/during/after: {events_at_stop}/{events_at_restart - events_at_stop}/"
          f"{len(client.events) - events_at_restart}")

    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected)
    assert_catalogue_is(expected)
    assert job.attempts == 1, f"the import ran {job.attempts} times"
    # Publishing to a Redis that is down must neither fail nor stall the import (a publish that
    # waited out redis-py's retries would cost ~4 s per chunk).
    assert rate_during > rate_before / 4, f"the outage stalled the import: {rate_before:.0f} -> {rate_during:.0f} rows/s"
    assert_stream_told_the_truth(client, job)
    live_after = [state for state in client.job_states()[events_at_restart:] if 0 < state["processed_rows"] < ROWS]
    assert live_after, "no live progress event arrived after Redis came back"

    # The worker is connected to the broker again: a new import is taken and runs.
    second = post_csv(url, later, headers=auth)
    assert second.status_code == 201, second.text[:1000]
    second_job = wait_for_job(second.json()["id"], finished, what="finished", processes=processes, timeout=120)
    assert second_job.status == ImportStatus.COMPLETED, second_job.message
    assert_catalogue_is(oracle(path, later))
