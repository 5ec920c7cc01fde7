"""Deleting the whole catalogue, which must take turns with imports.

It lives in the importer, not in ``catalog``, because the importer owns both the catalogue write
lock and the jobs whose state decides whether it may happen (dependencies point from importer to
catalog, never back).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from catalog.services import products_delete_all
from importer.locks import lock_catalog_for_write
from importer.models import ImportJob
from importer.states import ACTIVE_STATUSES, JobKind
from importer.undo_data import undo_data_delete_all


class CatalogBusy(Exception):
    """The whole catalogue cannot be changed now because an import is pending or running."""


@transaction.atomic
def products_bulk_delete() -> int:
    """Delete every product, unless an import is pending or processing; return how many.

    The catalogue write lock is taken first, so the delete waits for a chunk being written and no
    chunk can start until it commits. An import queued while the delete waits for the lock still
    makes it refuse; one queued after it committed simply runs after it (into an empty catalogue).
    Refusing instead of waiting for running imports keeps the outcome predictable: deleting
    "everything" while rows are still arriving would leave an arbitrary part of the file behind.
    """
    # One statement over the whole catalogue: it would outlast the web statement timeout at a
    # few hundred thousand products. SET LOCAL ends with this transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)",
                       [str(settings.BULK_DELETE_STATEMENT_TIMEOUT_MS)])
    lock_catalog_for_write()
    active = (
        ImportJob.objects.filter(status__in=ACTIVE_STATUSES)
        .order_by("created_at", "id")
        .values("pk", "filename", "status")
        .first()
    )
    if active is not None:
        raise CatalogBusy(
            f"Import #{active['pk']} ({active['filename']}) is {active['status']}. Wait until it "
            "has finished, or cancel it, then delete the products."
        )
    deleted = products_delete_all()
    _undo_data_discard()
    return deleted


def _undo_data_discard() -> None:
    """Every import's undo data goes with the products: the products it would delete or restore
    are gone. Those imports can no longer be undone, which their job JSON says (``undo.reason``)."""
    undo_data_delete_all()
    ImportJob.objects.filter(
        kind=JobKind.IMPORT, undo_discarded_at__isnull=True, undone_at__isnull=True
    ).update(
        undo_discarded_at=timezone.now(),
        undo_discarded_reason="every product was deleted (Delete all) after it.",
    )
