"""Staging and merging: set-based writes of a chunk of rows into the catalogue.

Each chunk's valid rows are encoded here in COPY text, COPYed into a temporary staging table and
merged into ``catalog_product`` with one ``INSERT … SELECT DISTINCT ON … ON CONFLICT`` statement.
De-duplication uses PostgreSQL's own ``lower()``, the very mapping of the unique index, so no file
can make one statement meet the same key twice ("ON CONFLICT DO UPDATE command cannot affect row a
second time"). Rows identical to what is stored are not rewritten: re-importing an unchanged
catalogue then costs reads, not writes.

Rows whose SKU may repeat later in the file (``importer.pipeline.scan``) are not merged with their
chunk: the same statement moves them into ``DeferredRows``, and once the file has been read
``merge_deferred_batch`` merges them, the last row of each SKU only.

For a job's import the same statement also records its undo data (``_UNDO_DATA``): the
before-image of each product it updates and the ids of those it creates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection

from importer.locks import lock_catalog_for_write

_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]").search
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Rows are gathered as text in small batches and encoded into the buffer, so a chunk costs about
# its size in bytes rather than a Python object per value.
_ENCODE_BATCH = 1024


# is_active in COPY text: NULL when the file has no is_active column.
_ACTIVE_TEXT = {True: "t", False: "f", None: "\\N"}


def _escape(value: str) -> str:
    return value.translate(_COPY_ESCAPES) if _NEEDS_ESCAPE(value) else value


class StagedRows:
    """A chunk's valid rows in the staging table's COPY text format."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.merged = 0  # rows merged with the chunk
        self.deferred = 0  # rows that wait for the end of the file
        self._pending: list[str] = []

    def add(
        self, line: int, sku: str, name: str, description: str, is_active: bool | None, deferred: bool
    ) -> None:
        flags = f"{_ACTIVE_TEXT[is_active]}\t{'t' if deferred else 'f'}"
        self._pending.append(f"{line}\t{_escape(sku)}\t{_escape(name)}\t{_escape(description)}\t{flags}\n")
        if deferred:
            self.deferred += 1
        else:
            self.merged += 1
        if len(self._pending) >= _ENCODE_BATCH:
            self._encode()

    @property
    def size(self) -> int:
        """Bytes encoded so far: short of the total by at most one batch of rows."""
        return len(self.data)

    def seal(self) -> StagedRows:
        self._encode()
        return self

    def _encode(self) -> None:
        if self._pending:
            self.data += "".join(self._pending).encode("utf-8")
            self._pending.clear()

    def __len__(self) -> int:
        return self.merged + self.deferred


@dataclass(frozen=True)
class MergeCounts:
    """What one merge did, per row: see ``importer.pipeline.results`` for what each count means."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0


class DeferredRows:
    """Where rows whose SKU may repeat wait until the whole file has been read.

    A job's rows go to ``importer_deferredrow`` under its id, committed with their chunk, so a
    resumed job finds them; a run without a job (the command line, tests) uses a temporary table
    of the same shape, which is emptied when the run starts.
    """

    def __init__(self, *, job_id: int | None = None) -> None:
        self.job_id = job_id or 0
        self.durable = job_id is not None
        # A constant, never input: it is formatted into the statements below.
        self.table = "importer_deferredrow" if self.durable else "importer_deferred_local"

    def prepare(self, *, fresh: bool) -> None:
        """Make the table ready; ``fresh``: forget rows of an earlier run of the same import."""
        with connection.cursor() as cursor:
            if not self.durable:
                cursor.execute(
                    "CREATE TEMPORARY TABLE IF NOT EXISTS importer_deferred_local "
                    "(LIKE importer_deferredrow INCLUDING DEFAULTS INCLUDING INDEXES)"
                )
        if fresh or not self.durable:
            self.discard()

    def discard(self) -> None:
        """Forget every row still waiting (the import ended before the end of the file)."""
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {self.table} WHERE job_id = %s", [self.job_id])


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
    description text NOT NULL,
    is_active boolean,
    deferred boolean NOT NULL
);
TRUNCATE importer_staging
"""

