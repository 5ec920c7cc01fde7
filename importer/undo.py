"""Undoing an import: whether it can be undone, creating the undo job, and running it.

An undo is an ``ImportJob`` of kind ``undo`` whose ``undoes`` is the import. It goes through the
same state machine, worker task (``run_import``), job lock, reaper, cancel and event stream as an
import. Its run goes through the import's undo data (``importer.undo_data``) in batches, each one
transaction that holds the catalogue write lock and records the job's progress and resume point
(``undo_cursor``), so a killed worker's undo resumes after its last committed batch.

Only one undo of an import at a time: creating one sets the import's ``undone_by`` under its row
lock, and a cancelled or failed undo clears it again (``undo_release``), so the import can be undone
again — the batches are idempotent, so the second undo finishes the work of the first.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from importer.events import import_job_publish_on_commit
from importer.locks import check_lock_session, lock_catalog_for_write
from importer.models import ImportJob
from importer.pipeline import ImportInterrupted
from importer.queue import enqueue_import_on_commit
from importer.states import ImportPhase, ImportStatus, JobKind, transition
from importer.undo_data import UNDO_SAMPLE_CONFLICTS, undo_items, undo_next_batch, undo_start_cursor
from importer.undo_rules import undo_refusal


def undo_recorded() -> bool:
    """Whether imports record undo data now: IMPORT_UNDO_DAYS=0 turns undo off."""
    return settings.IMPORT_UNDO_DAYS > 0


class UndoRefused(Exception):
    """This import cannot be undone now (already undone, being undone, not completed, expired)."""


class UndoInvalid(Exception):
    """This job is not something an undo applies to (an undo, a preview)."""


@transaction.atomic
def import_job_undo(*, job: ImportJob, owner, force: bool = False) -> ImportJob:
    """Create (and queue) the undo of a completed import; return the undo job.

    Raises ``UndoInvalid`` for an undo or a preview, ``UndoRefused`` when the import cannot be
    undone now (with the reason). ``force`` also undoes products changed since the import.
    """
    original = ImportJob.objects.select_for_update().get(pk=job.pk)
    if original.kind == JobKind.UNDO:
        raise UndoInvalid("An undo cannot be undone: import the file again to put its changes back.")
    if original.preview_only or original.status == ImportStatus.PREVIEWED:
        raise UndoInvalid("A preview changed nothing, so there is nothing to undo.")
    refused = undo_refusal(original, now=timezone.now(), force=force)
    if refused:
        raise UndoRefused(refused)
    undo = ImportJob.objects.create(
        kind=JobKind.UNDO, undoes=original, owner=owner, filename=original.filename,
        encoding=original.encoding, undo_force=force, enqueued_at=timezone.now(),
        message=f"Waiting for a worker to undo import #{original.pk}.",
        undo_cursor=undo_start_cursor(),
    )
    # A forced undo after one that left conflicts takes over: the import is "being undone" again
    # until it completes (and goes back to the earlier undo if it does not: ``undo_release``).
    ImportJob.objects.filter(pk=original.pk).update(undone_by=undo, undone_at=None, updated_at=timezone.now())
    original.undone_by, original.undone_at = undo, None
    enqueue_import_on_commit(undo.pk)
    import_job_publish_on_commit(undo)
    import_job_publish_on_commit(original)
    return undo


def undo_release(job: ImportJob) -> None:
    """An undo ended without completing (cancelled, failed): its import may be undone again, or
    is again as its last completed undo left it. Call in the transaction that ends it."""
    if job.kind != JobKind.UNDO or job.undoes_id is None:
        return
    earlier = (
        ImportJob.objects.filter(undoes_id=job.undoes_id, status=ImportStatus.COMPLETED)
        .exclude(pk=job.pk).order_by("-finished_at", "-id").first()
    )
    if ImportJob.objects.filter(pk=job.undoes_id, undone_by=job).update(
        undone_by=earlier, undone_at=earlier.finished_at if earlier else None, updated_at=timezone.now()
    ):
        original = ImportJob.objects.filter(pk=job.undoes_id).first()
        if original is not None:
            import_job_publish_on_commit(original)


def undo_run(job: ImportJob, *, session) -> None:
    """Run (or resume) an undo job that ``import_job_run`` has moved to processing.

    ``session`` is the connection that holds the job lock; every batch checks it is still the one
    its queries run on. Stops quietly (``ImportInterrupted``) once the job is no longer processing.
    """
    try:
        if job.total_rows is None:
            _save(job, session, phase=ImportPhase.UNDOING, total_rows=undo_items(import_id=job.undoes_id),
                  message=f"Undoing import #{job.undoes_id}.", publish=True)
        elif job.phase != ImportPhase.UNDOING:
            _save(job, session, phase=ImportPhase.UNDOING,
                  message=f"Undoing import #{job.undoes_id}; resuming after {job.processed_rows:,} products.",
                  publish=True)
        cursor = job.undo_cursor or undo_start_cursor()
        while True:
            with transaction.atomic():
                lock_catalog_for_write()
                batch = undo_next_batch(
                    import_id=job.undoes_id, cursor=cursor, limit=settings.IMPORT_CHUNK_SIZE,
                    force=job.undo_force, sample=max(0, UNDO_SAMPLE_CONFLICTS - len(job.conflict_sample)),
                )
                if batch is None:
                    break
                cursor = batch.cursor
                processed = job.processed_rows + batch.handled
                _save(
                    job, session, publish=True, undo_cursor=cursor, processed_rows=processed,
                    total_rows=max(job.total_rows or 0, processed),
                    progress=min(99, int(processed * 100 / job.total_rows)) if job.total_rows else 0,
                    deleted_rows=job.deleted_rows + batch.deleted,
                    restored_rows=job.restored_rows + batch.restored,
                    forced_rows=job.forced_rows + batch.forced,
                    conflict_rows=job.conflict_rows + batch.conflicts,
                    conflict_sample=job.conflict_sample + batch.sample,
                    message=f"Undoing import #{job.undoes_id}: {processed:,} of {job.total_rows:,} products.",
                )
    except ImportInterrupted:
        return
    check_lock_session(job.pk, session)
    _finish(job)


def _save(job: ImportJob, session, *, publish: bool = False, **fields) -> None:
    """Record the undo's progress in the current transaction, unless it is no longer processing."""
    check_lock_session(job.pk, session)
    fields["heartbeat_at"] = timezone.now()
    with transaction.atomic():
        if not ImportJob.objects.filter(pk=job.pk, status=ImportStatus.PROCESSING).update(
            updated_at=timezone.now(), **fields
        ):
            raise ImportInterrupted("the undo is no longer processing")
        for name, value in fields.items():
            setattr(job, name, value)
        if publish:
            import_job_publish_on_commit(job)


