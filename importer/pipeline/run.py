"""The run that ties the stages together: header → scan → records → rows → chunks → merge → result.

1. ``header``: refuse a file that cannot be imported at all, before anything is written.
2. ``scan``: count the records (the total for progress) and find the SKUs that repeat.
3. ``records`` → ``validation`` → ``chunks``, in a read-ahead thread: each record becomes a row or a
   row error, and rows are gathered into chunks of about a second's work.
4. ``staging``: each chunk is merged in one transaction, together with the progress the observer
   records (so a job's progress commits with the products it describes). Rows whose SKU repeats are
   held back in the same transaction.
5. Once the file has been read, the held-back rows are merged, the last row of each SKU only, in
   batches, each again in one transaction with its progress.

Holding those rows back is what makes the last row of a SKU win and be written once, and the counts
exact: a row replaced by a later one is ``superseded`` and never touches the catalogue, so a
re-import of the same file changes and counts nothing.

With ``preview=True`` the same stages run but no product is written: each chunk (and each batch
of held-back rows) is compared with the catalogue instead of merged (``preview``), so the counts
are those the import would have, and ``progress.changes`` samples the rows that would change.

The observer may stop the run by raising ``ImportInterrupted``: between chunks, every second of
the scan, and every second the reader is still busy with the next chunk (a file of huge records).
The rows held back until then stay where they wait: a job's ``DeferredRows`` are kept for its
resumption (the job services delete them when the job ends), a run without a job empties its
table when it next starts.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import BinaryIO

from django.db import transaction

from importer.pipeline.chunks import ChunkSize, chunks_of
from importer.pipeline.header import CsvLayout, parse_header, resolve_encoding
from importer.pipeline.preview import PREVIEW_SAMPLE_CHANGES, compare_chunk, compare_deferred_batch
from importer.pipeline.readahead import read_ahead
from importer.pipeline.records import RecordReader
from importer.pipeline.results import ImportObserver, ImportProgress, ImportResult
from importer.pipeline.scan import ScanCache, ScanKey, scan_file
from importer.pipeline.staging import (
    DeferredRows,
    MergeCounts,
    drop_superseded_deferred,
    merge_chunk,
    merge_deferred_batch,
)
from importer.pipeline.ticking import ticking


def import_csv(
    *,
    file: BinaryIO,
    size_bytes: int,
    encoding: str = "utf-8",
    chunk_size: int = 50_000,
    resume: ImportProgress | None = None,
    observer: ImportObserver | None = None,
    deferred: DeferredRows | None = None,
    positions: dict[str, int] | None = None,
    preview: bool = False,
    scans: ScanCache | None = None,
    record_undo: bool = False,
) -> ImportResult:
    """Import the products of ``file`` into the catalogue, chunk by chunk.

    Raises ``FileRejected`` (before writing anything) when the file cannot be imported at all,
    and ``ImportInterrupted`` when the observer stopped it. Rows that break a rule are skipped and
    reported; everything else is upserted, the last row of the file winning per SKU. Pass the
    ``progress`` of an interrupted run as ``resume``, and the same durable ``deferred``, to
    continue after its last committed chunk. ``positions`` ({target: column index}, a confirmed
    column mapping) says which column is which when the header does not; ``preview`` compares
    instead of writing; ``record_undo`` records, with each chunk, what an undo of the job whose
    ``deferred`` rows these are needs (``importer.undo_data``). ``scans`` keeps the file's scan for
    a resumed run (``ScanCache``).
    """
    observer = observer or ImportObserver()
    deferred = deferred or DeferredRows()
    started_at = time.monotonic()
    encoding = resolve_encoding(encoding)
    layout = parse_header(file, encoding=encoding, positions=positions)
    progress = _starting_point(resume, layout=layout, size_bytes=size_bytes)

    # A resumed run needs the whole file's scan too: a row still to come may repeat a SKU of a row
    # already read, and both must be decided alike. The first run keeps its scan in ``scans``, so
    # a resumed one reads the file from its offset only (on object storage: downloads only that).
    key = ScanKey(size_bytes=size_bytes, sku_index=layout.sku_index, encoding=encoding)
    scan = scans.load(key) if scans is not None and progress.processed_rows else None
    if scan is None:
        observer.counting(progress)
        scan = scan_file(
            file,
            layout=layout,
            encoding=encoding,
            size_bytes=size_bytes,
            on_progress=lambda offset: observer.counting(replace(progress, offset=offset)),
        )
        if scans is not None:
            scans.save(scan, key)
    if progress.total_rows is None:
        progress = replace(progress, total_rows=scan.records)
    deferred.prepare(fresh=not progress.processed_rows)
    observer.started(progress)

    records = RecordReader(file, encoding=encoding, start_offset=progress.offset, start_line=progress.line)
    size = ChunkSize(chunk_size)
    chunks = chunks_of(records, layout=layout, repeated=scan.repeated, size=size)

    sets_active = layout.is_active_index is not None

    def still_reading() -> None:
        observer.reading(progress)  # the progress of the last committed chunk

    for chunk in read_ahead(chunks, on_wait=still_reading, on_stop=records.stop):
        began = time.monotonic()
        under_way = _chunk_under_way(progress, rows=chunk.record_count, preview=preview)
        with transaction.atomic():
            with _alive(observer, progress, message=under_way):
                counts, changes = _write_chunk(
                    chunk.rows, deferred=deferred, sets_active=sets_active, record_undo=record_undo,
                    sample=PREVIEW_SAMPLE_CHANGES - len(progress.changes) if preview else None,
                )
            progress = replace(progress, changes=progress.changes + changes)
            progress = _counted(progress, counts, records=chunk.record_count).with_errors(chunk.errors)
            progress = replace(progress, offset=chunk.end_offset, line=chunk.end_line)
            observer.chunk_written(progress, chunk.errors)
        observer.chunk_committed(progress)
        size.adapt(records=chunk.record_count, seconds=time.monotonic() - began)

    progress = replace(progress, offset=max(progress.offset, size_bytes))
    if progress.waiting:
        progress = _merge_deferred(
            progress, deferred=deferred, observer=observer, batch_rows=size.limit, sets_active=sets_active,
            preview=preview, record_undo=record_undo,
        )
    return ImportResult(
        progress=replace(progress, total_rows=progress.processed_rows),
        seconds=time.monotonic() - started_at,
    )


def _write_chunk(rows, *, deferred: DeferredRows, sets_active: bool, record_undo: bool,
                 sample: int | None) -> tuple[MergeCounts, tuple]:
    """Merge a chunk, or with a ``sample`` size (a preview) compare it: its counts and sampled changes."""
    if sample is None:
        return merge_chunk(rows, deferred=deferred, sets_active=sets_active, record_undo=record_undo), ()
    counts, changes = compare_chunk(rows, deferred=deferred, sets_active=sets_active, sample=sample)
    return counts, tuple(changes)


def _write_deferred_batch(*, deferred: DeferredRows, limit: int, sets_active: bool, record_undo: bool,
                          sample: int | None) -> tuple[int, MergeCounts, tuple]:
    """``_write_chunk`` for the next batch of held-back rows; also how many rows it took."""
    if sample is None:
        merged, counts = merge_deferred_batch(
            deferred=deferred, limit=limit, sets_active=sets_active, record_undo=record_undo
        )
        return merged, counts, ()
    merged, counts, changes = compare_deferred_batch(
        deferred=deferred, limit=limit, sets_active=sets_active, sample=sample
    )
    return merged, counts, tuple(changes)


def _alive(observer: ImportObserver, progress: ImportProgress, *, message: str):
    """Heartbeats saying ``message`` while one chunk is merged (or compared): one statement, seconds
    long when PostgreSQL flushes the search index's pending list inside it. ``progress`` is the
    last committed state."""
    return ticking(lambda: observer.heartbeat(progress, message=message))


def _chunk_under_way(progress: ImportProgress, *, rows: int, preview: bool) -> str:
    first = progress.processed_rows + 1
    verb = "Comparing" if preview else "Writing"
    return f"{verb} rows {first:,}–{first + rows - 1:,} of {progress.total_rows or 0:,}…"


def _starting_point(resume: ImportProgress | None, *, layout: CsvLayout, size_bytes: int) -> ImportProgress:
    progress = replace(resume or ImportProgress(), size_bytes=size_bytes)
    if progress.offset < layout.data_offset:
        progress = replace(progress, offset=layout.data_offset, line=layout.data_line)
    return progress


def _counted(progress: ImportProgress, counts: MergeCounts, *, records: int = 0) -> ImportProgress:
    processed = progress.processed_rows + records
    return replace(
        progress,
        # The pre-count can be off (a stray quote); never show more done than the total.
        total_rows=max(progress.total_rows or 0, processed),
        processed_rows=processed,
        created=progress.created + counts.created,
        updated=progress.updated + counts.updated,
        unchanged=progress.unchanged + counts.unchanged,
        superseded=progress.superseded + counts.superseded,
    )


def _merge_deferred(
    progress: ImportProgress,
    *,
    deferred: DeferredRows,
    observer: ImportObserver,
    batch_rows: int,
    sets_active: bool,
    preview: bool = False,
    record_undo: bool = False,
) -> ImportProgress:
    """Merge the held-back rows: first forget those a later row replaces, then merge the rest
    (or, in a preview, compare them)."""
    with transaction.atomic():
        superseded = drop_superseded_deferred(deferred=deferred)
        progress = _counted(progress, MergeCounts(superseded=superseded))
        observer.chunk_written(progress, [])
    observer.chunk_committed(progress)
    while progress.waiting:
        verb = "Comparing" if preview else "Writing"
        under_way = (
            f"{verb} the last row of each SKU that appears more than once ({progress.waiting:,} rows left)…"
        )
        with transaction.atomic():
            with _alive(observer, progress, message=under_way):
                merged, counts, changes = _write_deferred_batch(
                    deferred=deferred, limit=batch_rows, sets_active=sets_active, record_undo=record_undo,
                    sample=PREVIEW_SAMPLE_CHANGES - len(progress.changes) if preview else None,
                )
            progress = replace(progress, changes=progress.changes + changes)
            if not merged:
                # Cannot happen while rows and counts commit together; stop rather than loop.
                break
            progress = _counted(progress, counts)
            observer.chunk_written(progress, [])
        observer.chunk_committed(progress)
    return progress
