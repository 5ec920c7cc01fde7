"""Merging rows straight into the catalogue, below the pipeline (for tests of what a merge does)."""

from __future__ import annotations

from collections.abc import Iterable

from importer.pipeline.staging import DeferredRows, MergeCounts, StagedRows, merge_chunk


def merge_rows(rows: Iterable[tuple[int, str, str, str]]) -> MergeCounts:
    """Upsert ``rows`` of (line, sku, name, description) as one chunk; call inside a transaction."""
    staged = StagedRows()
    for line, sku, name, description in rows:
        staged.add(line, sku, name, description, None, False)
    deferred = DeferredRows()
    deferred.prepare(fresh=True)
    return merge_chunk(staged.seal(), deferred=deferred)
