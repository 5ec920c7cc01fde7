"""Fault 4: the worker's PostgreSQL connection is killed (pg_terminate_backend) mid-import.

What a PostgreSQL restart or failover does to one worker, without restarting the machine's
shared PostgreSQL: the backend running the import dies between or inside a chunk. The chunk in
flight rolls back with its progress (they share a transaction), the advisory job lock goes with
the connection, and the task retries on OperationalError, resuming after the last committed
chunk. At every moment the catalogue holds exactly the products the job says it created.
"""

from __future__ import annotations

import time

import pytest
from django.core.files import File
from django.db import connection

from importer.locks import JOB_LOCK_CLASS
from importer.services import import_job_create
from importer.states import ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for, products_and_created_rows
from tests.support.catalogue import assert_catalogue_is, oracle
from tests.support.jobs import finished, wait_for_job
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 24_000


def _terminate_lock_holder(job_id: int) -> int | None:
    """pg_terminate_backend the backend that holds the job's advisory lock; return its pid."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT l.pid, pg_terminate_backend(l.pid) FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = %s AND l.objid = %s
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            [JOB_LOCK_CLASS, job_id],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_killed_database_connection_rolls_back_the_chunk_and_the_import_resumes_exactly(
    workers, user, make_csv
):
    path = make_csv(ROWS)
    expected = oracle(path)
    # The chunked path: the kill lands between committed chunks (the bulk path has its own
    # fault tests, tests/faults/test_bulk_load_crash.py).
    worker = workers(IMPORT_BULK_PATH="never")
    with path.open("rb") as handle:
        job = import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name)

    # Kill the connection twice, at different points, each time once some chunks are committed.
    killed, resumed_in = [], []
    for fraction in (4, 2):
        midway = wait_for_job(
            job.pk, lambda j, f=fraction: j.status == ImportStatus.PROCESSING and j.total_rows
            and j.processed_rows >= j.total_rows // (f + 1) and j.processed_rows < j.total_rows * 3 // 4,
            what=f"past 1/{fraction + 1}", processes=[worker], timeout=120)
        # Between a lost connection and its retry nobody holds the lock: wait for the runner.
        backend = wait_until(lambda: _terminate_lock_holder(job.pk), timeout=60,
                             what=f"anybody to take the job lock again (killed so far: {killed})")
        killed_at = time.monotonic()
        killed.append((backend, midway.processed_rows))
        # Right after the kill, before any resume: what is committed is exactly what the job says.
        products, created, _ = products_and_created_rows(job.pk)
        assert products == created, f"{products} products committed, but the job accounts for {created}"
        # Let the resumed run commit something before the next kill.
        wait_for_job(job.pk, lambda j, before=midway.processed_rows: j.processed_rows > before
                     or j.is_finished, what="resumed", processes=[worker], timeout=120)
        resumed_in.append(time.monotonic() - killed_at)

    samples = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        samples.append(products_and_created_rows(job.pk))
        job.refresh_from_db()
        if job.is_finished:
            break
        time.sleep(0.05)
    assert all(products == created for products, created, _ in samples), (
        f"the catalogue and the job disagreed while resuming: {[s for s in samples if s[0] != s[1]][:5]}")

    job = wait_for_job(job.pk, finished, what="finished", processes=[worker])
    print(f"\nconnection killed at rows {[rows for _, rows in killed]}; next chunk committed "
          f"{', '.join(f'{s:.1f}s' for s in resumed_in)} after each kill; attempts {job.attempts}")
    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected)
    assert_catalogue_is(expected)
    assert job.attempts >= 2, f"the import never resumed after {killed}: attempts={job.attempts}"
    log = worker.log()
    assert "lost its database connection; retrying" in log or "lost its worker; queued to resume" in log