# The last row of the chunk wins for each SKU (ORDER BY … line DESC); rows held back go to the
# deferred table in the same statement. A file without an is_active column leaves an existing
# product's state alone (the SET and the comparison skip it: ``_ACTIVE_PARTS``); EXCLUDED cannot
# tell a NULL apart once coalesced, hence two forms of the statement rather than one. The
# de-duplication sorts by bytes (COLLATE "C"): equality, and so which rows form a group, is the
# same as under the database's collation, and byte order sorts a quarter faster than strcoll.
# Rows equal to their product are left out before the INSERT (``changed``, one probe of the
# lower(sku) index each): ON CONFLICT would compute each proposed row's generated search vector
# and lock its product only to skip it, which made re-importing an unchanged file cost about
# what rewriting it does. The DO UPDATE's own WHERE stays: it is what decides under the lock.
_MERGE = """
WITH held AS (
    INSERT INTO {deferred} (job_id, line, sku, name, description, is_active)
    SELECT %(job_id)s, s.line, s.sku, s.name, s.description, s.is_active
    FROM importer_staging s WHERE s.deferred
    RETURNING 1
), latest AS MATERIALIZED (
    SELECT DISTINCT ON (lower(s.sku) COLLATE "C") s.sku, s.name, s.description, s.is_active
    FROM importer_staging s
    WHERE NOT s.deferred
    ORDER BY lower(s.sku) COLLATE "C", s.line DESC
), changed AS (
    SELECT l.* FROM latest l
    WHERE NOT EXISTS (
        SELECT FROM catalog_product c
        WHERE lower(c.sku) = lower(l.sku)
          AND (c.sku, c.name, c.description{stored_active_c})
              IS NOT DISTINCT FROM (l.sku, l.name, l.description{new_active_l})
    )
), merged AS (
    INSERT INTO catalog_product AS p (sku, name, description, is_active, created_at, updated_at)
    SELECT latest.sku, latest.name, latest.description, coalesce(latest.is_active, true), now(), now()
    FROM changed latest
    ON CONFLICT ((lower(sku))) DO UPDATE
        SET sku = EXCLUDED.sku,
            name = EXCLUDED.name,
            description = EXCLUDED.description,{set_active}
            updated_at = EXCLUDED.updated_at
        WHERE (p.sku, p.name, p.description{stored_active})
              IS DISTINCT FROM (EXCLUDED.sku, EXCLUDED.name, EXCLUDED.description{new_active})
    RETURNING p.id, (xmax = 0) AS inserted
){undo}
SELECT (SELECT count(*) FROM held),
       (SELECT count(*) FROM latest),
       count(*) FILTER (WHERE inserted),
       count(*) FILTER (WHERE NOT inserted)
FROM merged
"""

# The deferred rows that a later deferred row of the same SKU replaces: they are never merged.
_DROP_SUPERSEDED = """
DELETE FROM {deferred} d
WHERE d.job_id = %(job_id)s AND d.line NOT IN (
    SELECT DISTINCT ON (lower(l.sku) COLLATE "C") l.line
    FROM {deferred} l
    WHERE l.job_id = %(job_id)s
    ORDER BY lower(l.sku) COLLATE "C", l.line DESC
)
"""

# The next batch of the remaining deferred rows (one per SKU by now), moved into staging.
_STAGE_DEFERRED_BATCH = """
WITH batch AS (
    DELETE FROM {deferred} d
    WHERE d.job_id = %(job_id)s AND d.line IN (
        SELECT line FROM {deferred} WHERE job_id = %(job_id)s ORDER BY line LIMIT %(limit)s
    )
    RETURNING d.line, d.sku, d.name, d.description, d.is_active
)
INSERT INTO importer_staging (line, sku, name, description, is_active, deferred)
SELECT line, sku, name, description, is_active, false FROM batch
"""


# Undo data (``importer.undo_data``), written by the same statement as the merge, so it costs no
# extra round trip and no second probe of the lower(sku) index:
# - the before-image of every product the merge updated. Every sub-statement of one WITH sees the
#   same snapshot, taken before any of them ran, so reading ``catalog_product`` by the ids the
#   upsert returns finds the rows as they were before it (PostgreSQL 15 has no RETURNING OLD).
#   Only updated rows are read: an import into an empty catalogue pays nothing here;
# - the ids of the products it created, as one array for the chunk.
# ``now()`` is the transaction's time, the very ``updated_at`` the merge gave the products.
_UNDO_DATA = """,
before AS (
    INSERT INTO importer_productbeforeimage
        (job_id, product_id, sku, name, description, is_active, created_at, updated_at, written_at)
    SELECT %(job_id)s, o.id, o.sku, o.name, o.description, o.is_active, o.created_at, o.updated_at, now()
    FROM merged m
    CROSS JOIN LATERAL (SELECT c.* FROM catalog_product c WHERE c.id = m.id) o
    WHERE NOT m.inserted
    -- A product is written once per import; should a run ever write one twice, the first image,
    -- the state before the import, is the one to keep.
    ON CONFLICT DO NOTHING
), created AS (
    INSERT INTO importer_createdproducts (job_id, ids, written_at)
    SELECT %(job_id)s, array_agg(m.id), now()
    FROM merged m WHERE m.inserted
    HAVING count(*) > 0
)"""

