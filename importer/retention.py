"""Retention: import files and completed uploads are deleted ``IMPORT_FILE_RETENTION_DAYS`` after
they were last needed; the jobs, their counts and their stored row errors stay.

Without it every imported file stayed on disk for ever, so one user could fill it at the upload
rate. Only finished jobs lose their file (an active one still reads it; a finished one is never
run again). Each job is handled under its row lock with SKIP LOCKED, and its file is deleted only
after the transaction that records the deletion commits, so a crash leaves at worst a file that
the next run deletes, never a job that points at nothing without saying so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from importer.events import import_job_publish_on_commit
from importer.models import ImportJob
from importer.scan_store import scan_name
from importer.states import FINISHED_STATUSES, WAITING_STATUSES, ImportStatus, transition
from importer.uploads import uploads_forget_where

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionResult:
    """What one run deleted."""

    job_files: int = 0
    uploads: int = 0
    waiting_jobs: int = 0  # jobs nobody mapped or confirmed in time, discarded


def retention_cutoff(*, now: datetime | None = None) -> datetime | None:
    """Files last needed before this moment are deleted; None when retention is off (0 days)."""
    days = settings.IMPORT_FILE_RETENTION_DAYS
    if days <= 0:
        return None
    return (now or timezone.now()) - timedelta(days=days)


def import_files_delete_expired(*, now: datetime | None = None) -> RetentionResult:
    """Delete the files of jobs finished before the cutoff, and uploads completed before it."""
    now = now or timezone.now()
    cutoff = retention_cutoff(now=now)
    if cutoff is None:
        return RetentionResult()
    # First: a job left waiting for a mapping or a confirmation that long is discarded, so its file
    # goes in the same run (a waiting job would otherwise keep its file for ever).
    waiting = _discard_waiting_jobs(cutoff)
    result = RetentionResult(
        job_files=_delete_job_files(cutoff, now), uploads=_delete_uploads(cutoff), waiting_jobs=waiting
    )
    if result.job_files or result.uploads:
        logger.info(
            "Retention: deleted the files of %s finished imports and %s completed uploads.",
            result.job_files,
            result.uploads,
        )
    return result


def _waiting_jobs(cutoff: datetime):
    return ImportJob.objects.filter(status__in=WAITING_STATUSES, updated_at__lte=cutoff)


def _discard_waiting_jobs(cutoff: datetime) -> int:
    discarded = 0
    for pk in _waiting_jobs(cutoff).values_list("pk", flat=True).iterator():
        with transaction.atomic():
            job = _waiting_jobs(cutoff).select_for_update(skip_locked=True).filter(pk=pk).first()
            if job is None:
                continue
            what = "a column mapping" if job.status == ImportStatus.NEEDS_MAPPING else "a confirmation"
            # finished_at is when it was last needed, so its file is past retention at once.
            transition(
                job, expected=(job.status,), target=ImportStatus.CANCELLED, finished_at=job.updated_at,
                message=f"Discarded: it waited for {what} longer than {settings.IMPORT_FILE_RETENTION_DAYS} "
                "days (IMPORT_FILE_RETENTION_DAYS); nothing was imported.",
            )
            import_job_publish_on_commit(job)
            discarded += 1
    return discarded


def _expired_jobs(cutoff: datetime):
    return ImportJob.objects.filter(status__in=FINISHED_STATUSES, finished_at__lte=cutoff).exclude(file="")


def _delete_job_files(cutoff: datetime, now: datetime) -> int:
    deleted = 0
    for pk in _expired_jobs(cutoff).values_list("pk", flat=True).iterator():
        with transaction.atomic():
            job = _expired_jobs(cutoff).select_for_update(skip_locked=True).filter(pk=pk).first()
            if job is None:
                continue
            name, storage = job.file.name, job.file.storage
            ImportJob.objects.filter(pk=job.pk).update(file="", file_deleted_at=now)
            transaction.on_commit(lambda name=name, storage=storage: _delete_quietly(storage, name))
            # A scan left by a run that never finished cleanly (a cancelled job whose worker died).
            transaction.on_commit(lambda pk=job.pk, storage=storage: _delete_quietly(storage, scan_name(pk)))
            deleted += 1
    return deleted


def _delete_uploads(cutoff: datetime) -> int:
    """Completed uploads: unconsumed ones lose their file, consumed ones only their row (the
    file belongs to the job). Unfinished ones are left to ``uploads_expire_stale``."""
    return uploads_forget_where(completed_at__lte=cutoff)


def _delete_quietly(storage, name: str) -> None:
    try:
        storage.delete(name)
    except OSError:
        # Logged, not raised: the job already says its file is gone, and a file left behind only
        # costs space; an operator sees the warning.
        logger.warning("Could not delete the import file %s", name, exc_info=True)
