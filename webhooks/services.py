"""Writes: managing webhooks, and the worker's side of delivering an event to them.

The web process only creates, edits and tests webhooks. Events reach the worker as one task
each (``webhooks.receivers``); there ``webhook_event_fan_out`` makes one message per subscribed
webhook and ``webhook_message_send`` makes one attempt at one of them.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webhooks.delivery import SendResult, send_signed
from webhooks.events import EventType, event_body, new_event
from webhooks.models import Delivery, MessageStatus, Webhook, WebhookMessage
from webhooks.selectors import webhooks_subscribed
from webhooks.ssrf import UnsafeURL, resolve_target

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24


def webhook_secret_generate() -> str:
    """A new ``whsec_`` secret: 24 random bytes in base64, as Standard Webhooks expects."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _check_url(url: str) -> None:
    try:
        resolve_target(url)
    except UnsafeURL as exc:
        raise ValidationError({"url": [str(exc)]}) from None


@transaction.atomic
def webhook_create(*, url: str, events: list[str], description: str = "", is_active: bool = True) -> Webhook:
    """Add a webhook with a new secret; raise ValidationError on ``url`` if it must not be sent to."""
    _check_url(url)
    return Webhook.objects.create(
        url=url, events=sorted(set(events)), description=description, is_active=is_active,
        secret=webhook_secret_generate(),
    )


