"""Reads of webhooks and their deliveries."""

from __future__ import annotations

from django.db.models import QuerySet

from webhooks.models import Delivery, Webhook


def webhook_list() -> QuerySet[Webhook]:
    """Every webhook, oldest first."""
    return Webhook.objects.order_by("id")


def webhooks_subscribed(*, event_type: str) -> QuerySet[Webhook]:
    """The enabled webhooks that want ``event_type``."""
    return Webhook.objects.filter(is_active=True, events__contains=[event_type]).order_by("id")


def webhook_deliveries(*, webhook: Webhook) -> QuerySet[Delivery]:
    """A webhook's delivery attempts, newest first."""
    return Delivery.objects.filter(webhook=webhook).order_by("-created_at", "-id")
