"""``GET /api/imports/{id}/events/``: who may follow a job live, and the HTTP around its stream.

The stream itself, and what it promises, is ``api.job_stream``. Why not django-eventstream's own
view: it answers a denied read with HTTP 200 and a ``stream-error`` event, starts a new client at
"now" without the current state, never ends, and keeps the request's database connection for the
stream's whole life (about a hundred streams exhaust PostgreSQL). Here access is decided, and
errors answered with a real status, before streaming starts, and the database connection goes back
to the pool before the first byte.
"""

from __future__ import annotations

from django.db import connection
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from api.job_stream import job_event_stream
from importer.event_log import InvalidEventId, parse_last_event_id
from importer.events import import_job_channel
from importer.selectors import import_job_list


class _JSONForErrors(BaseContentNegotiation):
    """Always JSON: a successful answer is the stream itself; only errors go through renderers.

    ``EventSource`` sends ``Accept: text/event-stream``, which DRF would otherwise refuse with 406
    before it even checks who is asking.
    """

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class ImportJobEventsView(APIView):
    """The live progress of one import job, as server-sent events (owner or staff only)."""

    # No HEAD: it would open a stream only to throw its body away.
    http_method_names = ["get", "options"]
    permission_classes = [IsAuthenticated]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _JSONForErrors

    @extend_schema(
        operation_id="imports_events",
        summary="Live progress of an import (server-sent events)",
        description=(
            "A `text/event-stream`: `stream-open`, then `job` events whose data is the job JSON "
            "(the current state first), `keep-alive` while idle, and `stream-end` once the job is "
            "completed, failed or cancelled, after which the server closes the stream. Resume with "
            "the `Last-Event-ID` header (EventSource does this itself) or `lastEventId`; "
            "`lastEventId=0` replays the job's events from the start. Another user's job is 404."
        ),
        parameters=[
            OpenApiParameter("lastEventId", OpenApiTypes.STR, OpenApiParameter.QUERY, required=False,
                             description="Resume after this event id (as sent in `id:`)."),
            OpenApiParameter("Last-Event-ID", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                             description="The same, as browsers send it when they reconnect."),
        ],
        responses={(200, "text/event-stream"): OpenApiTypes.STR},
    )
    def get(self, request, pk: int):
        job = get_object_or_404(import_job_list(user=request.user).only("pk"), pk=pk)
        channel = import_job_channel(job.pk)
        try:
            after = parse_last_event_id(self._last_event_id(request), channel=channel)
        except InvalidEventId as exc:
            raise ValidationError({"lastEventId": [str(exc)]}) from exc
        # Everything the stream needs from the database is known; hand the connection back
        # before streaming starts (see _read_backlog).
        connection.close()
        response = StreamingHttpResponse(
            job_event_stream(job_id=job.pk, channel=channel, after=after),
            content_type="text/event-stream",
        )
        response["Cache-Control"] = "no-cache"
        # Tells nginx-like proxies not to buffer the stream.
        response["X-Accel-Buffering"] = "no"
        return response

    @staticmethod
    def _last_event_id(request) -> str:
        header = request.headers.get("Last-Event-ID", "")
        if header:
            return header
        values = [value for value in request.query_params.getlist("lastEventId") if value]
        return values[-1] if values else ""
