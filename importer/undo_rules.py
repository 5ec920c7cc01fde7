"""The rules of undo: whether an import can be undone now, what an undo of it will do, and until
when. One place, read by the job JSON (the UI's button) and by the service that creates an undo,
so the two never disagree. Imports only models and states: the serializer uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from importer.models import ImportJob
from importer.states import ImportStatus, JobKind


@dataclass(frozen=True)
class UndoAvailability:
    """Whether an import can be undone, what the undo would do, and until when.

    ``force_available``: an undo completed but left conflicts; a forced undo may still take those
    back (the rest is already done and is passed over).
    """

    available: bool
    deletes: int = 0
    restores: int = 0
    until: datetime | None = None
    reason: str = ""
    force_available: bool = False

    def as_dict(self) -> dict:
        return {
            "available": self.available,
            "force_available": self.force_available,
            "deletes": self.deletes,
            "restores": self.restores,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason or None,
        }


def undo_deadline(job: ImportJob) -> datetime | None:
    """Until when ``job`` can be undone: IMPORT_UNDO_DAYS after it finished."""
    if job.finished_at is None:
        return None
    return job.finished_at + timedelta(days=settings.IMPORT_UNDO_DAYS)


def undo_availability(job: ImportJob, *, now: datetime | None = None) -> UndoAvailability | None:
    """What the job JSON says about undoing ``job`` (None for an undo job), and the rule the
    undo service applies: one function, so the button and the answer never disagree."""
    if job.kind == JobKind.UNDO:
        return None
    now = now or timezone.now()
    counts = {"deletes": job.created_rows, "restores": job.updated_rows, "until": undo_deadline(job)}
    refused = undo_refusal(job, now=now)
    if refused:
        return UndoAvailability(
            available=False, reason=refused, force_available=not undo_refusal(job, now=now, force=True),
            **counts,
        )
    return UndoAvailability(available=True, **counts)


def undo_refusal(job: ImportJob, *, now: datetime, force: bool = False) -> str:
    """Why ``job`` (an import) cannot be undone now (with ``force`` or not), or "" if it can."""
    if job.preview_only or job.status == ImportStatus.PREVIEWED:
        return "A preview changed nothing, so there is nothing to undo."
    if job.undone_by_id is not None:
        undo = job.undone_by
        if job.undone_at is None:
            return f"This import is being undone (undo #{undo.pk})."
        if not (force and undo.conflict_rows and not undo.undo_force):
            left = (
                f" {undo.conflict_rows:,} products changed since the import were left as they are: "
                "undo it with force to undo them too."
                if undo.conflict_rows and not undo.undo_force else ""
            )
            return f"This import was already undone (undo #{undo.pk}).{left}"
    elif job.status != ImportStatus.COMPLETED:
        return f"Only a completed import can be undone; this one is {job.status}."
    if job.undo_discarded_at is not None:
        return f"This import can no longer be undone: {job.undo_discarded_reason}"
    until = undo_deadline(job)
    if until is not None and now > until:
        return (
            f"This import can no longer be undone: imports can be undone for "
            f"{settings.IMPORT_UNDO_DAYS} days (IMPORT_UNDO_DAYS)."
        )
    return ""
