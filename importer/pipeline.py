"""The import pipeline: parse → validate → stage → upsert → result.

Plain Python that a test, the Celery task and the management command all call the same way. It
knows nothing about jobs, Redis or SSE: it reports through an ``ImportObserver``, whose
``chunk_written`` runs inside each chunk's transaction (so a job's progress commits together with
the products it describes) and may stop the import by raising ``ImportInterrupted``.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, TypeVar

from django.db import transaction

from importer.csvfile import CsvLayout, FileRejected, RowError, RowReader, count_records, parse_header, resolve_encoding
from importer.upsert import merge_staged

FIRST_ERRORS_KEPT = 100
# Chunks shrink (never grow past chunk_size) so that each commits about this often: progress stays
# live on a slow or busy machine, and the per-chunk cost of a commit stays negligible.
TARGET_CHUNK_SECONDS = 1.0
MIN_CHUNK_ROWS = 1000
# While the reader thread parses, the writing thread must win the GIL back after every database
# round trip; with CPython's default 5 ms switch interval each of the dozen or so round trips of
# a chunk (and every wait inside a COPY) could cost up to 5 ms (the "convoy effect"). Measured on
# 1M rows: 3-6 s of a 25-28 s import went to those waits. A short interval during the import
# makes them negligible; the reader has slack enough to pay for the extra switches.
READ_AHEAD_SWITCH_INTERVAL = 0.0005
_T = TypeVar("_T")
_DONE = object()


class ImportInterrupted(Exception):
    """Raised by an observer to stop the import at a chunk boundary (cancelled, or lost its lock)."""


@dataclass(frozen=True)
class ImportProgress:
    """Where an import stands. Also the resume point: the next chunk starts at ``offset``/``line``."""

    total_rows: int | None = None
    processed_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    offset: int = 0
    line: int = 0
    size_bytes: int = 0

    @property
    def percent(self) -> int:
        """Progress by bytes read: exact, monotonic, and independent of row lengths."""
        if not self.size_bytes:
            return 0
        return min(100, int(self.offset * 100 / self.size_bytes))


@dataclass
class ImportResult:
    """The outcome of a finished run of the pipeline."""

    progress: ImportProgress
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    seconds: float = 0.0


class ImportObserver:
    """Receives the pipeline's progress. The default does nothing; subclasses override."""

    def counting(self, progress: ImportProgress) -> None:
        """The total row count is being computed; called at the start and every 16 MiB read."""

    def started(self, progress: ImportProgress) -> None:
        """Rows are about to be imported; ``progress.total_rows`` is known."""

    def chunk_written(self, progress: ImportProgress, errors: list[RowError]) -> None:
        """A chunk is written but not yet committed: persist ``progress`` in this transaction."""

    def chunk_committed(self, progress: ImportProgress) -> None:
        """The chunk's transaction has committed."""


def import_csv(
    *,
    file: BinaryIO,
    size_bytes: int,
    encoding: str = "utf-8",
    chunk_size: int = 50_000,
    resume: ImportProgress | None = None,
    observer: ImportObserver | None = None,
) -> ImportResult:
    """Import the products of ``file`` into the catalogue, chunk by chunk.

    Raises ``FileRejected`` (before writing anything) when the file cannot be imported at all,
    and ``ImportInterrupted`` when the observer stopped it. Rows that break a rule are skipped and
    returned as errors; everything else is upserted, the last row of the file winning per SKU.
    Pass the ``progress`` of an interrupted run as ``resume`` to continue after its last
    committed chunk.
    """
    observer = observer or ImportObserver()
    started_at = time.monotonic()
    encoding = resolve_encoding(encoding)
    layout: CsvLayout = parse_header(file, encoding=encoding)

    progress = resume or ImportProgress(offset=layout.data_offset, line=layout.data_line)
    progress = replace(progress, size_bytes=size_bytes)
    if progress.offset < layout.data_offset:
        progress = replace(progress, offset=layout.data_offset, line=layout.data_line)
    if progress.total_rows is None:
        observer.counting(progress)
        counted_from = progress
        total = progress.processed_rows + count_records(
            file,
            start_offset=progress.offset,
            on_progress=lambda offset: observer.counting(replace(counted_from, offset=offset)),
        )
        progress = replace(progress, total_rows=total)
    observer.started(progress)

    reader = RowReader(
        file, layout=layout, encoding=encoding, start_offset=progress.offset, start_line=progress.line
    )
    first_errors: list[RowError] = []
    error_count = 0
    smallest_chunk = min(chunk_size, MIN_CHUNK_ROWS)
    for chunk in _read_ahead(reader.chunks(chunk_size)):
        chunk_started = time.monotonic()
        with transaction.atomic():
            counts = merge_staged(chunk.copy_data, row_count=chunk.row_count)
            processed = progress.processed_rows + chunk.record_count
            progress = replace(
                progress,
                # The pre-count can be off (a stray quote); never show more done than the total.
                total_rows=max(progress.total_rows or 0, processed),
                processed_rows=processed,
                created=progress.created + counts.created,
                updated=progress.updated + counts.updated,
                unchanged=progress.unchanged + counts.unchanged,
                skipped=progress.skipped + len(chunk.errors),
                offset=chunk.end_offset,
                line=chunk.end_line,
            )
            observer.chunk_written(progress, chunk.errors)
        observer.chunk_committed(progress)
        rows_per_second = chunk.record_count / max(time.monotonic() - chunk_started, 1e-3)
        reader.chunk_rows = max(smallest_chunk, min(chunk_size, int(rows_per_second * TARGET_CHUNK_SECONDS)))
        error_count += len(chunk.errors)
        if len(first_errors) < FIRST_ERRORS_KEPT:
            first_errors.extend(chunk.errors[: FIRST_ERRORS_KEPT - len(first_errors)])

    progress = replace(progress, total_rows=progress.processed_rows, offset=size_bytes or progress.offset)
    return ImportResult(
        progress=progress,
        errors=first_errors,
        error_count=error_count,
        seconds=time.monotonic() - started_at,
    )


class _ShortSwitchInterval:
    """READ_AHEAD_SWITCH_INTERVAL while any import of this process reads ahead; the old one after.

    The interval is process-wide: with two imports in one process (threads), the first to start
    sets it and the last to finish restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if not self._users:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, READ_AHEAD_SWITCH_INTERVAL))
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if not self._users:
                sys.setswitchinterval(self._saved)


_short_switch_interval = _ShortSwitchInterval()


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """Produce ``items`` in a background thread, one item ahead of the consumer.

    Parsing the next chunk in Python then overlaps with PostgreSQL writing the current one (the
    database driver releases the GIL while it waits), which hides most of the parsing cost. One
    item ahead keeps memory bounded to about three chunks.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        # Every hand-off gives up once the consumer has stopped: a plain blocking put() of the
        # end marker (or of an error) after the last chunk would wait forever for a consumer
        # that was interrupted, stalling its close by the join timeout and leaking the thread.
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            offer(exc)

    producer = threading.Thread(target=produce, name="import-reader", daemon=True)
    _short_switch_interval.enter()
    producer.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        producer.join(timeout=5)
        _short_switch_interval.leave()


__all__ = [
    "FileRejected",
    "ImportInterrupted",
    "ImportObserver",
    "ImportProgress",
    "ImportResult",
    "RowError",
    "import_csv",
]
