"""Helpers for tests of import jobs: create a job from bytes, hold locks from another connection."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import redis
from django.conf import settings
from django.core.files.base import ContentFile

from importer.models import ImportJob
from importer.services import import_job_create
from tests.support.processes import test_database_url


def create_job(data: bytes, *, owner=None, filename: str = "products.csv", encoding: str = "") -> ImportJob:
    """A pending job for ``data``, not queued: the test runs it with ``import_job_run``."""
    return import_job_create(
        owner=owner, file=ContentFile(data), filename=filename, encoding=encoding, enqueue=False
    )


@contextmanager
def other_connection() -> Iterator[psycopg.Connection]:
    """A separate autocommit connection to the test database, as another process would have."""
    with psycopg.connect(test_database_url(), autocommit=True) as conn:
        yield conn


def wait_until(check, *, timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def advisory_lock_waiters(conn: psycopg.Connection, key: int) -> int:
    """How many sessions of this database wait for the single-key advisory lock ``key``."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database() "
        "AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
        [key],
    ).fetchone()
    return row[0]


def queued_import_job_ids() -> list[int]:
    """Job ids of the run_import messages waiting in this test session's Celery queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    ids = []
    for raw in client.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "importer.run_import":
            ids.append(int(message["headers"]["argsrepr"].strip("(),[] ")))
    return ids


def clear_queue() -> None:
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(settings.CELERY_TASK_DEFAULT_QUEUE)
