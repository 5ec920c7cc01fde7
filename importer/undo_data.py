"""Undo data: what an import recorded so it can be taken back, and the set-based SQL that takes it back.

An import's merge (``importer.pipeline.staging``) records, in each chunk's own transaction:

- ``importer_productbeforeimage``: every product it updated, as it was just before (its values,
  ``is_active``, ``created_at`` and ``updated_at``), with ``written_at``, the time the import wrote
  it — which is the ``updated_at`` the import left on the product;
- ``importer_createdproducts``: the ids of the products each chunk created, one array per chunk,
  with the same ``written_at``.

An undo goes through them in batches (``undo_restore_batch`` by product id, then
``undo_delete_batch`` by array slice), each one statement run in the caller's transaction. A
product whose ``updated_at`` is still ``written_at`` is untouched since the import: it is restored
(or, if the import created it, deleted). Any other product was changed since, by hand or by a
later import: a *conflict*, left as it is unless ``force``. Each batch is idempotent — a product
already put back, or already deleted, is simply passed over — so a resumed or repeated undo after a
cancel never counts its own earlier work as a conflict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.db import connection

# Conflicts kept as a sample on the undo job (current values vs. what the undo would restore).
UNDO_SAMPLE_CONFLICTS = 20
# Texts in the sample are cut to this many characters (a description may have 20,000).
SAMPLE_TEXT_CHARS = 300

# The batches join a few thousand ids with a catalogue of millions: only index probes make sense,
# but the planner cannot see how few rows a CTE holds and may hash the whole catalogue. Set for
# the batch's transaction only.
_PROBES_ONLY = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off"

_PRODUCT_JSON = """json_build_object('sku', {p}sku, 'name', left({p}name, %(chars)s),
    'description', left({p}description, %(chars)s), 'is_active', {p}is_active,
    'updated_at', {p}updated_at)"""

# One batch of before-images, in product id order after ``after``. A product untouched since the
# import (``updated_at = written_at``, nearly all of them) is restored with a single probe by id;
# only the others are looked at: already put back by an earlier run of this undo (``done``), or a
# conflict (changed since, or deleted since: ``present`` false), which ``force`` restores too.
# Every part of the statement reads the catalogue as it was before it, so ``judged`` sees the
# products ``restored`` did not touch as they are.
_RESTORE_BATCH = f"""
WITH batch AS MATERIALIZED (
    SELECT b.product_id, b.sku, b.name, b.description, b.is_active, b.created_at, b.updated_at,
           b.written_at
    FROM importer_productbeforeimage b
    WHERE b.job_id = %(import_id)s AND b.product_id > %(after)s
    ORDER BY b.product_id
    LIMIT %(limit)s
), restored AS (
    UPDATE catalog_product p
    SET sku = b.sku, name = b.name, description = b.description, is_active = b.is_active,
        updated_at = b.updated_at
    FROM batch b
    WHERE p.id = b.product_id AND p.updated_at = b.written_at
    RETURNING p.id
), judged AS MATERIALIZED (
    SELECT b.*, p.id IS NOT NULL AS present,
           p.sku AS cur_sku, p.name AS cur_name, p.description AS cur_description,
           p.is_active AS cur_is_active, p.updated_at AS cur_updated_at,
           p.id IS NOT NULL AND (p.sku, p.name, p.description, p.is_active, p.updated_at)
               = (b.sku, b.name, b.description, b.is_active, b.updated_at) AS done
    FROM batch b
    LEFT JOIN LATERAL (SELECT c.* FROM catalog_product c WHERE c.id = b.product_id) p ON true
    WHERE b.product_id NOT IN (SELECT id FROM restored)
), conflicts AS MATERIALIZED (
    SELECT * FROM judged WHERE NOT done
), forced AS (
    UPDATE catalog_product p
    SET sku = j.sku, name = j.name, description = j.description, is_active = j.is_active,
        updated_at = j.updated_at
    FROM conflicts j
    WHERE %(force)s AND j.present AND p.id = j.product_id
      -- A forced restore must not take a SKU another product holds now.
      AND NOT EXISTS (SELECT 1 FROM catalog_product o
                      WHERE lower(o.sku) = lower(j.sku) AND o.id <> j.product_id)
    RETURNING p.id
), recreated AS (
    -- Forced, a product deleted since the import comes back as it was, with its id, unless its
    -- SKU has been taken since.
    INSERT INTO catalog_product (id, sku, name, description, is_active, created_at, updated_at)
    SELECT j.product_id, j.sku, j.name, j.description, j.is_active, j.created_at, j.updated_at
    FROM conflicts j WHERE %(force)s AND NOT j.present
    ON CONFLICT DO NOTHING
    RETURNING id
), overridden AS MATERIALIZED (
    SELECT id FROM forced UNION ALL SELECT id FROM recreated
), left_alone AS MATERIALIZED (
    SELECT c.* FROM conflicts c WHERE c.product_id NOT IN (SELECT id FROM overridden)
)
SELECT (SELECT count(*) FROM batch),
       (SELECT max(product_id) FROM batch),
       (SELECT count(*) FROM restored) + (SELECT count(*) FROM overridden),
       (SELECT count(*) FROM overridden),
       (SELECT count(*) FROM left_alone),
       (SELECT coalesce(json_agg(json_build_object(
                   'product_id', s.product_id, 'sku', s.sku, 'action', 'restore',
                   'current', CASE WHEN s.present THEN {_PRODUCT_JSON.format(p="s.cur_")} END,
                   'would_restore', {_PRODUCT_JSON.format(p="s.")}
               ) ORDER BY s.product_id), '[]'::json)
        FROM (SELECT * FROM left_alone ORDER BY product_id LIMIT %(sample)s) s)
