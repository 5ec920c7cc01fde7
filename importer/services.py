"""Import job lifecycle: create, run (or resume), cancel, fail, and reap jobs whose worker died.

The Celery task, the API and the management command are thin callers of these functions. Every
status change goes through ``importer.states.transition``; every run holds the job lock
(``importer.locks``); the progress of a run is recorded by ``importer.progress``.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from importer import signals
from importer.events import import_job_publish_on_commit
from importer.import_path import ImportPath, import_path_choose
from importer.locks import bulk_load_lock, check_lock_session, job_lock, lock_session
from importer.mapping import (
    MappingInvalid,
    apply_remembered,
    columns_for_mapping,
    header_set_key,
    remembered_targets,
    resolve_mapping,
)
from importer.models import DeferredRow, ImportJob, ImportRowError, RememberedMapping
from importer.pipeline import DeferredRows, FileRejected, ImportInterrupted, import_csv, resolve_encoding
from importer.pipeline.bulk import BulkOptions, bulk_import_csv
from importer.pipeline.header import ColumnsUnmapped, HeaderRow, read_header
from importer.pipeline.shadow import drop_shadow, shadow_table, shadow_tables
from importer.progress import JobProgressRecorder, job_summary, progress_of
from importer.queue import enqueue_import_on_commit
from importer.scan_store import StoredScan
from importer.states import (
    ACTIVE_STATUSES,
    BULK_PHASES,
    FINISHED_STATUSES,
    WAITING_STATUSES,
    ImportPhase,
    ImportStatus,
    InvalidTransition,
    JobKind,
    transition,
)
from importer.storage import StorageUnavailable, clean_filename, storage_save_or_full, unique_stored_name
from importer.undo import undo_recorded, undo_release, undo_run

logger = logging.getLogger(__name__)


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
    columns: dict | None = None,
    preview: bool = False,
) -> ImportJob:
    """Create a pending import of an uploaded file and queue it once this transaction commits.

    Pass either ``file`` (its content is saved to storage) or ``stored_name`` (a file already in
    storage, such as a finished resumable upload). ``columns`` is a column mapping ({header:
    target}), checked here against the file's header (``MappingInvalid``) and remembered for the
    owner; ``preview`` makes the run compare the file with the catalogue and write no product.
    """
    encoding = resolve_encoding(encoding or settings.IMPORT_DEFAULT_ENCODING)
    job = ImportJob(
        owner=owner,
        filename=clean_filename(filename),
        encoding=encoding,
        message="Waiting for a worker.",
        enqueued_at=timezone.now() if enqueue else None,
        preview_only=preview,
    )
    if columns is not None:
        # Checked before the file is stored, so a bad mapping leaves nothing behind. Reading the
        # header costs at most MAX_HEADER_BYTES.
        header = _header_of(file=file, stored_name=stored_name, storage=job.file.storage, encoding=encoding)
        job.mapping, job.mapping_positions = resolve_mapping(columns, names=header.names)
        _remember_mapping(owner=owner, names=header.names, confirmed=job.mapping)
    if file is not None:
        job.file.name = storage_save_or_full(
            job.file.storage, job.file.field.generate_filename(job, unique_stored_name(job.filename)), file
        )
    elif stored_name:
        job.file.name = stored_name
    else:
        raise ValueError("import_job_create needs a file or a stored_name")
    job.size_bytes = size_bytes if size_bytes is not None else job.file.size
    job.save()
    if enqueue:
        enqueue_import_on_commit(job.pk)
    import_job_publish_on_commit(job)
    return job


def _header_of(*, file: File | None, stored_name: str | None, storage, encoding: str) -> HeaderRow:
    try:
        if file is not None:
            file.seek(0)
            try:
                return read_header(file, encoding=encoding)
            finally:
                file.seek(0)
        with storage.open(stored_name, "rb") as handle:
            return read_header(handle, encoding=encoding)
    except FileRejected as exc:
        raise MappingInvalid(f"The columns cannot be mapped: {exc}") from None


def _remember_mapping(*, owner, names: list[str], confirmed: dict[str, str]) -> None:
    if owner is None:
        return
    RememberedMapping.objects.update_or_create(
        owner=owner, header_key=header_set_key(names),
        defaults={"headers": names[:200], "targets": remembered_targets(names, confirmed)},
    )


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Run a pending job, or resume one whose worker died, unless someone else is running it.

    Safe to call for the same job any number of times, concurrently too: the job lock lets one
    caller in, the state machine turns finished jobs into no-ops, and a resumed job starts after
    its last committed chunk.
    """
    with job_lock(job_id) as acquired:
        if not acquired:
            logger.info("Import %s is already running elsewhere; nothing to do.", job_id)
            return None
        session = lock_session()
        job = ImportJob.objects.filter(pk=job_id).first()
        if job is None or job.is_finished:
            return job
        if job.attempts >= settings.IMPORT_MAX_ATTEMPTS:
            _finish_failed(
                job,
                f"Import stopped after {job.attempts} attempts: its worker kept stopping (out of "
                "memory, or killed?).",
            )
            return job
        now = timezone.now()
        with transaction.atomic():
            moved = transition(
                job, expected=(ImportStatus.PENDING, ImportStatus.PROCESSING),
                target=ImportStatus.PROCESSING, started_at=job.started_at or now,
                heartbeat_at=now, attempts=F("attempts") + 1,
                message="Starting…" if not job.processed_rows else "Resuming…",
            )
            if not moved:
                return job
            import_job_publish_on_commit(job)
        job.attempts += 1
        if job.kind == JobKind.UNDO:
            undo_run(job, session=session)
        else:
            _run_pipeline(job, session=session)
        return job


