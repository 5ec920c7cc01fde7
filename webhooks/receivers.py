"""Turning the catalogue's and the importer's signals into webhook events.

``catalog`` and ``importer`` know nothing of webhooks: their services send signals once their
transaction has committed (``catalog.signals``, ``importer.signals``). Each signal becomes one
event and one Celery task, whatever the number of webhooks; the worker fans it out. The only
cost in the web request is one indexed EXISTS query (no task at all when no enabled webhook wants
the event) and one message to Redis, so an edit's response time does not grow with the number of
webhooks. If Redis is down the event is lost and logged: the change itself is committed, and a
webhook is a notification, not the record.
"""

from __future__ import annotations

import logging

from catalog import signals as catalog_signals
from importer import signals as importer_signals
from webhooks.events import EventType, new_event

logger = logging.getLogger(__name__)


def product_data(product) -> dict:
    return {
        "id": product.pk,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "is_active": product.is_active,
        "created_at": product.created_at.isoformat() if product.created_at else None,
        "updated_at": product.updated_at.isoformat() if product.updated_at else None,
    }


def import_data(job) -> dict:
    return {
        "id": job.pk,
        "filename": job.filename,
        "status": job.status,
        "message": job.message,
        "total_rows": job.total_rows,
        "processed_rows": job.processed_rows,
        "created": job.created_rows,
        "updated": job.updated_rows,
        "unchanged": job.unchanged_rows,
        "superseded": job.superseded_rows,
        "skipped": job.skipped_rows,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def emit(event_type: str, data: dict) -> None:
    """Queue one event for the worker, if an enabled webhook wants it; log, never raise."""
    from webhooks.selectors import webhooks_subscribed
    from webhooks.tasks import dispatch_event

    try:
        if not webhooks_subscribed(event_type=event_type).exists():
            return
        dispatch_event.delay(new_event(event_type, data))
    except Exception:  # noqa: BLE001 - the change is committed; a lost notification must not fail it
        logger.warning("Could not queue the webhook event %s", event_type, exc_info=True)


def on_product_created(sender, *, product, **kwargs) -> None:
    emit(EventType.PRODUCT_CREATED, product_data(product))


def on_product_updated(sender, *, product, **kwargs) -> None:
    emit(EventType.PRODUCT_UPDATED, product_data(product))


def on_product_deleted(sender, *, product_id: int, sku: str, **kwargs) -> None:
    emit(EventType.PRODUCT_DELETED, {"id": product_id, "sku": sku})


def on_catalogue_cleared(sender, *, deleted: int, **kwargs) -> None:
    emit(EventType.CATALOGUE_CLEARED, {"deleted": deleted})


def on_import_finished(sender, *, job, **kwargs) -> None:
    event_type = {"completed": EventType.IMPORT_COMPLETED, "failed": EventType.IMPORT_FAILED}.get(job.status)
    if event_type is not None:
        emit(event_type, import_data(job))


def connect() -> None:
    """Connect every receiver (``WebhooksConfig.ready``); dispatch_uid keeps it to once."""
    for signal, receiver in (
        (catalog_signals.product_created, on_product_created),
        (catalog_signals.product_updated, on_product_updated),
        (catalog_signals.product_deleted, on_product_deleted),
        (catalog_signals.catalogue_cleared, on_catalogue_cleared),
        (importer_signals.import_finished, on_import_finished),
    ):
        signal.connect(receiver, dispatch_uid=f"webhooks.{receiver.__name__}")