@transaction.atomic
def webhook_update(
    *,
    webhook: Webhook,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Webhook:
    """Change the given fields (None leaves one as it is); turning it on clears why it was off."""
    if url is not None and url != webhook.url:
        _check_url(url)
        webhook.url = url
    if events is not None:
        webhook.events = sorted(set(events))
    if description is not None:
        webhook.description = description
    if is_active is not None:
        if is_active and not webhook.is_active:
            webhook.disabled_reason = ""
            webhook.disabled_at = None
            webhook.consecutive_failures = 0
        webhook.is_active = is_active
    webhook.save()
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Remove a webhook with its messages and deliveries; pending retries then find nothing."""
    webhook.delete()


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    """Give the webhook a new secret; the old one stops signing at once."""
    webhook.secret = webhook_secret_generate()
    webhook.save(update_fields=["secret", "updated_at"])
    return webhook


def _record(*, webhook: Webhook, event_id: str, event_type: str, payload: dict, attempt: int,
            result: SendResult) -> Delivery:
    return Delivery.objects.create(
        webhook=webhook, event_id=event_id, event_type=event_type, payload=payload, attempt=attempt,
        status_code=result.status_code, duration_ms=result.duration_ms,
        response_excerpt=result.excerpt, error=result.error, succeeded=result.succeeded,
    )


def webhook_send_test(*, webhook: Webhook) -> SendResult:
    """Send a ``webhook.test`` event now, from the caller's process, and record the delivery.

    Sent whether or not the webhook is enabled or subscribes to anything: it is how a person
    checks an address before turning it on. It takes at most WEBHOOKS_TIMEOUT_SECONDS.
    """
    event = new_event(EventType.WEBHOOK_TEST, {
        "webhook_id": webhook.pk,
        "message": "A test event sent from product-import.",
    })
    body = json.dumps(event_body(event), separators=(",", ":"))
    result = send_signed(url=webhook.url, secret=webhook.secret, event_id=event["id"], body=body)
    _record(webhook=webhook, event_id=event["id"], event_type=event["type"], payload=event_body(event),
            attempt=1, result=result)
    return result


# --- The worker's side -------------------------------------------------------------------------


def webhook_event_fan_out(*, event: dict) -> list[int]:
    """Make one message of ``event`` for each enabled webhook that wants it; return their ids.

    Safe to run twice for one event (a redelivered task): the (webhook, event id) pair is
    unique, so a second run creates nothing, and it returns the messages whose first attempt
    nobody has claimed yet (a run that stopped before queueing their sends); a send queued twice
    sends once (``webhook_message_send``).
    """
    body = json.dumps(event_body(event), separators=(",", ":"))
    # One INSERT … ON CONFLICT DO NOTHING for every webhook (one commit, whatever their number).
    WebhookMessage.objects.bulk_create(
        [WebhookMessage(webhook=webhook, event_id=event["id"], event_type=event["type"], body=body)
         for webhook in webhooks_subscribed(event_type=event["type"])],
        ignore_conflicts=True,
    )
    return list(
        WebhookMessage.objects.filter(event_id=event["id"], status=MessageStatus.PENDING, attempts=0)
        .order_by("id").values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt did, and when to try again (None: never)."""

    sent: bool
    retry_in: float | None = None


def retry_delay(*, attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt``: exponential, with ±25 % jitter.

    With the defaults (30 s base, factor 4, 6 attempts): about 30 s, 2 min, 8 min, 32 min and
    2 h 8 min, so the last attempt is about 2 h 50 min after the first. The jitter keeps many
    messages that failed together (a receiver's outage) from all coming back at the same moment.
    """
    delay = settings.WEBHOOKS_RETRY_BASE_SECONDS * settings.WEBHOOKS_RETRY_FACTOR ** (attempt - 1)
    return delay * random.uniform(0.75, 1.25)


def webhook_message_send(*, message_id: int, attempt: int) -> AttemptOutcome:
    """Make attempt number ``attempt`` at sending one message, unless someone already made it.

    The attempt is claimed by a compare-and-set on the message's attempt count, so a task
    delivered twice sends once. A disabled or deleted webhook is not sent to.
    """
    claimed = WebhookMessage.objects.filter(
        pk=message_id, status=MessageStatus.PENDING, attempts=attempt - 1
    ).update(attempts=attempt, updated_at=timezone.now())
    if not claimed:
        return AttemptOutcome(sent=False)
    message = WebhookMessage.objects.select_related("webhook").get(pk=message_id)
    webhook = message.webhook
    if not webhook.is_active:
        _finish(message, MessageStatus.SKIPPED)
        return AttemptOutcome(sent=False)
    result = send_signed(url=webhook.url, secret=webhook.secret, event_id=message.event_id, body=message.body)
    retry = result.retryable and attempt < settings.WEBHOOKS_MAX_ATTEMPTS
    # The delivery row and the message's new state in one commit.
    with transaction.atomic():
        _record(webhook=webhook, event_id=message.event_id, event_type=message.event_type,
                payload=json.loads(message.body), attempt=attempt, result=result)
        if result.succeeded:
            _finish(message, MessageStatus.DELIVERED)
            if webhook.consecutive_failures:
                Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=0)
        elif not retry:
            _finish(message, MessageStatus.FAILED)
            _count_failure(webhook_id=webhook.pk, result=result, attempts=attempt)
    if retry:
        return AttemptOutcome(sent=True, retry_in=retry_delay(attempt=attempt))
    return AttemptOutcome(sent=True)


def _finish(message: WebhookMessage, status: str) -> None:
    WebhookMessage.objects.filter(pk=message.pk).update(status=status, updated_at=timezone.now())


def _describe(result: SendResult) -> str:
    return result.error or f"HTTP {result.status_code}"


@transaction.atomic
def _count_failure(*, webhook_id: int, result: SendResult, attempts: int) -> None:
    """One more event in a row that could not be delivered; too many turn the webhook off."""
    webhook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
    if webhook is None:
        return
    webhook.consecutive_failures = F("consecutive_failures") + 1
    webhook.save(update_fields=["consecutive_failures"])
    webhook.refresh_from_db(fields=["consecutive_failures"])
    limit = settings.WEBHOOKS_DISABLE_AFTER_FAILURES
    if webhook.is_active and limit and webhook.consecutive_failures >= limit:
        webhook.is_active = False
        webhook.disabled_at = timezone.now()
        webhook.disabled_reason = (
            f"Turned off after {webhook.consecutive_failures} events in a row could not be "
            f"delivered (the last after {attempts} attempt{'s' if attempts != 1 else ''}: "
            f"{_describe(result)}). Fix the receiver, press Test, then turn it on again."
        )
        webhook.save(update_fields=["is_active", "disabled_at", "disabled_reason", "updated_at"])
        logger.warning("Webhook %s disabled: %s", webhook.pk, webhook.disabled_reason)
