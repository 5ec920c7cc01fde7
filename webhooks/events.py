"""The event types a webhook may subscribe to, and the one shape of an event.

An event is ``{"id", "type", "timestamp", "data"}``; the body sent is ``{"type", "timestamp",
"data"}`` and the id travels as the ``webhook-id`` header (the same on every attempt), as
Standard Webhooks 1.0 has it.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    PRODUCT_CREATED = "product.created", "A product was created (API or UI)"
    PRODUCT_UPDATED = "product.updated", "A product was changed (API or UI)"
    PRODUCT_DELETED = "product.deleted", "A product was deleted (API or UI)"
    IMPORT_COMPLETED = "import.completed", "An import finished"
    IMPORT_FAILED = "import.failed", "An import failed"
    CATALOGUE_CLEARED = "catalogue.cleared", "Every product was deleted"
    WEBHOOK_TEST = "webhook.test", "A test sent from the webhook's Test button"


# What a webhook may subscribe to: a test is sent on request only, to the one webhook tested.
SUBSCRIBABLE_EVENTS = [choice for choice in EventType.values if choice != EventType.WEBHOOK_TEST]


def new_event(event_type: str, data: dict) -> dict:
    """A new event with its own id (``msg_…``) and the time it happened."""
    return {
        "id": f"msg_{uuid.uuid4().hex}",
        "type": event_type,
        "timestamp": timezone.now().isoformat(),
        "data": data,
    }


def event_body(event: dict) -> dict:
    """The JSON body a receiver gets."""
    return {"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]}
