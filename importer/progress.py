"""A running job's progress, kept on its row: what the pipeline reports, recorded for everyone.

``JobProgressRecorder`` is the pipeline's observer for a job. It writes the progress in the very
transaction of each chunk (so the job accounts exactly for what is in the catalogue), refuses to
go on once the job is no longer processing (cancelled, or handed back by the reaper), and
publishes the job's new state once the chunk has committed. ``progress_of`` turns a job row back
into the pipeline's resume point.
"""

from __future__ import annotations

import copy

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from importer.events import import_job_publish, import_job_publish_on_commit
from importer.locks import check_lock_session
from importer.models import ImportJob, ImportRowError
from importer.pipeline import ImportInterrupted, ImportObserver, ImportProgress, RowError
from importer.serializers import import_job_payload
from importer.states import ImportPhase, ImportStatus


class JobProgressRecorder(ImportObserver):
    """Persists the pipeline's progress on ``job``; ``session`` is the connection holding its lock."""

    def __init__(self, job: ImportJob, *, session=None, reason: str = "") -> None:
        self.job = job
        self.session = session
        self.reason = reason  # why the chunked path was chosen, said when the rows start

    def counting(self, progress: ImportProgress) -> None:
        counted = f" ({progress.percent}% of the file read)" if progress.percent else ""
        reason = f"{self.reason} " if self.reason else ""
        self._save_phase(ImportPhase.COUNTING, f"{reason}Counting rows…{counted}", progress)

    def started(self, progress: ImportProgress) -> None:
        done = f" Resuming after row {progress.processed_rows:,}." if progress.processed_rows else ""
        if self.job.preview_only:
            self._save_phase(
                ImportPhase.PREVIEWING,
                f"Comparing {progress.total_rows:,} rows with the catalogue; nothing is changed.{done}",
                progress,
            )
            return
        reason = f" {self.reason}" if self.reason else ""
        self._save_phase(
            ImportPhase.IMPORTING, f"Importing {progress.total_rows:,} rows.{reason}{done}", progress
        )

    def chunk_written(self, progress: ImportProgress, errors: list[RowError]) -> None:
        verb = "Compared" if self.job.preview_only else "Imported"
        message = f"{verb} {progress.processed_rows:,} of {progress.total_rows:,} rows."
        if progress.waiting:
            message += (
                f" {progress.waiting:,} rows whose SKU appears more than once in the file are "
                "merged once it has been read."
            )
        self._record(progress, errors, message=message, percent=min(progress.percent, 99),
                     resume=(progress.offset, progress.line))

    def bulk_phase(self, progress: ImportProgress, *, phase: str, message: str, percent: int) -> None:
        self.job.progress = min(percent, 99)
        self._save_phase(phase, message, progress, extra=["progress"])

    def bulk_loaded(
        self, progress: ImportProgress, errors: list[RowError], *, message: str, percent: int
    ) -> None:
        # No resume point: the rows are in the shadow table, not the catalogue, and a new run
        # loads the file again from its start.
        self._record(progress, errors, message=message, percent=min(percent, 99), resume=(0, 0))

    def heartbeat(self, progress: ImportProgress, *, message: str) -> None:
        # An event only (on this thread's own connection): the job's row is the run's to write, in
        # its transaction; the next committed state replaces this one on every stream.
        job = copy.copy(self.job)
        job.message, job.heartbeat_at = message, timezone.now()
        import_job_publish(import_job_payload(job))

    def bulk_published(self, progress: ImportProgress) -> None:
        # In the swap's transaction: from its commit the job accounts for the whole file, and its
        # resume point is the end of the file (a run after a crash here only finishes the job).
        self._record(progress, [], message=f"Published {progress.processed_rows:,} rows.", percent=99,
                     resume=(progress.offset, progress.line))

    def _record(self, progress: ImportProgress, errors: list[RowError], *, message: str, percent: int,
                resume: tuple[int, int]) -> None:
        job = self.job
        job.total_rows = progress.total_rows
        job.processed_rows = progress.processed_rows
        job.progress = percent
        job.created_rows, job.updated_rows = progress.created, progress.updated
        job.unchanged_rows, job.superseded_rows = progress.unchanged, progress.superseded
        job.skipped_rows = progress.skipped
        # Each error is counted; only the first IMPORT_MAX_STORED_ERRORS of a job are stored.
        # Errors are stored in the chunk's own transaction, so after a crash the job's count of
        # stored ones is still exact and a resumed run continues from it.
        errors = errors[: max(0, settings.IMPORT_MAX_STORED_ERRORS - job.stored_errors)]
        job.stored_errors += len(errors)
        job.errors = [error.as_dict() for error in progress.first_errors]
        job.resume_offset, job.resume_line = resume
        job.heartbeat_at = timezone.now()
        job.message = message
        fields = []
        if job.preview_only:
            job.changes = list(progress.changes)
            fields.append("changes")
        self._save(
            [
                "total_rows", "processed_rows", "progress", "created_rows", "updated_rows",
                "unchanged_rows", "superseded_rows", "skipped_rows", "stored_errors", "errors",
                "resume_offset", "resume_line", "heartbeat_at", "message", *fields,
            ]
        )
        if errors:
            ImportRowError.objects.bulk_create(
                [ImportRowError(job=job, line=e.line, sku=e.sku, reason=e.reason) for e in errors],
                batch_size=5000,
            )
        import_job_publish_on_commit(job)

    def reading(self, progress: ImportProgress) -> None:
        # Only a sign of life, and the chance to stop: a cancel is seen within about a second even
        # while the reader skips a record of gigabytes.
        self.job.heartbeat_at = timezone.now()
        self._save(["heartbeat_at"])

    def _save_phase(
        self, phase: str, message: str, progress: ImportProgress, *, extra: list[str] = ()
    ) -> None:
        job = self.job
        job.phase, job.message = phase, message
        job.total_rows = progress.total_rows
        job.heartbeat_at = timezone.now()
        with transaction.atomic():
            self._save(["phase", "message", "total_rows", "heartbeat_at", *extra])
            import_job_publish_on_commit(job)

    def _save(self, fields: list[str]) -> None:
        if self.session is not None:
            # Inside the chunk's transaction: raising rolls back the chunk written without the lock.
            check_lock_session(self.job.pk, self.session)
        values = {name: getattr(self.job, name) for name in fields}
        if not ImportJob.objects.filter(pk=self.job.pk, status=ImportStatus.PROCESSING).update(
            updated_at=timezone.now(), **values
        ):
            raise ImportInterrupted("the job is no longer processing")