def _products(count: int, what: str) -> str:
    return f"{count:,} {what.replace('{s}', '' if count == 1 else 's')}"


def undo_summary(job: ImportJob) -> str:
    """An undo's counts in one sentence, for its messages."""
    parts = [_products(job.deleted_rows, "created product{s} deleted"),
             _products(job.restored_rows, "updated product{s} restored")]
    if job.forced_rows:
        parts.append(f"{job.forced_rows:,} of them changed since the import (forced)")
    if job.conflict_rows:
        they, them = ("it is", "it") if job.conflict_rows == 1 else ("they are", "them")
        parts.append(
            _products(job.conflict_rows, f"product{{s}} changed since the import left as {they}")
            + f" (undo with force to undo {them} too)"
        )
    return ", ".join(parts) + "."


def _finish(job: ImportJob) -> None:
    now = timezone.now()
    with transaction.atomic():
        done = transition(
            job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.COMPLETED,
            progress=100, finished_at=now, heartbeat_at=now, total_rows=job.processed_rows,
            message=f"Undid import #{job.undoes_id}: {undo_summary(job)}",
        )
        if not done:
            job.refresh_from_db()
        import_job_publish_on_commit(job)
        if done:
            ImportJob.objects.filter(pk=job.undoes_id, undone_by=job).update(undone_at=now, updated_at=now)
            original = ImportJob.objects.get(pk=job.undoes_id)
            import_job_publish_on_commit(original)

