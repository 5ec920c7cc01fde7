"""``GET /healthz``: is the whole service able to do its job right now?"""

from __future__ import annotations

import logging

import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# How long to wait for the database, Redis and the workers' replies. The worker check always
# takes this long: a broadcast cannot know how many workers will answer.
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


def redis_is_up() -> bool:
    """Whether Redis (events, and the Celery broker by default) answers a PING."""
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=HEALTH_TIMEOUT_SECONDS,
        socket_timeout=HEALTH_TIMEOUT_SECONDS,
    )
    try:
        return bool(client.ping())
    except Exception:  # noqa: BLE001
        logger.warning("Health check: Redis does not answer", exc_info=True)
        return False
    finally:
        client.close()


def running_workers() -> int | None:
    """How many Celery workers consume this service's import queue; None if the broker is unreachable.

    Workers are asked which queues they consume rather than merely pinged: other environments
    (another checkout, a test run) may share the broker, and their workers would answer a ping
    without ever running this service's imports.
    """
    app = current_app
    queue = app.conf.task_default_queue
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=HEALTH_TIMEOUT_SECONDS)
            replies = app.control.inspect(timeout=HEALTH_TIMEOUT_SECONDS, connection=conn).active_queues()
    except Exception:  # noqa: BLE001
        logger.warning("Health check: cannot reach the Celery broker", exc_info=True)
        return None
    return sum(
        1 for queues in (replies or {}).values() if any(q.get("name") == queue for q in queues or [])
    )


HEALTH_RESPONSE = inline_serializer(
    "Health",
    {
        "status": serializers.ChoiceField(choices=["ok", "unavailable"]),
        "database": serializers.CharField(help_text='"ok" or "down".'),
        "redis": serializers.CharField(help_text='"ok" or "down".'),
        "workers": serializers.IntegerField(allow_null=True, help_text="null if Redis is down."),
        "detail": serializers.CharField(required=False, help_text="What is down (503 only)."),
    },
)


class HealthView(APIView):
    """200 when the database, Redis and at least one import worker are up; 503 naming what is down.

    No worker is a 503 too. This endpoint answers "can the service do its job?", and without a
    worker no import ever starts: the catalogue still browses, but every upload would wait
    forever with nothing telling the operator. A process supervisor that only wants to know
    whether the *web process* is alive should not restart it on this 503 — the web process is
    fine — so probe liveness with any cheap page and use /healthz for readiness and alerting.

    Anyone may call it (no authentication); it says "ok" or "down" and logs the details, so it
    reveals no addresses or error messages.
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
        redis_ok = redis_is_up()
        # The broker is this Redis unless configured otherwise; asking an unreachable one would
        # only add its connection timeout to the answer.
        workers = running_workers() if redis_ok else None
        body = {
            "status": "ok",
            "database": "ok" if database_ok else "down",
            "redis": "ok" if redis_ok else "down",
            "workers": workers,
        }
        problems = []
        if not database_ok:
            problems.append("the database is down")
        if not redis_ok:
            problems.append("redis is down")
        elif workers is None:
            problems.append("the Celery broker cannot be reached")
        elif workers == 0:
            problems.append("no worker is running")
        if not problems:
            return Response(body)
        body["status"] = "unavailable"
        body["detail"] = "; ".join(problems).capitalize() + "."
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE)
