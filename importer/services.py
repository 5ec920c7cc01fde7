"""Import job lifecycle: create, run (or resume), cancel, and reap jobs whose worker died.

The Celery task, the API and the management command are thin callers of these functions.
Job status changes go through ``_transition`` — a compare-and-set UPDATE guarded by the state
machine in ``importer.models`` — so two processes can never both move a job.
"""

from __future__ import annotations

import errno
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from importer.csvfile import FileRejected, RowError, resolve_encoding
from importer.events import import_job_publish
from importer.models import (
    ALLOWED_TRANSITIONS,
    ImportJob,
    ImportPhase,
    ImportRowError,
    ImportStatus,
)
from importer.pipeline import FIRST_ERRORS_KEPT, ImportInterrupted, ImportObserver, ImportProgress, import_csv
from importer.serializers import import_job_payload

logger = logging.getLogger(__name__)

# Session-level advisory lock (class, job id) held by whoever runs a job. PostgreSQL releases it
# when that connection ends — including when the worker is SIGKILLed — so "processing but nobody
# holds the lock" reliably means the job's worker is gone.
JOB_LOCK_CLASS = 0x494D5054  # "IMPT"


class InvalidTransition(Exception):
    """A job was not in the state a transition expected."""


class StorageFull(Exception):
    """The server has no room left to store an uploaded file; nothing of it was kept."""

    message = (
        "The server has no room left to store this file (its disk is full), so nothing was "
        "imported. Try again later, or ask the administrator to free some space."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


# What a full disk (or quota, or file size limit) looks like when a file is written.
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def storage_save_or_full(storage, name: str, content) -> str:
    """``storage.save(name, content)``; a full disk raises StorageFull and leaves no partial file.

    Django's FileSystemStorage leaves whatever it managed to write behind when the disk fills up,
    which keeps the disk full. ``name`` must be unique (ours always are: uuids, upload ids), so
    a partial file under it is certainly this call's own. Found by
    tests/faults/test_storage_faults.py (an upload onto a full disk answered 500).
    """
    try:
        return storage.save(name, content)
    except OSError as exc:
        if exc.errno not in STORAGE_FULL_ERRNOS:
            raise
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not delete the partial file %s", name, exc_info=True)
        logger.error("Storage is full: could not store %s", name)
        raise StorageFull() from exc


class JobLockLost(OperationalError):
    """The database session that holds a job's lock is gone; the run must stop and be retried.

    An OperationalError, so the Celery task retries it like any lost connection: the retry takes
    the lock again and resumes after the last committed chunk.
    """


def _check_transition(source: str, target: str) -> None:
    if target not in ALLOWED_TRANSITIONS[source]:
        raise InvalidTransition(f"an import cannot go from {source} to {target}")


def _transition(job: ImportJob, *, expected: tuple[str, ...], target: str, **fields) -> bool:
    """Move ``job`` to ``target`` if it is still in one of ``expected``; return whether it moved.

    On success the instance is updated in memory too, so it can be serialized without a re-read.
    """
    for source in expected:
        _check_transition(source, target)
    fields["status"] = target
    moved = ImportJob.objects.filter(pk=job.pk, status__in=expected).update(
        updated_at=timezone.now(), **fields
    )
    if moved:
        for name, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(job, name, value)
    return bool(moved)


def _publish_on_commit(job: ImportJob) -> None:
    payload = import_job_payload(job)
    transaction.on_commit(lambda: import_job_publish(payload))


def _enqueue_on_commit(job_id: int) -> None:
    from importer.tasks import run_import

    def enqueue() -> None:
        # The job is committed with its enqueued_at, so a message the broker refuses is not lost:
        # the reaper sends it again after IMPORT_REQUEUE_PENDING_AFTER. Raising here would answer
        # 500 for an import that exists and will run. Found by
        # tests/faults/test_lost_enqueue.py (broker down while an import is started).
        try:
            run_import.delay(job_id)
        except Exception:  # noqa: BLE001 - any broker failure; the reaper is the safety net
            logger.warning(
                "Could not queue import %s; the reaper will queue it again within %ss.",
                job_id, settings.IMPORT_REQUEUE_PENDING_AFTER, exc_info=True,
            )

    transaction.on_commit(enqueue)


def _stored_name(filename: str) -> str:
    # The original name is metadata only: the stored name is ours, so no path tricks reach storage.
    suffix = PurePath(filename).suffix.lower()
    suffix = suffix if suffix in {".csv", ".txt", ".tsv"} else ".csv"
    return f"{uuid.uuid4().hex}{suffix}"


def clean_filename(filename: str) -> str:
    """The last path component of a client-supplied name, without control characters."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    # "a/.." has ".." as its last component: not a file's name, and misleading when shown.
    return name[:255] if name.strip(".") else "upload.csv"


@transaction.atomic
def import_job_create(
    *,
    owner,
    file: File | None = None,
    stored_name: str | None = None,
    filename: str,
    size_bytes: int | None = None,
    encoding: str = "",
    enqueue: bool = True,
) -> ImportJob:
    """Create a pending import of an uploaded file and queue it once this transaction commits.

    Pass either ``file`` (its content is saved to storage) or ``stored_name`` (a file already in
    storage, such as a finished resumable upload).
    """
    encoding = resolve_encoding(encoding or settings.IMPORT_DEFAULT_ENCODING)
    job = ImportJob(
        owner=owner,
        filename=clean_filename(filename),
        encoding=encoding,
        message="Waiting for a worker.",
        enqueued_at=timezone.now() if enqueue else None,
    )
    if file is not None:
        job.file.name = storage_save_or_full(
            job.file.storage, job.file.field.generate_filename(job, _stored_name(job.filename)), file
        )
    elif stored_name:
        job.file.name = stored_name
    else:
        raise ValueError("import_job_create needs a file or a stored_name")
    job.size_bytes = size_bytes if size_bytes is not None else job.file.size
    job.save()
    if enqueue:
        _enqueue_on_commit(job.pk)
    _publish_on_commit(job)
    return job


@contextmanager
def _job_lock(job_id: int) -> Iterator[bool]:
    """Try to take the job's advisory lock for the duration of the block; yield whether we got it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job_id])
        (acquired,) = cursor.fetchone()
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [JOB_LOCK_CLASS, job_id])
            except DatabaseError:
                # The connection is gone, and the lock went with it; make Django reconnect.
                connection.close()


