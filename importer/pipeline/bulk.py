"""The bulk load: the whole file staged without indexes, de-duplicated, indexed once, swapped in.

The chunked run (``importer.pipeline.run``) pays for every index of the catalogue row by row; into
an empty catalogue that upkeep is most of an import's time. Here, as pg_restore does, the rows are
loaded first and indexed after, in four phases a person can follow:

1. **Loading**: the scan, header, records, validation and chunks as in the chunked run (same
   rules, same row errors), but each chunk is COPYed into the job's shadow table
   (``importer.pipeline.shadow``), committed with the job's progress; rows whose SKU may repeat
   go to the shadow's side table instead.
2. **De-duplicating** (reported as Indexing): one statement moves the last row of each
   ``lower(sku)`` of the side table into the shadow.
3. **Indexing**: every index of the catalogue, built on ``index_workers`` connections at once
   (threads of this process); the calling thread meanwhile reports progress every second and may
   be told to stop (the builds are cancelled).
4. **Publishing**: the swap, one short transaction that also records the job's final counts.

Until the swap commits the catalogue is untouched: readers see its state before the import, API
writes go to it and are merged at the swap. A run that stops before that — cancelled, failed, or
its process killed — leaves the old catalogue and a shadow table, which this run drops on its way
out or the next run (and the reaper) drops. A new run starts the load over: the file's rows were
never part of the catalogue, so there is nothing to resume.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from django.db import DatabaseError, OperationalError, connection, connections, transaction

from importer.pipeline.chunks import ChunkSize, chunks_of
from importer.pipeline.header import parse_header, resolve_encoding
from importer.pipeline.readahead import read_ahead
from importer.pipeline.records import RecordReader
from importer.pipeline.results import ImportInterrupted, ImportObserver, ImportProgress, ImportResult
from importer.pipeline.scan import scan_file
from importer.pipeline.shadow import (
    CatalogueShape,
    IndexPlan,
    analyze_shadow,
    copy_repeats_statement,
    copy_statement,
    create_shadow,
    drop_shadow,
    merge_repeats,
    read_shape,
    shadow_table,
    swap_in,
)
from importer.pipeline.staging import _NEEDS_ESCAPE, StagedRows, _escape
from importer.pipeline.ticking import TICK_SECONDS, ticking

logger = logging.getLogger(__name__)

# What each phase is called, as the job's phase.
LOADING, INDEXING, PUBLISHING = "loading", "indexing", "publishing"
# How far along the bar each phase ends: loading is most of the time.
LOADED_PERCENT, INDEXED_PERCENT = 75, 97
_LOCK_NOT_AVAILABLE = "55P03"


class ShadowRows(StagedRows):
    """A chunk's valid rows in COPY text: ``data`` for the shadow table (``sku, name, description,
    is_active``), ``repeats`` for the rows whose SKU may occur again, which wait in the side table
    (``line`` first) until the whole file is in. A file without an is_active column makes new
    products active, as the upsert does."""

    def __init__(self) -> None:
        super().__init__()
        self.repeats = bytearray()
        self._repeats: list[str] = []

    def add(
        self, line: int, sku: str, name: str, description: str, is_active: bool | None, deferred: bool
    ) -> None:
        active = "f" if is_active is False else "t"
        text = f"{sku}\t{name}\t{description}"
        # One test of the joined values instead of one per value: most rows need no escaping.
        if text.count("\t") != 2 or _NEEDS_ESCAPE(text):
            text = f"{_escape(sku)}\t{_escape(name)}\t{_escape(description)}"
        if deferred:
            self._repeats.append(f"{line}\t{text}\t{active}\n")
            self.deferred += 1
        else:
            self._pending.append(f"{text}\t{active}\n")
            self.merged += 1
        if len(self._pending) >= 1024:
            self._encode()

    def _encode(self) -> None:
        super()._encode()
        if self._repeats:
            self.repeats += "".join(self._repeats).encode("utf-8")
            self._repeats.clear()

    @property
    def size(self) -> int:
        return len(self.data) + len(self.repeats)


@dataclass
class BulkTimings:
    """Where a bulk load's time went, in seconds (the benchmark reports them)."""

    loading: float = 0.0
    deduplicating: float = 0.0
    indexes: dict[str, float] = field(default_factory=dict)
    indexing: float = 0.0
    analyzing: float = 0.0
    publishing: float = 0.0

    def summary(self) -> str:
        builds = ", ".join(f"{name} {seconds:.2f}" for name, seconds in self.indexes.items())
        return (
            f"loading {self.loading:.2f} s, de-duplicating {self.deduplicating:.2f} s, indexing "
            f"{self.indexing:.2f} s ({builds}), analyzing {self.analyzing:.2f} s, publishing "
            f"{self.publishing:.2f} s"
        )


