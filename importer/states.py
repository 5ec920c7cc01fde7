"""The import job's state machine: its statuses, its phases, and the only way to move between them.

A status change is a compare-and-set UPDATE (``transition``) guarded by ``ALLOWED_TRANSITIONS``,
so two processes can never both move a job, and a transition that finds the job elsewhere says
what it expected. Nothing happens in ``save()``.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # Waiting for a person, with no worker on it: the file's columns must be named (mapping), or
    # the preview's changes must be imported or discarded.
    NEEDS_MAPPING = "needs_mapping", "Needs column mapping"
    PREVIEWED = "previewed", "Previewed"


class ImportPhase(models.TextChoices):
    """Where an active job is. A finished job's phase is its status (``ImportJob.current_phase``)."""

    QUEUED = "queued", "Waiting for a worker"
    COUNTING = "counting", "Counting rows"
    IMPORTING = "importing", "Importing"
    PREVIEWING = "previewing", "Comparing with the catalogue"
    UNDOING = "undoing", "Undoing the import"


class JobKind(models.TextChoices):
    """What a job does: import a file, or undo an earlier import (``importer.undo``)."""

    IMPORT = "import", "Import"
    UNDO = "undo", "Undo"


# PROCESSING -> PENDING is the reaper handing a job whose worker died back to the queue; the next
# worker resumes it from its last committed chunk. PROCESSING -> PROCESSING is a redelivered
# message taking over such a job before the reaper does (it holds the job lock, so the previous
# worker is gone).
# PROCESSING -> NEEDS_MAPPING / PREVIEWED: the worker stops and waits for a person; they go on with
# NEEDS_MAPPING -> PENDING (a mapping was given) or PREVIEWED -> PENDING (confirmed), or end it by
# cancelling. FAILED from both: the file was deleted by retention before anyone came back.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    ImportStatus.PENDING: frozenset({ImportStatus.PROCESSING, ImportStatus.CANCELLED, ImportStatus.FAILED}),
    ImportStatus.PROCESSING: frozenset(
        {ImportStatus.PROCESSING, ImportStatus.PENDING, ImportStatus.COMPLETED, ImportStatus.FAILED,
         ImportStatus.CANCELLED, ImportStatus.NEEDS_MAPPING, ImportStatus.PREVIEWED}
    ),
    ImportStatus.NEEDS_MAPPING: frozenset(
        {ImportStatus.PENDING, ImportStatus.CANCELLED, ImportStatus.FAILED}
    ),
    ImportStatus.PREVIEWED: frozenset({ImportStatus.PENDING, ImportStatus.CANCELLED, ImportStatus.FAILED}),
    ImportStatus.COMPLETED: frozenset(),
    ImportStatus.FAILED: frozenset(),
    ImportStatus.CANCELLED: frozenset(),
}

ACTIVE_STATUSES = (ImportStatus.PENDING, ImportStatus.PROCESSING)
FINISHED_STATUSES = (ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED)
# Neither active (no worker, no catalogue write pending) nor finished (a person can still go on).
WAITING_STATUSES = (ImportStatus.NEEDS_MAPPING, ImportStatus.PREVIEWED)


class InvalidTransition(Exception):
    """A job was not in the state a transition expected."""


def check_transition(source: str, target: str) -> None:
    if target not in ALLOWED_TRANSITIONS[source]:
        raise InvalidTransition(f"an import cannot go from {source} to {target}")


def transition(job, *, expected: tuple[str, ...], target: str, **fields) -> bool:
    """Move ``job`` to ``target`` if it is still in one of ``expected``; return whether it moved.

    On success the instance is updated in memory too, so it can be serialized without a re-read.
    """
    for source in expected:
        check_transition(source, target)
    fields["status"] = target
    moved = type(job)._default_manager.filter(pk=job.pk, status__in=expected).update(
        updated_at=timezone.now(), **fields
    )
    if moved:
        for name, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(job, name, value)
    return bool(moved)