def _lock_session():
    """The database session (raw connection) this process runs queries on right now."""
    connection.ensure_connection()
    return connection.connection


def _check_lock_session(job: ImportJob, session) -> None:
    # Django silently opens a new connection after one was lost (e.g. killed while publishing an
    # event, whose error is swallowed), and the job's session-level lock did not come along.
    # Found by tests/faults/test_database_connection_lost.py: the import went on without its
    # lock, so the reaper would hand it to a second worker while it still ran.
    if connection.connection is not session:
        raise JobLockLost(
            f"Import {job.pk} lost the database session holding its lock; it will resume."
        )


class _JobObserver(ImportObserver):
    """Persists the pipeline's progress on the job, in each chunk's transaction."""

    def __init__(self, job: ImportJob, *, session=None) -> None:
        self.job = job
        self.session = session

    def counting(self, progress: ImportProgress) -> None:
        counted = f" ({progress.percent}% of the file read)" if progress.percent else ""
        self._save_phase(ImportPhase.COUNTING, f"Counting rows…{counted}", progress)

    def started(self, progress: ImportProgress) -> None:
        done = f" Resuming after row {progress.processed_rows:,}." if progress.processed_rows else ""
        self._save_phase(ImportPhase.IMPORTING, f"Importing {progress.total_rows:,} rows.{done}", progress)

    def _save_phase(self, phase: str, message: str, progress: ImportProgress) -> None:
        job = self.job
        job.phase, job.message = phase, message
        job.total_rows = progress.total_rows
        job.heartbeat_at = timezone.now()
        with transaction.atomic():
            self._save(["phase", "message", "total_rows", "heartbeat_at"])
            _publish_on_commit(job)

    def _save(self, fields: list[str]) -> None:
        if self.session is not None:
            # Inside the chunk's transaction: raising rolls back the chunk written without the lock.
            _check_lock_session(self.job, self.session)
        values = {name: getattr(self.job, name) for name in fields}
        if not ImportJob.objects.filter(pk=self.job.pk, status=ImportStatus.PROCESSING).update(
            updated_at=timezone.now(), **values
        ):
            raise ImportInterrupted("the job is no longer processing")

    def chunk_written(self, progress: ImportProgress, errors: list[RowError]) -> None:
        job = self.job
        job.total_rows = progress.total_rows
        job.processed_rows = progress.processed_rows
        job.progress = min(progress.percent, 99)
        job.created_rows, job.updated_rows = progress.created, progress.updated
        job.unchanged_rows, job.skipped_rows = progress.unchanged, progress.skipped
        job.resume_offset, job.resume_line = progress.offset, progress.line
        job.heartbeat_at = timezone.now()
        job.error_count += len(errors)
        room = FIRST_ERRORS_KEPT - len(job.errors)
        if room > 0 and errors:
            job.errors = job.errors + [error.as_dict() for error in errors[:room]]
        job.message = (
            f"Imported {progress.processed_rows:,} of {progress.total_rows:,} rows."
        )
        self._save(
            [
                "total_rows", "processed_rows", "progress", "created_rows", "updated_rows",
                "unchanged_rows", "skipped_rows", "resume_offset", "resume_line", "heartbeat_at",
                "error_count", "errors", "message",
            ]
        )
        if errors:
            ImportRowError.objects.bulk_create(
                [ImportRowError(job=job, line=e.line, sku=e.sku, reason=e.reason) for e in errors],
                batch_size=5000,
            )
        _publish_on_commit(job)


