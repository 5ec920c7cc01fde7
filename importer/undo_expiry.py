"""Expiry of undo data: the beat task that deletes what no undo will ever read again.

An import's undo data (``importer.undo_data``) is kept while the import may still be undone:
until IMPORT_UNDO_DAYS after it finished. It goes earlier when no undo can use it: the import was
undone (with nothing left that a forced undo could take back), or it did not complete (failed,
cancelled: only a completed import can be undone), or its
job is gone. It is never deleted under an import that is still writing it, nor under an undo that
is reading it. Each import is handled under its row lock (SKIP LOCKED: an undo being created holds
it), so expiry and the creation of an undo cannot cross.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from importer.models import ImportJob
from importer.states import ImportStatus
from importer.undo_data import undo_data_delete, undo_data_import_ids

logger = logging.getLogger(__name__)


def undo_data_delete_expired(*, now: datetime | None = None) -> int:
    """Delete the undo data no undo can use any more; return for how many imports."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.IMPORT_UNDO_DAYS)
    deleted = 0
    for import_id in undo_data_import_ids():
        with transaction.atomic():
            job = ImportJob.objects.select_for_update(skip_locked=True).filter(pk=import_id).first()
            if job is None:
                if ImportJob.objects.filter(pk=import_id).exists():
                    continue  # locked: an undo of it is being created; the next run decides
                undo_data_delete(import_id=import_id)  # its job was deleted
                deleted += 1
                continue
            reason = _expiry_reason(job, cutoff=cutoff)
            if not reason:
                continue
            undo_data_delete(import_id=import_id)
            ImportJob.objects.filter(pk=job.pk).update(undo_discarded_at=now, undo_discarded_reason=reason)
            deleted += 1
    if deleted:
        logger.info("Undo data: deleted that of %s imports.", deleted)
    return deleted


def _expiry_reason(job: ImportJob, *, cutoff: datetime) -> str:
    """Why ``job``'s undo data can go now, or "" to keep it."""
    if job.status in (ImportStatus.FAILED, ImportStatus.CANCELLED):
        return f"it {job.status}, and only a completed import can be undone."
    if job.status != ImportStatus.COMPLETED:
        return ""  # still running (or waiting): it may be writing its undo data
    if job.undone_by_id is not None:
        if job.undone_at is None:
            return ""  # an undo of it is reading the data now
        undo = job.undone_by
        if undo.undo_force or not undo.conflict_rows:
            return "it was undone."
        # Undone with conflicts left: a forced undo may still want the data, until the deadline.
    if job.finished_at is not None and job.finished_at <= cutoff:
        return f"its undo data expired {settings.IMPORT_UNDO_DAYS} days after it finished (IMPORT_UNDO_DAYS)."
    return ""