_ACTIVE_PARTS = {
    False: dict.fromkeys(
        ("set_active", "stored_active", "new_active", "stored_active_c", "new_active_l"), ""
    ),
    True: {
        "set_active": "\n            is_active = EXCLUDED.is_active,",
        "stored_active": ", p.is_active",
        "new_active": ", EXCLUDED.is_active",
        "stored_active_c": ", c.is_active",
        "new_active_l": ", coalesce(l.is_active, true)",
    },
}


def merge_chunk(
    rows: StagedRows, *, deferred: DeferredRows, sets_active: bool = False, record_undo: bool = False
) -> MergeCounts:
    """Upsert a chunk's rows into the catalogue and move its repeated-SKU rows aside.

    Must run inside a transaction. The counts cover the rows merged now; the deferred ones are
    counted when ``merge_deferred_batch`` merges them. ``record_undo``: also record the undo data
    of the job ``deferred`` belongs to.
    """
    if not len(rows):
        return MergeCounts()
    with connection.cursor() as cursor:
        stage_rows(cursor, rows)
        return _merge_staged(cursor, deferred=deferred, merged_rows=rows.merged, sets_active=sets_active,
                             record_undo=record_undo)


def stage_rows(cursor, rows: StagedRows) -> None:
    """Empty the staging table and COPY ``rows`` into it (the merge and the preview share it)."""
    cursor.execute(_PREPARE_STAGING)
    # cursor.copy() is psycopg's own and bypasses Django's error translation: wrap it, so a
    # connection lost mid-COPY raises django.db.OperationalError like every other query.
    with (
        connection.wrap_database_errors,
        cursor.copy(
            "COPY importer_staging (line, sku, name, description, is_active, deferred) FROM STDIN"
        ) as copy,
    ):
        copy.write(rows.data)


def stage_deferred_batch(cursor, *, deferred: DeferredRows, limit: int) -> int:
    """Move the next ``limit`` deferred rows into the emptied staging table; return how many."""
    cursor.execute(_PREPARE_STAGING)
    cursor.execute(
        _STAGE_DEFERRED_BATCH.format(deferred=deferred.table),
        {"job_id": deferred.job_id, "limit": limit},
    )
    return cursor.rowcount


def drop_superseded_deferred(*, deferred: DeferredRows) -> int:
    """Delete the deferred rows that a later row of the same SKU replaces; return how many."""
    with connection.cursor() as cursor:
        cursor.execute(_DROP_SUPERSEDED.format(deferred=deferred.table), {"job_id": deferred.job_id})
        return cursor.rowcount


def merge_deferred_batch(
    *, deferred: DeferredRows, limit: int, sets_active: bool = False, record_undo: bool = False
) -> tuple[int, MergeCounts]:
    """Merge up to ``limit`` deferred rows (after ``drop_superseded_deferred``); return how many
    were merged and what they did. Must run inside a transaction."""
    with connection.cursor() as cursor:
        moved = stage_deferred_batch(cursor, deferred=deferred, limit=limit)
        if not moved:
            return 0, MergeCounts()
        return moved, _merge_staged(cursor, deferred=deferred, merged_rows=moved, sets_active=sets_active,
                                    record_undo=record_undo)


def _merge_staged(
    cursor, *, deferred: DeferredRows, merged_rows: int, sets_active: bool, record_undo: bool
) -> MergeCounts:
    lock_catalog_for_write()
    # Undo data belongs to a job: a run without one (a plain pipeline call) has nothing to undo it.
    if record_undo and not deferred.durable:
        raise ValueError("undo data is recorded for a job's import only")
    undo = _UNDO_DATA if record_undo else ""
    sql = _MERGE.format(deferred=deferred.table, undo=undo, **_ACTIVE_PARTS[sets_active])
    cursor.execute(sql, {"job_id": deferred.job_id})
    _held, distinct, created, changed = cursor.fetchone()
    unchanged = distinct - created - changed
    return MergeCounts(
        created=created, updated=changed, unchanged=unchanged, superseded=merged_rows - distinct
    )