def _run_pipeline(job: ImportJob, *, session) -> None:
    try:
        handle = job.file.open("rb")
    except StorageUnavailable:
        raise  # the object store did not answer: the task retries, the file is still there
    except (FileNotFoundError, OSError, ValueError):
        _finish_failed(
            job,
            "The uploaded file is no longer available on the server, so the import cannot run. "
            "Upload the file again.",
        )
        return
    resume = progress_of(job)
    if resume is None:
        _forget_unpublished_progress(job)
    path = import_path_choose(preview=job.preview_only, resuming=resume is not None)

    def run():
        if path.bulk:
            return bulk_import_csv(
                file=handle,
                size_bytes=job.size_bytes,
                encoding=job.encoding,
                chunk_size=settings.IMPORT_CHUNK_SIZE,
                observer=JobProgressRecorder(job, session=session, reason=path.reason),
                positions=job.mapping_positions,
                key=job.pk,
                options=BulkOptions(
                    index_workers=settings.IMPORT_BULK_INDEX_WORKERS,
                    maintenance_work_mem=settings.IMPORT_BULK_MAINTENANCE_WORK_MEM,
                    swap_lock_timeout_ms=settings.IMPORT_BULK_SWAP_LOCK_TIMEOUT_MS,
                    reason=path.reason,
                    record_undo=undo_recorded(),
                ),
            )
        return import_csv(
            file=handle,
            size_bytes=job.size_bytes,
            encoding=job.encoding,
            chunk_size=settings.IMPORT_CHUNK_SIZE,
            resume=resume,
            observer=JobProgressRecorder(job, session=session, reason=path.reason),
            deferred=DeferredRows(job_id=job.pk),
            positions=job.mapping_positions,
            preview=job.preview_only,
            scans=StoredScan(job_id=job.pk),
            record_undo=undo_recorded(),
        )

    try:
        with handle, ExitStack() as held:
            if path.bulk and not held.enter_context(bulk_load_lock()):
                path = ImportPath(bulk=False, reason="In chunks: another import is loading in bulk.")
            try:
                result = run()
            except ColumnsUnmapped as exc:
                # Raised before anything was written. The owner's remembered mapping of the same
                # headers is applied without asking; otherwise a person chooses the columns.
                if not _apply_remembered_mapping(job, exc.header):
                    _stop_for_mapping(job, exc, handle=handle)
                    return
                result = run()
    except FileRejected as exc:
        _finish_failed(job, str(exc))
        return
    except ImportInterrupted:
        # Cancelled (or handed back by the reaper) between chunks: whoever did it has already
        # recorded and published the job's state. A cancelled job's held-back rows go now; the
        # reaper's job keeps them, and its stored scan, for its next run.
        if ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CANCELLED).exists():
            DeferredRows(job_id=job.pk).discard()
            StoredScan(job_id=job.pk).forget()
        return
    check_lock_session(job.pk, session)
    StoredScan(job_id=job.pk).forget()  # the run read the whole file: nothing left to resume
    if job.preview_only:
        _finish_previewed(job, result)
        return
    # An import run with undo off (IMPORT_UNDO_DAYS=0) recorded no undo data (a resumed one,
    # perhaps only part of it): it says so rather than offer an undo that would be incomplete.
    discarded = {} if undo_recorded() else {
        "undo_discarded_at": timezone.now(),
        "undo_discarded_reason": "undo was off (IMPORT_UNDO_DAYS=0) when it ran.",
    }
    with transaction.atomic():
        done = transition(
            job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.COMPLETED, **discarded,
            progress=100, finished_at=timezone.now(), heartbeat_at=timezone.now(),
            total_rows=result.progress.total_rows, processed_rows=result.progress.processed_rows,
            message=(
                "The file has a header but no rows." if not result.progress.processed_rows
                else f"Imported {job_summary(job)}" + (f" {path.done}" if path.bulk else "")
            ),
        )
        if not done:
            job.refresh_from_db()
        import_job_publish_on_commit(job)
        if done:
            _send_finished_on_commit(job)


