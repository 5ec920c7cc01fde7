"""What the pipeline reports: row errors, progress (also the resume point), the result, and the
observer interface through which callers hear about progress.

The counts mean the same everywhere (the job's JSON, its events, the command line, the UI):

- ``created``: rows that added a product to the catalogue;
- ``updated``: rows that changed a stored product's values;
- ``unchanged``: rows whose values equal the stored product's, so nothing was written;
- ``superseded``: rows replaced by a later row for the same SKU (in any letter case) of the
  same file, so they were never written;
- ``skipped``: rows that break a rule (each has a ``RowError``).

A row whose SKU appears more than once in the file waits until the whole file has been read (see
``importer.pipeline.run``); while it waits it is processed but in none of these counts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

FIRST_ERRORS_KEPT = 100


class ImportInterrupted(Exception):
    """Raised by an observer to stop the import (cancelled, or lost its lock): at a chunk boundary,
    or while the scan or the reader is between two blocks of the file."""


@dataclass(frozen=True)
class RowError:
    """A skipped row: its line number in the file (1 is the header), its SKU if any, and why."""

    line: int
    sku: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "sku": self.sku, "reason": self.reason}


@dataclass(frozen=True)
class ImportProgress:
    """Where an import stands. Also the resume point: the next chunk starts at ``offset``/``line``.

    ``first_errors`` holds the first ``FIRST_ERRORS_KEPT`` row errors of the whole import, so a
    resumed run keeps adding to the same list.
    """

    total_rows: int | None = None
    processed_rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    superseded: int = 0
    skipped: int = 0
    offset: int = 0
    line: int = 0
    size_bytes: int = 0
    first_errors: tuple[RowError, ...] = ()
    # A preview's sample of rows that would change (``importer.pipeline.preview``); empty otherwise.
    changes: tuple[dict, ...] = ()

    @property
    def percent(self) -> int:
        """Progress by bytes read: exact, monotonic, and independent of row lengths."""
        if not self.size_bytes:
            return 0
        return min(100, int(self.offset * 100 / self.size_bytes))

    @property
    def waiting(self) -> int:
        """Rows read whose SKU repeats later in the file: they are merged once it has been read."""
        counted = self.created + self.updated + self.unchanged + self.superseded + self.skipped
        return self.processed_rows - counted

    def with_errors(self, errors: list[RowError]) -> ImportProgress:
        """This progress with ``errors`` counted as skipped rows (and the first ones kept)."""
        if not errors:
            return self
        room = FIRST_ERRORS_KEPT - len(self.first_errors)
        kept = self.first_errors + tuple(errors[:room]) if room > 0 else self.first_errors
        return replace(self, skipped=self.skipped + len(errors), first_errors=kept)


@dataclass
class ImportResult:
    """The outcome of a finished run of the pipeline."""

    progress: ImportProgress
    seconds: float = 0.0
    timings: object | None = None  # a bulk load's BulkTimings: where its time went

    @property
    def errors(self) -> list[RowError]:
        """The first row errors of the import (``progress.skipped`` says how many there were)."""
        return list(self.progress.first_errors)


class ImportObserver:
    """Receives the pipeline's progress. The default does nothing; subclasses override."""

    def counting(self, progress: ImportProgress) -> None:
        """The file is being scanned (rows counted, repeated SKUs found); called every 16 MiB or
        second. May raise ``ImportInterrupted`` to stop the run."""

    def started(self, progress: ImportProgress) -> None:
        """Rows are about to be imported; ``progress.total_rows`` is known."""

    def chunk_written(self, progress: ImportProgress, errors: list[RowError]) -> None:
        """A chunk is written but not yet committed: persist ``progress`` in this transaction."""

    def chunk_committed(self, progress: ImportProgress) -> None:
        """The chunk's transaction has committed."""

    def reading(self, progress: ImportProgress) -> None:
        """The next chunk is still being read after about a second (a file of huge rejected
        records): nothing new to record, but the run is alive. May raise ``ImportInterrupted``."""

    # A bulk load (``importer.pipeline.bulk``) reports through these three instead of
    # ``started``/``chunk_written``: its rows reach the catalogue only at its swap.

    def bulk_phase(self, progress: ImportProgress, *, phase: str, message: str, percent: int) -> None:
        """A bulk load entered ``phase`` (loading, indexing, publishing) or is still in it (called
        about every second while a single statement runs). May raise ``ImportInterrupted``."""

    def bulk_loaded(
        self, progress: ImportProgress, errors: list[RowError], *, message: str, percent: int
    ) -> None:
        """A chunk of rows is staged in the shadow table but not committed: persist ``progress``
        (rows read, row errors) in this transaction. Nothing is in the catalogue yet, so there is
        no resume point. May raise ``ImportInterrupted``."""

    def heartbeat(self, progress: ImportProgress, *, message: str) -> None:
        """Called every second from another thread while one statement keeps the run's own
        connection busy (a chunk's merge, a bulk load's swap): report that it is alive, with
        ``progress`` as last committed and ``message`` saying what is under way, without touching
        that connection (nor the job's row, which the run's transaction writes). Must not raise."""

    def bulk_published(self, progress: ImportProgress) -> None:
        """The swap is done but not committed: persist the final ``progress`` in its transaction."""