@dataclass(frozen=True)
class BulkOptions:
    """How a bulk load uses the database (settings ``IMPORT_BULK_*``)."""

    index_workers: int = 2
    maintenance_work_mem: str = "1GB"
    swap_lock_timeout_ms: int = 2000
    reason: str = "Loading in bulk."  # said in every message of the load
    record_undo: bool = False  # record the job's undo data at the swap (importer.undo_data)


def bulk_import_csv(
    *,
    file: BinaryIO,
    size_bytes: int,
    encoding: str = "utf-8",
    chunk_size: int = 50_000,
    observer: ImportObserver | None = None,
    positions: dict[str, int] | None = None,
    key: int = 0,
    options: BulkOptions | None = None,
) -> ImportResult:
    """Load ``file`` into the catalogue through a shadow table swapped in at the end.

    Same contract as ``import_csv`` (``FileRejected``, ``ImportInterrupted``, the counts), except
    that nothing is in the catalogue until the run returns, and there is no resuming. ``key`` names
    the shadow table (the job's id). Runs in autocommit mode: each phase commits on its own.
    """
    if connection.in_atomic_block:
        raise RuntimeError("a bulk load commits as it goes: call it outside transaction.atomic")
    observer = observer or ImportObserver()
    options = options or BulkOptions()
    started_at = time.monotonic()
    encoding = resolve_encoding(encoding)
    layout = parse_header(file, encoding=encoding, positions=positions)
    progress = ImportProgress(size_bytes=size_bytes, offset=layout.data_offset, line=layout.data_line)
    shadow = shadow_table(key)
    timings = BulkTimings()
    with connection.cursor() as cursor:
        shape = read_shape(cursor, shadow=shadow)
        create_shadow(cursor, shadow=shadow, shape=shape)
        _set_client_check(cursor, on=True)
    try:
        # The scan (as in the chunked run) counts the rows, for progress, and finds the SKUs that
        # may occur more than once: their rows wait in the side table, so the shadow itself never
        # holds two rows of one SKU and every index can be built as soon as the file is in.
        observer.counting(progress)
        scan = scan_file(
            file,
            layout=layout,
            encoding=encoding,
            size_bytes=size_bytes,
            on_progress=lambda offset: observer.counting(replace(progress, offset=offset)),
        )
        progress = replace(progress, total_rows=scan.records)
        observer.bulk_phase(progress, phase=LOADING, message=f"{options.reason} Loading the file…", percent=0)
        began = time.monotonic()
        progress = _load(
            file,
            progress,
            layout=layout,
            encoding=encoding,
            chunk_size=chunk_size,
            shadow=shadow,
            repeated=scan.repeated,
            observer=observer,
            reason=options.reason,
        )
        timings.loading = time.monotonic() - began

        valid = progress.processed_rows - progress.skipped
        began = time.monotonic()

        def deduplicating() -> None:
            observer.bulk_phase(
                progress,
                phase=INDEXING,
                percent=LOADED_PERCENT,
                message=f"{options.reason} Indexing: keeping the last row of each repeated SKU…",
            )

        deduplicating()
        superseded = _in_thread(lambda cursor: merge_repeats(cursor, shadow=shadow), on_tick=deduplicating)
        timings.deduplicating = time.monotonic() - began
        progress = replace(progress, superseded=superseded)

        began = time.monotonic()
        _build_indexes(
            shape,
            progress=progress,
            observer=observer,
            options=options,
            timings=timings,
            products=valid - superseded,
        )
        timings.indexing = time.monotonic() - began
        began = time.monotonic()
        analyzing = f"{options.reason} Indexing: all indexes built, gathering statistics…"
        with (
            ticking(lambda: observer.heartbeat(progress, message=analyzing)),
            connection.cursor() as cursor,
        ):
            analyze_shadow(cursor, shadow=shadow)
        timings.analyzing = time.monotonic() - began

        began = time.monotonic()
        progress = _publish(
            progress,
            shadow=shadow,
            shape=shape,
            sets_active=layout.is_active_index is not None,
            observer=observer,
            options=options,
            undo_job=key if options.record_undo else None,
        )
        timings.publishing = time.monotonic() - began
    except BaseException:
        _drop_quietly(shadow)
        raise
    finally:
        _reset_client_check()
    logger.info("Bulk load %s of %s rows: %s", key, f"{progress.processed_rows:,}", timings.summary())
    return ImportResult(
        progress=replace(progress, total_rows=progress.processed_rows),
        seconds=time.monotonic() - started_at,
        timings=timings,
    )