def _forget_unpublished_progress(job: ImportJob) -> None:
    """Start a run with no resume point from zero: a bulk load that stopped before its swap
    recorded rows read and row errors that a new run will read and record again."""
    if not (job.processed_rows or job.stored_errors or job.skipped_rows):
        return
    ImportRowError.objects.filter(job=job).delete()
    fields = dict(
        processed_rows=0, created_rows=0, updated_rows=0, unchanged_rows=0, superseded_rows=0,
        skipped_rows=0, stored_errors=0, errors=[], progress=0,
    )
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    for name, value in fields.items():
        setattr(job, name, value)


def _wrote_nothing(job: ImportJob) -> bool:
    """A bulk load stopped before its swap: no product of its file is in the catalogue."""
    return job.phase in BULK_PHASES and not job.resume_offset


def _drop_shadow(job_id: int) -> None:
    with connection.cursor() as cursor:
        drop_shadow(cursor, shadow=shadow_table(job_id))


def _apply_remembered_mapping(job: ImportJob, header: HeaderRow) -> bool:
    if job.owner_id is None:
        return False
    remembered = RememberedMapping.objects.filter(
        owner_id=job.owner_id, header_key=header_set_key(header.names)
    ).first()
    if remembered is None:
        return False
    try:
        confirmed, positions = resolve_mapping(
            apply_remembered(header.names, remembered.targets), names=header.names
        )
    except MappingInvalid:
        return False
    job.mapping, job.mapping_positions = confirmed, positions
    ImportJob.objects.filter(pk=job.pk).update(mapping=confirmed, mapping_positions=positions)
    return True


def _stop_for_mapping(job: ImportJob, exc: ColumnsUnmapped, *, handle) -> None:
    columns = columns_for_mapping(handle, header=exc.header, encoding=job.encoding)
    with transaction.atomic():
        moved = transition(
            job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.NEEDS_MAPPING,
            phase=ImportPhase.QUEUED, heartbeat_at=timezone.now(),
            columns=[column.as_dict() for column in columns],
            message=f"{exc} Choose which column is the SKU and which is the name to go on.",
        )
        if moved:
            import_job_publish_on_commit(job)


def _finish_previewed(job: ImportJob, result) -> None:
    progress = result.progress
    summary = {
        "create": progress.created, "update": progress.updated, "unchanged": progress.unchanged,
        "superseded": progress.superseded, "skipped": progress.skipped,
    }
    with transaction.atomic():
        done = transition(
            job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.PREVIEWED,
            progress=100, heartbeat_at=timezone.now(), phase=ImportPhase.QUEUED,
            total_rows=progress.total_rows, processed_rows=progress.processed_rows,
            preview=summary, changes=list(progress.changes),
            message=(
                f"Preview of {progress.processed_rows:,} rows: {progress.created:,} would be created, "
                f"{progress.updated:,} updated, {progress.unchanged:,} unchanged, "
                f"{progress.superseded:,} superseded by a later row, {progress.skipped:,} skipped. "
                "Nothing has been changed yet: import or discard it."
            ),
        )
        if not done:
            job.refresh_from_db()
        import_job_publish_on_commit(job)