def _progress_of(job: ImportJob) -> ImportProgress | None:
    if not job.resume_offset:
        return None
    return ImportProgress(
        total_rows=job.total_rows,
        processed_rows=job.processed_rows,
        created=job.created_rows,
        updated=job.updated_rows,
        unchanged=job.unchanged_rows,
        skipped=job.skipped_rows,
        offset=job.resume_offset,
        line=job.resume_line,
        size_bytes=job.size_bytes,
    )


def _summary(job: ImportJob) -> str:
    parts = [f"{job.created_rows:,} created", f"{job.updated_rows:,} updated"]
    if job.unchanged_rows:
        parts.append(f"{job.unchanged_rows:,} unchanged")
    parts.append(f"{job.skipped_rows:,} skipped")
    return f"{job.processed_rows:,} rows: " + ", ".join(parts) + "."


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a pending job, or resume one whose worker died, unless someone else is running it.

    Safe to call for the same job any number of times, concurrently too: the advisory lock lets
    one caller in, the state machine turns finished jobs into no-ops, and a resumed job starts
    after its last committed chunk.
    """
    with _job_lock(job_id) as acquired:
        if not acquired:
            logger.info("Import %s is already running elsewhere; nothing to do.", job_id)
            return None
        session = _lock_session()
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job
        if job.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            with transaction.atomic():
                _transition(
                    job, expected=(ImportStatus.PENDING, ImportStatus.PROCESSING),
                    target=ImportStatus.FAILED, phase=ImportPhase.FAILED,
                    finished_at=timezone.now(),
                    message=(
                        f"Import stopped after {job.attempts} attempts: its worker kept stopping "
                        f"(out of memory, or killed?). {_summary(job)}"
                    ),
                )
                _publish_on_commit(job)
            return job
        now = timezone.now()
        with transaction.atomic():
            moved = _transition(
                job, expected=(ImportStatus.PENDING, ImportStatus.PROCESSING),
                target=ImportStatus.PROCESSING, started_at=job.started_at or now,
                heartbeat_at=now, attempts=F("attempts") + 1,
                message="Starting…" if not job.processed_rows else "Resuming…",
            )
            if not moved:
                return job
            _publish_on_commit(job)
        job.attempts += 1
        _run_pipeline(job, session=session)
        return job


def _run_pipeline(job: ImportJob, *, session=None) -> None:
    try:
        handle = job.file.open("rb")
    except (FileNotFoundError, OSError, ValueError):
        _finish_failed(
            job,
            "The uploaded file is no longer available on the server, so the import cannot run. "
            "Upload the file again.",
        )
        return
    try:
        with handle:
            result = import_csv(
                file=handle,
                size_bytes=job.size_bytes,
                encoding=job.encoding,
                chunk_size=settings.IMPORT_CHUNK_SIZE,
                resume=_progress_of(job),
                observer=_JobObserver(job, session=session),
            )
    except FileRejected as exc:
        _finish_failed(job, str(exc))
        return
    except ImportInterrupted:
        # Cancelled (or handed back by the reaper) between chunks: whoever did it has already
        # recorded and published the job's state.
        return
    if session is not None:
        _check_lock_session(job, session)
    with transaction.atomic():
        done = _transition(
            job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.COMPLETED,
            phase=ImportPhase.COMPLETE, progress=100, finished_at=timezone.now(),
            total_rows=result.progress.total_rows, processed_rows=result.progress.processed_rows,
            heartbeat_at=timezone.now(),
            message=(
                "The file has a header but no rows." if not result.progress.processed_rows
                else f"Imported {_summary(job)}"
            ),
        )
        if not done:
            job.refresh_from_db()
        _publish_on_commit(job)


def _finish_failed(job: ImportJob, message: str) -> None:
    with transaction.atomic():
        if job.processed_rows:
            message += f" Before it stopped, {_summary(job)}"
        _transition(
            job, expected=(ImportStatus.PENDING, ImportStatus.PROCESSING),
            target=ImportStatus.FAILED, phase=ImportPhase.FAILED,
            finished_at=timezone.now(), message=message,
        )
        _publish_on_commit(job)


def import_job_fail(*, job_id: int, reason: str) -> None:
    """Fail a job that raised unexpectedly; the reason is shown to the user."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None and not job.is_finished:
        _finish_failed(job, reason)


