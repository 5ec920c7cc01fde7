"""A webhook (where to send which events, and with which secret), its messages and its deliveries.

A *message* is one event on its way to one webhook: it keeps the exact body and the event id
(the ``webhook-id`` header), so every attempt sends the same bytes with the same id, and its
unique (webhook, event id) pair lets a redelivered task find the message already there instead
of sending it twice. A *delivery* is one attempt at sending it, as the API lists it.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models


class Webhook(models.Model):
    """An address that is sent the events it subscribes to, signed with its secret."""

    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    events = ArrayField(models.CharField(max_length=40), default=list)
    secret = models.CharField(max_length=100)
    is_active = models.BooleanField(default=True)
    # Set when the worker turned the webhook off after repeated failures (shown by the API);
    # cleared when someone turns it on again.
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Events in a row whose last attempt failed; a success resets it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    @property
    def secret_prefix(self) -> str:
        """Enough of the secret to tell two apart, not enough to sign with."""
        return self.secret[:12]


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (webhook disabled)"


class WebhookMessage(models.Model):
    """One event for one webhook: the body sent on every attempt, and how far it got."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="messages")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING)
    # Attempts claimed so far; a task sends attempt N only if it moves this from N-1 to N.
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="webhooks_message_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} to webhook {self.webhook_id}"


class Delivery(models.Model):
    """One attempt at sending an event to a webhook, with what came back."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.CharField(max_length=64)
    event_type = models.CharField(max_length=40)
    payload = models.JSONField()
    attempt = models.PositiveSmallIntegerField(default=1)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # The start of the answer's body, or the error (timeout, refused connection, refused address).
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    succeeded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["webhook", "-created_at", "-id"], name="webhooks_delivery_newest")]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} attempt {self.attempt}"