def _load(
    file,
    progress: ImportProgress,
    *,
    layout,
    encoding: str,
    chunk_size: int,
    shadow: str,
    repeated,
    observer: ImportObserver,
    reason: str,
) -> ImportProgress:
    records = RecordReader(file, encoding=encoding, start_offset=progress.offset, start_line=progress.line)
    size = ChunkSize(chunk_size)
    chunks = chunks_of(records, layout=layout, repeated=repeated, size=size, rows_type=ShadowRows)
    statement, repeats_statement = copy_statement(shadow), copy_repeats_statement(shadow)

    def still_reading() -> None:
        observer.reading(progress)

    for chunk in read_ahead(chunks, on_wait=still_reading, on_stop=records.stop):
        began = time.monotonic()
        with transaction.atomic():
            if len(chunk.rows):
                with (
                    connection.cursor() as cursor,
                    connection.wrap_database_errors,
                    cursor.copy(statement) as copy,
                ):
                    copy.write(chunk.rows.data)
            if chunk.rows.deferred:
                with (
                    connection.cursor() as cursor,
                    connection.wrap_database_errors,
                    cursor.copy(repeats_statement) as copy,
                ):
                    copy.write(chunk.rows.repeats)
            progress = replace(
                progress,
                processed_rows=progress.processed_rows + chunk.record_count,
                offset=chunk.end_offset,
                line=chunk.end_line,
            ).with_errors(chunk.errors)
            observer.bulk_loaded(
                progress,
                chunk.errors,
                percent=progress.percent * LOADED_PERCENT // 100,
                message=(
                    f"{reason} Loading: {progress.processed_rows:,} of {progress.total_rows:,} rows read. "
                    "The catalogue shows its state before this import until they are published."
                ),
            )
        size.adapt(records=chunk.record_count, seconds=time.monotonic() - began)
    return replace(progress, offset=max(progress.offset, progress.size_bytes))


def _build_indexes(
    shape: CatalogueShape,
    *,
    progress: ImportProgress,
    observer: ImportObserver,
    options: BulkOptions,
    timings: BulkTimings,
    products: int,
) -> None:
    """Build every index on ``options.index_workers`` connections; report while they run."""
    plans = shape.build_order()
    pending = list(plans)
    running: dict[str, int] = {}  # index name → backend pid
    errors: list[BaseException] = []
    stop = threading.Event()
    guard = threading.Lock()

    def build() -> None:
        try:
            while not stop.is_set():
                with guard:
                    if not pending:
                        return
                    plan = pending.pop(0)
                began = time.monotonic()
                _build_one(plan, options=options, running=running, guard=guard)
                with guard:
                    timings.indexes[plan.name] = time.monotonic() - began
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            with guard:
                errors.append(exc)
            stop.set()
        finally:
            connections.close_all()  # this thread's own connection

    threads = [
        threading.Thread(target=build, name=f"bulk-index-{n}", daemon=True)
        for n in range(max(1, min(options.index_workers, len(plans))))
    ]
    for thread in threads:
        thread.start()
    try:
        while any(thread.is_alive() for thread in threads):
            _join_for(threads, TICK_SECONDS if timings.indexes or running else 0.05)
            with guard:
                done, busy = len(timings.indexes), sorted(running)
            share = (INDEXED_PERCENT - LOADED_PERCENT) * done // max(1, len(plans))
            observer.bulk_phase(
                progress,
                phase=INDEXING,
                percent=LOADED_PERCENT + share,
                message=(
                    f"{options.reason} Indexing {products:,} products: {done} of {len(plans)} indexes built"
                    + (f", building {', '.join(busy)}" if busy else "")
                    + "."
                ),
            )
    except BaseException:
        stop.set()
        _cancel_builds(running, guard)
        for thread in threads:
            thread.join(30)
        raise
    if errors:
        raise errors[0]


