"""Reads of import jobs and their row errors."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from importer.models import ImportJob, ImportRowError


def import_job_list(*, user) -> QuerySet[ImportJob]:
    """The jobs ``user`` may see, newest first: their own (and the undos of their imports), or
    every job for staff.

    Anyone else's job is simply not in the set, so asking for it by id is a 404 that does not
    reveal whether it exists.
    """
    jobs = ImportJob.objects.all()
    if not user.is_staff:
        # The undos of their imports too: staff may undo anyone's import, and its owner follows it.
        jobs = jobs.filter(Q(owner=user) | Q(undoes__owner=user))
    return jobs.order_by("-created_at", "-id")


def import_jobs_for_display(*, user) -> QuerySet[ImportJob]:
    """``import_job_list`` with what the job JSON reads besides the job: who undid an import
    (``undone_by``'s owner) in the same query, not one query per job of a page."""
    return import_job_list(user=user).select_related("undone_by__owner")


def import_job_row_errors_batch(
    *, job: ImportJob, after: tuple[int, int] | None = None, limit: int = 2000
) -> list[tuple[int, int, str, str]]:
    """Up to ``limit`` skipped rows of ``job`` as (id, line, sku, reason), in file order.

    Pass the (line, id) of the last row of the previous batch as ``after`` to get the next one.
    Each batch is one short query on the (job, line) index, so a caller can stream millions of
    errors without a long-lived cursor (which an async server could not hold across threads).
    """
    errors = ImportRowError.objects.filter(job=job)
    if after is not None:
        line, pk = after
        # line >= x on its own lets PostgreSQL start the (job, line) index scan at the batch's
        # edge; with only the OR it would rescan every earlier row for each batch.
        errors = errors.filter(line__gte=line).filter(Q(line__gt=line) | Q(pk__gt=pk))
    return list(errors.order_by("line", "id").values_list("id", "line", "sku", "reason")[:limit])


def import_job_errors_not_stored(*, job_id: int) -> int:
    """How many of the job's skipped rows were counted but not stored (past IMPORT_MAX_STORED_ERRORS)."""
    counts = ImportJob.objects.filter(pk=job_id).values_list("skipped_rows", "stored_errors").first()
    return max(0, counts[0] - counts[1]) if counts else 0