"""

# One slice of one chunk's created ids. A product still as the import left it is deleted (with
# ``force``, however it was changed); of the rest, one that still exists was changed since (a
# conflict), one already gone (deleted by hand, or by an earlier run of this undo) is passed over.
_DELETE_BATCH = f"""
WITH ids AS MATERIALIZED (
    SELECT t.id, c.written_at
    FROM importer_createdproducts c, unnest(c.ids[%(first)s:%(last)s]) AS t(id)
    WHERE c.id = %(row)s
), gone AS (
    DELETE FROM catalog_product p USING ids i
    WHERE p.id = i.id AND (p.updated_at = i.written_at OR %(force)s)
    RETURNING p.id, p.updated_at = i.written_at AS untouched
), changed AS MATERIALIZED (
    SELECT p.id, p.sku, p.name, p.description, p.is_active, p.updated_at
    FROM ids i
    JOIN LATERAL (SELECT c.* FROM catalog_product c WHERE c.id = i.id) p ON true
    WHERE NOT %(force)s AND i.id NOT IN (SELECT id FROM gone)
)
SELECT (SELECT count(*) FROM ids),
       (SELECT count(*) FROM gone),
       (SELECT count(*) FROM gone WHERE NOT untouched),
       (SELECT count(*) FROM changed),
       (SELECT coalesce(json_agg(json_build_object(
                   'product_id', s.id, 'sku', s.sku, 'action', 'delete',
                   'current', {_PRODUCT_JSON.format(p="s.")}, 'would_restore', NULL
               ) ORDER BY s.id), '[]'::json)
        FROM (SELECT * FROM changed ORDER BY id LIMIT %(sample)s) s)
"""


@dataclass(frozen=True)
class UndoBatch:
    """What one batch of an undo did, and where the next one starts (``cursor``)."""

    handled: int = 0  # products gone through
    deleted: int = 0
    restored: int = 0
    forced: int = 0  # changed since the import, undone anyway (force)
    conflicts: int = 0  # changed since the import, left as they are
    sample: list[dict] = field(default_factory=list)
    cursor: dict = field(default_factory=dict)


RESTORE, DELETE = "restore", "delete"


def undo_start_cursor() -> dict:
    """Where an undo starts: before-images first, then the created products."""
    return {"stage": RESTORE, "after": 0}


def undo_items(*, import_id: int) -> int:
    """How many products an undo of ``import_id`` goes through (its progress total)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM importer_productbeforeimage WHERE job_id = %(id)s)"
            " + (SELECT coalesce(sum(cardinality(ids)), 0) FROM importer_createdproducts"
            "    WHERE job_id = %(id)s)",
            {"id": import_id},
        )
        return int(cursor.fetchone()[0])