def _join_for(threads: list[threading.Thread], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


def _in_thread(statement, *, on_tick):
    """Run ``statement(cursor)`` on a connection of its own while this thread calls ``on_tick``
    every second (a long single statement would otherwise leave the job silent); return its
    result. If ``on_tick`` raises (a cancel), the statement is cancelled."""
    result: list = []
    errors: list[BaseException] = []
    running: dict[str, int] = {}
    guard = threading.Lock()

    def run() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                with guard:
                    running["statement"] = cursor.fetchone()[0]
                _set_client_check(cursor, on=True, local=True)
                result.append(statement(cursor))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
        finally:
            with guard:
                running.clear()
            connections.close_all()

    thread = threading.Thread(target=run, name="bulk-statement", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(TICK_SECONDS)
            if thread.is_alive():
                on_tick()
    except BaseException:
        _cancel_builds(running, guard)
        thread.join(30)
        raise
    if errors:
        raise errors[0]
    return result[0]


def _build_one(plan: IndexPlan, *, options: BulkOptions, running: dict[str, int], guard) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
        with guard:
            running[plan.name] = pid
        try:
            cursor.execute(
                "SELECT set_config('maintenance_work_mem', %s, true)", [options.maintenance_work_mem]
            )
            _set_client_check(cursor, on=True, local=True)
            cursor.execute(plan.statement)
        finally:
            with guard:
                running.pop(plan.name, None)


def _cancel_builds(running: dict[str, int], guard) -> None:
    with guard:
        pids = list(running.values())
    if not pids:
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_cancel_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
    except DatabaseError:
        logger.warning("Could not cancel the index builds %s", pids, exc_info=True)


def _publish(
    progress: ImportProgress,
    *,
    shadow: str,
    shape: CatalogueShape,
    sets_active: bool,
    observer: ImportObserver,
    options: BulkOptions,
    undo_job: int | None,
) -> ImportProgress:
    waited = 0
    while True:
        wait = f" Waiting for readers of the catalogue to finish ({waited} tries so far)." if waited else ""
        observer.bulk_phase(
            progress,
            phase=PUBLISHING,
            percent=INDEXED_PERCENT + 1,
            message=f"{options.reason} Publishing: swapping the new catalogue in.{wait}",
        )
        message = f"{options.reason} Publishing: swapping the new catalogue in.{wait}"
        try:
            with (
                ticking(lambda text=message: observer.heartbeat(progress, message=text)),
                transaction.atomic(),
            ):
                with connection.cursor() as cursor:
                    counts = swap_in(
                        cursor,
                        shadow=shadow,
                        shape=shape,
                        sets_active=sets_active,
                        lock_timeout_ms=options.swap_lock_timeout_ms,
                        undo_job=undo_job,
                    )
                published = replace(
                    progress,
                    created=counts.loaded - counts.updated - counts.unchanged,
                    updated=counts.updated,
                    unchanged=counts.unchanged,
                )
                observer.bulk_published(published)
            return published
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
                raise
            waited += 1


def _set_client_check(cursor, *, on: bool, local: bool = False) -> None:
    # A backend notices its client is gone only when it next talks to it; a worker killed during a
    # long statement (an index build, the de-duplication) would leave it running, holding the
    # shadow table's locks and the job lock. PostgreSQL 14+ checks the socket while it works.
    if connection.pg_version >= 140000:
        cursor.execute(
            "SELECT set_config('client_connection_check_interval', %s, %s)", ["1000" if on else "0", local]
        )


def _reset_client_check() -> None:
    try:
        with connection.cursor() as cursor:
            _set_client_check(cursor, on=False)
    except DatabaseError:
        pass


def _drop_quietly(shadow: str) -> None:
    """Drop the shadow of a run that stops; if that fails too, the next run or the reaper will."""
    try:
        if connection.in_atomic_block:
            return
        with connection.cursor() as cursor:
            drop_shadow(cursor, shadow=shadow)
    except DatabaseError:
        logger.warning("Could not drop %s; the reaper will.", shadow, exc_info=True)


__all__ = ["BulkOptions", "BulkTimings", "ImportInterrupted", "bulk_import_csv"]
