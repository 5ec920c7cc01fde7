"""The two PostgreSQL advisory locks of the importer, and the order they are taken in.

- The **job lock** (session level, one per job) is held by whoever runs a job, for the whole run.
  PostgreSQL releases it when that connection ends — including when the worker is SIGKILLed — so
  "processing but nobody holds the lock" reliably means the job's worker is gone (the reaper's
  test), and a redelivered task cannot run a job twice.
- The **catalogue write lock** (transaction level, one for the whole catalogue) is taken by every
  writer of the whole catalogue: each import chunk just before its merge, and delete-all. Two
  imports over overlapping SKUs then take turns chunk by chunk instead of deadlocking, and a bulk
  delete never interleaves with a chunk.

- The **bulk-load lock** (session level, one for the whole catalogue) is held by the one import
  that loads in bulk (``importer.pipeline.bulk``), for its whole run; it is only ever tried, never
  waited for: an import that finds it taken goes in chunks. One bulk load at a time means one
  shadow table drawing ids, so two swaps never hand out the same ids.

Order: a job lock first, then the bulk-load lock (tried), then (per chunk, or at the swap) the
catalogue write lock, then product rows. Nothing takes a job lock while holding the catalogue
write lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, OperationalError, connection

JOB_LOCK_CLASS = 0x494D5054  # "IMPT"
CATALOG_WRITE_LOCK = 0x50_52_4F_44  # "PROD"
BULK_LOAD_LOCK = 0x42_55_4C_4B  # "BULK"


class JobLockLost(OperationalError):
    """The database session that holds a job's lock is gone; the run must stop and be retried.

    An OperationalError, so the Celery task retries it like any lost connection: the retry takes
    the lock again and resumes after the last committed chunk.
    """


@contextmanager
def job_lock(job_id: int) -> Iterator[bool]:
    """Try to take the job's lock for the duration of the block; yield whether we got it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_CLASS, job_id])
            except DatabaseError:
                # The connection is gone, and the lock went with it; make Django reconnect.
                connection.close()


def lock_session():
    """The database session (raw connection) this process runs queries on right now."""
    connection.ensure_connection()
    return connection.connection


def check_lock_session(job_id: int, session) -> None:
    """Raise JobLockLost unless queries still run on ``session``, the one holding the job lock.

    Django silently opens a new connection after one was lost (e.g. killed while publishing an
    event, whose error is swallowed), and the job's session-level lock does not come along: the
    import would go on without its lock, and the reaper would hand it to a second worker.
    """
    if connection.connection is not session:
        raise JobLockLost(f"Import {job_id} lost the database session holding its lock; it will resume.")


def lock_catalog_for_write() -> None:
    """Take the catalogue write lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CATALOG_WRITE_LOCK])


@contextmanager
def bulk_load_lock() -> Iterator[bool]:
    """Try to take the bulk-load lock for the duration of the block; yield whether we got it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [BULK_LOAD_LOCK])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [BULK_LOAD_LOCK])
            except DatabaseError:
                connection.close()