def undo_next_batch(
    *, import_id: int, cursor: dict, limit: int, force: bool, sample: int
) -> UndoBatch | None:
    """Run the next batch of an undo from ``cursor`` (in the caller's transaction, which holds
    the catalogue write lock); None once there is nothing left."""
    with connection.cursor() as db:
        db.execute(_PROBES_ONLY)
        if cursor.get("stage", RESTORE) == RESTORE:
            batch = _restore_batch(db, import_id=import_id, after=cursor.get("after", 0), limit=limit,
                                   force=force, sample=sample)
            if batch is not None:
                return batch
            cursor = {"stage": DELETE, "row": 0, "index": 0}
        return _delete_batch(db, import_id=import_id, row=cursor.get("row", 0), index=cursor.get("index", 0),
                             limit=limit, force=force, sample=sample)


def _restore_batch(
    db, *, import_id: int, after: int, limit: int, force: bool, sample: int
) -> UndoBatch | None:
    db.execute(_RESTORE_BATCH, {"import_id": import_id, "after": after, "limit": limit, "force": force,
                                "sample": sample, "chars": SAMPLE_TEXT_CHARS})
    handled, last, undone, forced, conflicts, samples = db.fetchone()
    if not handled:
        return None
    return UndoBatch(handled=handled, restored=undone, forced=forced, conflicts=conflicts,
                     sample=_parsed(samples), cursor={"stage": RESTORE, "after": last})


def _delete_batch(db, *, import_id: int, row: int, index: int, limit: int, force: bool,
                  sample: int) -> UndoBatch | None:
    """The next ``limit`` ids of the chunk row ``row`` after its ``index``-th (1-based arrays),
    or of the next row once that one is done."""
    db.execute(
        "SELECT id, cardinality(ids) FROM importer_createdproducts"
        " WHERE job_id = %s AND (id > %s OR (id = %s AND cardinality(ids) > %s)) ORDER BY id LIMIT 1",
        [import_id, row, row, index],
    )
    found = db.fetchone()
    if found is None:
        return None
    next_row, size = found
    first = index + 1 if next_row == row else 1
    last = min(size, first + limit - 1)
    db.execute(_DELETE_BATCH, {"row": next_row, "first": first, "last": last, "force": force,
                               "sample": sample, "chars": SAMPLE_TEXT_CHARS})
    handled, deleted, forced, conflicts, samples = db.fetchone()
    return UndoBatch(handled=handled, deleted=deleted, forced=forced, conflicts=conflicts,
                     sample=_parsed(samples), cursor={"stage": DELETE, "row": next_row, "index": last})


def _parsed(value) -> list[dict]:
    if isinstance(value, str):  # json (not jsonb) may come back as text, depending on the driver
        return json.loads(value)
    return list(value or [])


def undo_data_delete(*, import_id: int) -> None:
    """Delete an import's undo data (it can no longer be undone)."""
    with connection.cursor() as db:
        db.execute("DELETE FROM importer_productbeforeimage WHERE job_id = %s", [import_id])
        db.execute("DELETE FROM importer_createdproducts WHERE job_id = %s", [import_id])


def undo_data_delete_all() -> None:
    """Delete every import's undo data (every product was deleted: there is nothing to put back).

    TRUNCATE, not DELETE: instant at any size. The caller holds the catalogue write lock, which
    every writer of undo data (an import's merge) takes first, so nobody is writing any.
    """
    with connection.cursor() as db:
        db.execute("TRUNCATE importer_productbeforeimage, importer_createdproducts")


def undo_data_import_ids() -> list[int]:
    """The imports that have undo data, in id order (for expiry)."""
    with connection.cursor() as db:
        db.execute(
            "SELECT DISTINCT job_id FROM importer_createdproducts UNION "
            "SELECT job_id FROM (SELECT DISTINCT job_id FROM importer_productbeforeimage) b ORDER BY 1"
        )
        return [row[0] for row in db.fetchall()]