@transaction.atomic
def import_job_map(*, job: ImportJob, columns: dict) -> ImportJob:
    """Give a job waiting in ``needs_mapping`` its column mapping, remember it, and queue it."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.NEEDS_MAPPING:
        raise InvalidTransition(
            f"This import is {job.status}: only an import that needs a column mapping takes one."
        )
    names = [column["header"] for column in job.columns or []]
    confirmed, positions = resolve_mapping(columns, names=names)
    _remember_mapping(owner=job.owner, names=names, confirmed=confirmed)
    transition(
        job, expected=(ImportStatus.NEEDS_MAPPING,), target=ImportStatus.PENDING,
        mapping=confirmed, mapping_positions=positions, enqueued_at=timezone.now(), attempts=0,
        phase=ImportPhase.QUEUED, message="Columns mapped. Waiting for a worker.",
    )
    enqueue_import_on_commit(job.pk)
    import_job_publish_on_commit(job)
    return job


@transaction.atomic
def import_job_confirm(*, job: ImportJob) -> ImportJob:
    """Import a previewed job's stored file for real, as a fresh run (no new upload).

    The catalogue may have changed since the preview: the import reads the file again and merges
    it into the catalogue as it is then, so it does the right thing; the preview's counts and
    sample stay on the job for comparison.
    """
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.PREVIEWED:
        raise InvalidTransition(f"This import is {job.status}: only a previewed import can be confirmed.")
    ImportRowError.objects.filter(job=job).delete()
    DeferredRows(job_id=job.pk).discard()
    StoredScan(job_id=job.pk).forget()
    transition(
        job, expected=(ImportStatus.PREVIEWED,), target=ImportStatus.PENDING,
        preview_only=False, enqueued_at=timezone.now(), attempts=0, phase=ImportPhase.QUEUED,
        total_rows=None, processed_rows=0, progress=0, created_rows=0, updated_rows=0,
        unchanged_rows=0, superseded_rows=0, skipped_rows=0, stored_errors=0, errors=[],
        resume_offset=0, resume_line=0, started_at=None, heartbeat_at=None,
        message="Confirmed. Waiting for a worker to import it.",
    )
    enqueue_import_on_commit(job.pk)
    import_job_publish_on_commit(job)
    return job


def _finish_failed(job: ImportJob, message: str) -> None:
    with transaction.atomic():
        if job.kind == JobKind.UNDO:
            message += _undo_stopped_text(job)
        elif job.processed_rows and not job.preview_only and not _wrote_nothing(job):
            message += f" Before it stopped, {job_summary(job)}"
        elif _wrote_nothing(job):
            message += " It was loading in bulk: nothing was imported, the catalogue is as it was."
        failed = transition(
            job, expected=(ImportStatus.PENDING, ImportStatus.PROCESSING, *WAITING_STATUSES),
            target=ImportStatus.FAILED, finished_at=timezone.now(), message=message,
        )
        if failed:
            undo_release(job)
        DeferredRows(job_id=job.pk).discard()
        _drop_shadow(job.pk)
        StoredScan(job_id=job.pk).forget()
        import_job_publish_on_commit(job)
        if failed:
            _send_finished_on_commit(job)


def _undo_stopped_text(job: ImportJob) -> str:
    if not job.processed_rows:
        return f" Nothing was changed; import #{job.undoes_id} can be undone again."
    return (
        f" The products already put back stay so ({job.deleted_rows:,} deleted, {job.restored_rows:,} "
        f"restored); undo import #{job.undoes_id} again to finish."
    )


def _send_finished_on_commit(job: ImportJob) -> None:
    # Once, by whoever made the transition, and only after it committed (listeners: webhooks).
    # An undo is not an import's end: it has no webhook event of its own yet (README, known limits).
    if job.kind == JobKind.UNDO:
        return
    transaction.on_commit(lambda: signals.import_finished.send(sender=ImportJob, job=job))


def import_job_fail(*, job_id: int, reason: str) -> None:
    """Fail a job that raised unexpectedly; the reason is shown to the user."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None and not job.is_finished:
        _finish_failed(job, reason)


