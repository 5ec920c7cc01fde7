"""The test database as another process sees it: its URL, a second connection, its lock waiters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


def test_database_url() -> str:
    """The URL of the database this test runs on (pytest-django's, not the settings' one)."""
    params = connection.settings_dict
    user = params.get("USER") or "postgres"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{params['NAME']}"


@contextmanager
def other_connection() -> Iterator[psycopg.Connection]:
    """A separate autocommit connection to the test database, as another process would have."""
    with psycopg.connect(test_database_url(), autocommit=True) as conn:
        yield conn


def advisory_lock_waiters(conn: psycopg.Connection, key: int) -> int:
    """How many sessions of this database wait for the single-key advisory lock ``key``."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
        "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database() "
        "AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1",
        [key],
    ).fetchone()
    return row[0]
