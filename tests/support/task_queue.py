"""This test session's Celery queue in Redis (tests/support/session_env.py names it)."""

from __future__ import annotations

import json

import redis
from django.conf import settings


def task_queue_connection() -> redis.Redis:
    """A connection to the broker that holds the session's queue."""
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def queued_import_job_ids() -> list[int]:
    """Job ids of the run_import messages waiting in the queue."""
    ids = []
    with task_queue_connection() as client:
        for raw in client.lrange(settings.CELERY_TASK_DEFAULT_QUEUE, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == "importer.run_import":
                ids.append(int(message["headers"]["argsrepr"].strip("(),[] ")))
    return ids


def clear_queue() -> None:
    """Drop every message waiting in the queue."""
    with task_queue_connection() as client:
        client.delete(settings.CELERY_TASK_DEFAULT_QUEUE)
