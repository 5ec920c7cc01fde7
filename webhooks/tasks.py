"""Celery tasks: thin wrappers around the webhook services."""

from __future__ import annotations

from celery import shared_task

from webhooks import services

DISPATCH_TASK = "webhooks.dispatch_event"
SEND_TASK = "webhooks.send_message"


@shared_task(name=DISPATCH_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def dispatch_event(event: dict) -> int:
    """Fan one event out to every webhook that wants it: one send task per webhook."""
    message_ids = services.webhook_event_fan_out(event=event)
    for message_id in message_ids:
        send_message.delay(message_id, 1)
    return len(message_ids)


@shared_task(name=SEND_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_message(message_id: int, attempt: int) -> None:
    """Make one attempt at one message; queue the next attempt if this one should be retried."""
    outcome = services.webhook_message_send(message_id=message_id, attempt=attempt)
    if outcome.retry_in is not None:
        send_message.apply_async((message_id, attempt + 1), countdown=outcome.retry_in)