def progress_of(job: ImportJob) -> ImportProgress | None:
    """Where a job's next run starts: None for a job that has not committed a chunk yet."""
    if not job.resume_offset:
        return None
    return ImportProgress(
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        created=job.created_rows,
        updated=job.updated_rows,
        unchanged=job.unchanged_rows,
        superseded=job.superseded_rows,
        skipped=job.skipped_rows,
        offset=job.resume_offset,
        line=job.resume_line,
        size_bytes=job.size_bytes,
        first_errors=tuple(RowError(e["line"], e["sku"], e["reason"]) for e in job.errors),
        changes=tuple(job.changes or ()) if job.preview_only else (),
    )


def job_summary(job: ImportJob) -> str:
    """The job's counts in one sentence, for its messages."""
    parts = [f"{job.created_rows:,} created", f"{job.updated_rows:,} updated"]
    if job.unchanged_rows:
        parts.append(f"{job.unchanged_rows:,} unchanged")
    if job.superseded_rows:
        parts.append(f"{job.superseded_rows:,} superseded by a later row")
    parts.append(f"{job.skipped_rows:,} skipped")
    waiting = job.processed_rows - (
        job.created_rows + job.updated_rows + job.unchanged_rows + job.superseded_rows + job.skipped_rows
    )
    if waiting > 0:
        parts.append(f"{waiting:,} with a repeated SKU not merged")
    return f"{job.processed_rows:,} rows: " + ", ".join(parts) + "."
