"""``GET /healthz``: is the whole service able to do its job right now?"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from project.worker_heartbeat import redis_client, workers_alive

logger = logging.getLogger(__name__)

# How long to wait for the database and Redis. Nothing here waits for the workers: they write
# heartbeats to Redis (project/worker_heartbeat.py), so a call costs one query and one Redis
# command on connections the process already holds, whoever calls and however often.
HEALTH_TIMEOUT_SECONDS = 1.0


def database_is_up() -> bool:
    """Whether PostgreSQL answers a query."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # noqa: BLE001 - any failure means "down"; the log has the detail
        logger.warning("Health check: the database does not answer", exc_info=True)
        return False


def running_workers() -> int | None:
    """How many Celery workers consume this service's import queue; None if Redis does not answer.

    Counted from the workers' heartbeats for this queue, not from a ping: other environments
    (another checkout, a test run) may share the Redis, and their workers never run this
    service's imports. The one Redis command doubles as Redis's own health check.
    """
    client = redis_client(settings.REDIS_URL, timeout=HEALTH_TIMEOUT_SECONDS)
    try:
        return workers_alive(client=client, queue=settings.CELERY_TASK_DEFAULT_QUEUE,
                             ttl=settings.WORKER_HEARTBEAT_TTL)
    except Exception:  # noqa: BLE001
        logger.warning("Health check: Redis does not answer", exc_info=True)
        return None


def storage_is_up() -> bool:
    """Whether the file storage can be used: the bucket answers (object storage), or MEDIA_ROOT
    is a writable folder (local disk; it is created on first save, so a missing one is fine as
    long as its parent is writable)."""
    is_reachable = getattr(default_storage, "is_reachable", None)
    if is_reachable is not None:
        return is_reachable()
    location = Path(default_storage.location)
    existing = next((path for path in (location, *location.parents) if path.exists()), None)
    up = existing is not None and existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)
    if not up:
        logger.warning("Health check: the storage folder %s is not writable", location)
    return up


HEALTH_RESPONSE = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "database": serializers.CharField(help_text='"ok" or "down".'),
        "redis": serializers.CharField(help_text='"ok" or "down".'),
        "storage": serializers.CharField(help_text='"ok" or "down": the file storage (bucket or folder).'),
        "workers": serializers.IntegerField(allow_null=True, help_text="null if Redis is down."),
        "detail": serializers.CharField(required=False, help_text="What is down (503 only)."),
    },
)


class HealthView(APIView):
    """200 when the database, the file storage, Redis and at least one import worker are up; 503
    naming what is down.

    No worker is a 503 too. This endpoint answers "can the service do its job?", and without a
    worker no import ever starts: the catalogue still browses, but every upload would wait
    forever with nothing telling the operator. A process supervisor that only wants to know
    whether the *web process* is alive should not restart it on this 503 — the web process is
    fine — so probe liveness with any cheap page and use /healthz for readiness and alerting.

    Anyone may call it (no authentication); it says "ok" or "down" and logs the details, so it
    reveals no addresses or error messages. It costs one ``SELECT 1`` and one Redis command on
    connections the process already holds, and asks the workers nothing (they publish
    heartbeats), so calling it in a loop makes the service do no more than answer it.
    """

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        responses={
            200: HEALTH_RESPONSE,
            503: OpenApiResponse(HEALTH_RESPONSE, description="Something is down."),
        },
        tags=["health"],
    )
    def get(self, request: Request) -> Response:
        database_ok = database_is_up()
        storage_ok = storage_is_up()
        workers = running_workers()
        redis_ok = workers is not None
        body = {
            "status": "ok",
            "database": "ok" if database_ok else "down",
            "redis": "ok" if redis_ok else "down",
            "storage": "ok" if storage_ok else "down",
            "workers": workers,
        }
        problems = []
        if not database_ok:
            problems.append("the database is down")
        if not storage_ok:
            problems.append("the file storage is down")
        if not redis_ok:
            problems.append("redis is down")
        elif workers == 0:
            problems.append("no worker is running")
        if not problems:
            return Response(body)
        body["status"] = "unavailable"
        body["detail"] = "; ".join(problems).capitalize() + "."
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
