"""Preview: what a chunk of rows would do to the catalogue, found without changing a product.

The rows go through the same staging path as an import (COPY into ``importer_staging``, the same
last-row-wins de-duplication with PostgreSQL's ``lower()``, repeated SKUs held back in the same
``DeferredRows``), and then one set-based comparison with ``catalog_product`` (a join on the
``lower(sku)`` index) counts what the import's ``INSERT … ON CONFLICT`` would create, update or
leave unchanged, and returns a sample of the rows that would change. Nothing is written to the
catalogue and no catalogue lock is taken, so a preview is not a rolled-back import: it costs a
read of the products it touches, not their writes.

The comparison is the import's own ``WHERE … IS DISTINCT FROM`` (``staging._ACTIVE_PARTS``), so
a preview counts exactly what an import of the same file into the same catalogue does.
"""

from __future__ import annotations

from django.db import connection

from importer.pipeline.staging import (
    DeferredRows,
    MergeCounts,
    StagedRows,
    stage_deferred_batch,
    stage_rows,
)

# Rows that would change, kept as a sample for the person deciding (the job's ``changes``).
PREVIEW_SAMPLE_CHANGES = 50
# Texts in the sample are cut to this many characters (a description may have 20,000).
SAMPLE_TEXT_CHARS = 300

_COMPARE = """
WITH held AS (
    INSERT INTO {deferred} (job_id, line, sku, name, description, is_active)
    SELECT %(job_id)s, s.line, s.sku, s.name, s.description, s.is_active
    FROM importer_staging s WHERE s.deferred
    RETURNING 1
), latest AS MATERIALIZED (
    SELECT DISTINCT ON (lower(s.sku) COLLATE "C") s.line, s.sku, s.name, s.description, s.is_active
    FROM importer_staging s
    WHERE NOT s.deferred
    ORDER BY lower(s.sku) COLLATE "C", s.line DESC
), compared AS MATERIALIZED (
    SELECT l.line, l.sku, l.name, l.description, l.is_active,
           p.id AS product_id, p.sku AS old_sku, p.name AS old_name,
           p.description AS old_description, p.is_active AS old_is_active,
           p.id IS NOT NULL
           AND (p.sku, p.name, p.description{stored_active})
               IS DISTINCT FROM (l.sku, l.name, l.description{new_active}) AS changed
    FROM latest l
    -- LATERAL: one probe of the lower(sku) index per row, as the import's ON CONFLICT makes. A
    -- plain join let the planner, blind to the temporary table's size, hash the whole catalogue
    -- for every chunk (a 1M-row preview of a modified file took longer than its import).
    LEFT JOIN LATERAL (
        SELECT c.id, c.sku, c.name, c.description, c.is_active
        FROM catalog_product c WHERE lower(c.sku) = lower(l.sku)
    ) p ON true
)
SELECT (SELECT count(*) FROM held),
       count(*),
       count(*) FILTER (WHERE product_id IS NULL),
       count(*) FILTER (WHERE changed),
       (SELECT coalesce(json_agg(json_build_object(
                   'line', c.line,
                   'sku', c.sku,
                   'action', CASE WHEN c.product_id IS NULL THEN 'create' ELSE 'update' END,
                   'current', CASE WHEN c.product_id IS NULL THEN NULL ELSE json_build_object(
                       'sku', c.old_sku, 'name', left(c.old_name, %(chars)s),
                       'description', left(c.old_description, %(chars)s), 'is_active', c.old_is_active)
                   END,
                   'new', json_build_object(
                       'sku', c.sku, 'name', left(c.name, %(chars)s),
                       'description', left(c.description, %(chars)s),
                       'is_active', coalesce(c.is_active, c.old_is_active, true))
               ) ORDER BY c.line), '[]'::json)
        FROM (SELECT * FROM compared WHERE product_id IS NULL OR changed
              ORDER BY line LIMIT %(sample)s) c)
FROM compared
"""

_ACTIVE_PARTS = {
    False: {"stored_active": "", "new_active": ""},
    True: {"stored_active": ", p.is_active", "new_active": ", l.is_active"},
}


def compare_chunk(
    rows: StagedRows, *, deferred: DeferredRows, sets_active: bool = False, sample: int = 0
) -> tuple[MergeCounts, list[dict]]:
    """What merging ``rows`` would do, and up to ``sample`` of the rows that would change.

    Must run inside a transaction (the held-back rows commit with the job's progress).
    """
    if not len(rows):
        return MergeCounts(), []
    with connection.cursor() as cursor:
        stage_rows(cursor, rows)
        return _compare_staged(cursor, deferred=deferred, merged_rows=rows.merged, sets_active=sets_active,
                               sample=sample)


def compare_deferred_batch(
    *, deferred: DeferredRows, limit: int, sets_active: bool = False, sample: int = 0
) -> tuple[int, MergeCounts, list[dict]]:
    """``merge_deferred_batch`` without the merge: the next ``limit`` held-back rows compared."""
    with connection.cursor() as cursor:
        moved = stage_deferred_batch(cursor, deferred=deferred, limit=limit)
        if not moved:
            return 0, MergeCounts(), []
        counts, changes = _compare_staged(
            cursor, deferred=deferred, merged_rows=moved, sets_active=sets_active, sample=sample
        )
        return moved, counts, changes


def _compare_staged(
    cursor, *, deferred: DeferredRows, merged_rows: int, sets_active: bool, sample: int
) -> tuple[MergeCounts, list[dict]]:
    sql = _COMPARE.format(deferred=deferred.table, **_ACTIVE_PARTS[sets_active])
    cursor.execute(sql, {"job_id": deferred.job_id, "sample": max(sample, 0), "chars": SAMPLE_TEXT_CHARS})
    _held, distinct, created, changed, changes = cursor.fetchone()
    counts = MergeCounts(
        created=created, updated=changed, unchanged=distinct - created - changed,
        superseded=merged_rows - distinct,
    )
    return counts, list(changes or [])