@transaction.atomic
def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """Cancel a pending or running import.

    A running import stops at its next chunk boundary; the chunk in flight rolls back, so the job
    accounts exactly for the products already written, which are kept. Rows held back until the
    end of the file (a repeated SKU) are not imported.
    """
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    was_running = job.status == ImportStatus.PROCESSING
    if job.is_finished:
        raise InvalidTransition(f"This import is already {job.status} and cannot be cancelled.")
    if job.kind == JobKind.UNDO:
        message = "Undo cancelled." + _undo_stopped_text(job)
    elif job.status == ImportStatus.PREVIEWED:
        message = "Preview discarded; nothing was imported."
    elif job.status == ImportStatus.NEEDS_MAPPING:
        message = "Cancelled before the columns were mapped; nothing was imported."
    elif job.preview_only:
        message = "Preview cancelled; nothing was imported."
    elif _wrote_nothing(job):
        message = "Cancelled while loading in bulk: nothing was imported, the catalogue is as it was."
    elif job.processed_rows:
        message = (
            f"Cancelled after {job.processed_rows:,} of {job.total_rows or 0:,} rows. "
            f"The products already imported were kept: {job_summary(job)}"
        )
    else:
        message = "Cancelled before any product was imported."
    transition(
        job, expected=(job.status,), target=ImportStatus.CANCELLED,
        finished_at=timezone.now(), message=message,
    )
    undo_release(job)
    if not was_running:
        # A running job's worker may hold some of these rows locked while it merges them, and it
        # waits for this transaction's lock on the job: it deletes them itself when it stops (or
        # the reaper does, if it is gone).
        DeferredRows(job_id=job.pk).discard()
        StoredScan(job_id=job.pk).forget()
    import_job_publish_on_commit(job)
    return job


def import_jobs_reap() -> list[int]:
    """Hand back to the queue every job whose worker died, and re-send lost pending messages.

    A processing job whose lock is free has no live worker (PostgreSQL dropped the lock with the
    worker's connection): it goes back to pending and is resumed from its last committed chunk. A
    pending job queued long ago is sent again, in case its message was lost; a duplicate message is
    harmless. Rows held back for a job that was cancelled while its worker was gone are deleted.
    """
    requeued: list[int] = []
    for job in ImportJob.objects.filter(status=ImportStatus.PROCESSING).order_by("id"):
        with job_lock(job.pk) as acquired:
            if not acquired:
                continue
            with transaction.atomic():
                moved = transition(
                    job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.PENDING,
                    phase=ImportPhase.QUEUED, enqueued_at=timezone.now(),
                    message=(
                        "The worker running this import stopped; it will resume after row "
                        f"{job.processed_rows:,}."
                    ),
                )
                if moved:
                    import_job_publish_on_commit(job)
        if moved:
            # Enqueued only after the lock is released, so the next worker can take it.
            enqueue_import_on_commit(job.pk)
            requeued.append(job.pk)
            logger.warning("Import %s lost its worker; queued to resume.", job.pk)

    DeferredRow.objects.filter(job__status__in=FINISHED_STATUSES).delete()
    _drop_orphan_shadows()

    stale = timezone.now() - timedelta(seconds=settings.IMPORT_REQUEUE_PENDING_AFTER)
    for job_id in ImportJob.objects.filter(
        status=ImportStatus.PENDING, enqueued_at__lt=stale
    ).values_list("pk", flat=True):
        ImportJob.objects.filter(pk=job_id).update(enqueued_at=timezone.now())
        enqueue_import_on_commit(job_id)
        requeued.append(job_id)
        logger.warning("Import %s has waited long for a worker; queued again.", job_id)
    return requeued


def _drop_orphan_shadows() -> None:
    """Drop the shadow tables of bulk loads nobody runs any more (their worker died, the job
    ended). A job still queued keeps its own: its next run drops it before it starts over."""
    with connection.cursor() as cursor:
        tables = shadow_tables(cursor)
    for name, job_id in tables:
        with job_lock(job_id) as acquired:
            if not acquired:
                continue  # a live worker is loading it
            if ImportJob.objects.filter(pk=job_id, status__in=ACTIVE_STATUSES).exists():
                continue
            with connection.cursor() as cursor:
                drop_shadow(cursor, shadow=name)
            logger.warning("Dropped %s, the shadow table of a bulk load that no longer runs.", name)
