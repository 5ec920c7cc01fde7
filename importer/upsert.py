"""Set-based writes of a chunk of rows into the catalogue.

Each chunk is COPYed into a temporary staging table and merged into ``catalog_product`` with one
``INSERT … SELECT DISTINCT ON … ON CONFLICT`` statement. De-duplication uses PostgreSQL's own
``lower()``, the very mapping of the unique index, so no file can make one statement meet the
same key twice ("ON CONFLICT DO UPDATE command cannot affect row a second time").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

# Every writer of the whole catalogue (import chunks, delete-all) takes this transaction-level
# advisory lock, so two imports over overlapping SKUs take turns chunk by chunk instead of
# deadlocking, and a bulk delete never interleaves with a chunk.
CATALOG_WRITE_LOCK = 0x50_52_4F_44  # "PROD"

_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _escape(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE(value) else value


def staging_line(line: int, sku: str, name: str, description: str) -> str:
    """One row in COPY text format, as the staging table expects it."""
    return f"{line}\t{_escape(sku)}\t{_escape(name)}\t{_escape(description)}\n"


def staging_data(rows: Iterable[tuple[int, str, str, str]]) -> bytes:
    """COPY text for ``rows`` of (line, sku, name, description)."""
    return "".join(staging_line(*row) for row in rows).encode("utf-8")


# Emptied before each chunk rather than at commit: a caller may merge several chunks in one outer
# transaction (transaction.atomic around the import, as in tests). One round trip for all three.
# A chunk's de-duplicating sort needs ~1.3x its COPY text; with the default 4 MB of work_mem it
# spilled to disk on every chunk.
_PREPARE_STAGING = """
SET LOCAL work_mem = '64MB';
CREATE TEMPORARY TABLE IF NOT EXISTS importer_staging (
    line bigint NOT NULL,
    sku text NOT NULL,
    name text NOT NULL,
    description text NOT NULL
);
TRUNCATE importer_staging
"""

# The last row of the chunk wins for each SKU (ORDER BY … line DESC). Rows identical to what is
# stored are not rewritten: re-importing an unchanged catalogue then costs reads, not writes.
# The de-duplication sorts by bytes (COLLATE "C"): equality, and so which rows form a group, is
# the same as under the database's collation, and byte order sorts a quarter faster than strcoll.
_MERGE = """
WITH latest AS MATERIALIZED (
    SELECT DISTINCT ON (lower(s.sku) COLLATE "C") s.sku, s.name, s.description
    FROM importer_staging s
    ORDER BY lower(s.sku) COLLATE "C", s.line DESC
), merged AS (
    INSERT INTO catalog_product AS p (sku, name, description, is_active, created_at, updated_at)
    SELECT latest.sku, latest.name, latest.description, true, now(), now()
    FROM latest
    ON CONFLICT ((lower(sku))) DO UPDATE
        SET sku = EXCLUDED.sku,
            name = EXCLUDED.name,
            description = EXCLUDED.description,
            updated_at = EXCLUDED.updated_at
        WHERE (p.sku, p.name, p.description)
              IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.name, EXCLUDED.description)
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM latest),
       count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted)
FROM merged
"""


@dataclass(frozen=True)
class MergeCounts:
    """What one chunk did to the catalogue, per row of the chunk."""

    created: int
    updated: int
    unchanged: int


def lock_catalog_for_write() -> None:
    """Take the catalogue write lock until the current transaction ends."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CATALOG_WRITE_LOCK])


def merge_rows(rows: Iterable[tuple[int, str, str, str]]) -> MergeCounts:
    """Upsert ``rows`` of (line, sku, name, description) into the catalogue; see merge_staged."""
    rows = list(rows)
    return merge_staged(staging_data(rows), row_count=len(rows))


def merge_staged(data: bytes | bytearray, *, row_count: int) -> MergeCounts:
    """Upsert ``row_count`` rows, given as COPY text (see ``staging_line``), into the catalogue.

    Must run inside a transaction. Counts are per row: a row that created a product is
    ``created``; one whose values equal the stored ones is ``unchanged``; every other row —
    including a row superseded by a later one for the same SKU — is ``updated``.
    """
    if not row_count:
        return MergeCounts(0, 0, 0)
    with connection.cursor() as cursor:
        cursor.execute(_PREPARE_STAGING)
        # cursor.copy() is psycopg's own and bypasses Django's error translation: wrap it, so a
        # connection lost mid-COPY raises django.db.OperationalError like every other query.
        with connection.wrap_database_errors, cursor.copy(
            "COPY importer_staging (line, sku, name, description) FROM STDIN"
        ) as copy:
            copy.write(data)
        lock_catalog_for_write()
        cursor.execute(_MERGE)
        distinct, created, changed = cursor.fetchone()
    unchanged = distinct - created - changed
    return MergeCounts(created=created, updated=row_count - created - unchanged, unchanged=unchanged)