@transaction.atomic
def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Cancel a pending or running import.

    A running import stops at its next chunk boundary; the chunk in flight rolls back, so the job
    accounts exactly for the products already written, which are kept.
    """
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.is_finished:
        raise InvalidTransition(f"This import is already {job.status} and cannot be cancelled.")
    if job.processed_rows:
        message = (
            f"Cancelled after {job.processed_rows:,} of {job.total_rows or 0:,} rows. "
            f"The products already imported were kept: {_summary(job)}"
        )
    else:
        message = "Cancelled before any product was imported."
    _transition(
        job, expected=(job.status,), target=ImportStatus.CANCELLED, phase=ImportPhase.CANCELLED,
        finished_at=timezone.now(), message=message,
    )
    _publish_on_commit(job)
    return job


def import_jobs_reap() -> list[int]:
    """Hand back to the queue every job whose worker died, and re-send lost pending messages.

    A processing job whose advisory lock is free has no live worker (PostgreSQL dropped the lock
    with the worker's connection): it goes back to pending and is resumed from its last committed
    chunk. A pending job queued long ago is sent again, in case its message was lost; a duplicate
    message is harmless.
    """
    requeued: list[int] = []
    for job in ImportJob.objects.filter(status=ImportStatus.PROCESSING).order_by("id"):
        with _job_lock(job.pk) as acquired:
            if not acquired:
                continue
            with transaction.atomic():
                moved = _transition(
                    job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.PENDING,
                    phase=ImportPhase.QUEUED, enqueued_at=timezone.now(),
                    message=(
                        "The worker running this import stopped; it will resume after row "
                        f"{job.processed_rows:,}."
                    ),
                )
                if moved:
                    _publish_on_commit(job)
        if moved:
            # Enqueued only after the lock is released, so the next worker can take it.
            _enqueue_on_commit(job.pk)
            requeued.append(job.pk)
            logger.warning("Import %s lost its worker; queued to resume.", job.pk)

    stale = timezone.now() - timedelta(seconds=settings.IMPORT_REQUEUE_PENDING_AFTER)
    for job_id in ImportJob.objects.filter(
        status=ImportStatus.PENDING, enqueued_at__lt=stale
    ).values_list("pk", flat=True):
        ImportJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
        _enqueue_on_commit(job_id)
        requeued.append(job_id)
        logger.warning("Import %s has waited long for a worker; queued again.", job_id)
    return requeued

