"""CSV downloads: the renderer that lets clients ask for ``text/csv``, and a streamed attachment
that stays streamed under daphne."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from rest_framework import renderers
from rest_framework.request import Request


class CSVRenderer(renderers.BaseRenderer):
    """Lets clients ask for ``Accept: text/csv``; the CSV itself is a streaming response."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # Only error answers (400, 404, 401) pass through here; say what went wrong in plain text.
        if isinstance(data, dict) and "detail" in data:
            return str(data["detail"]).encode(self.charset)
        return b""


async def _in_thread(pieces: Iterator) -> AsyncIterator:
    # Thread-sensitive: every step runs in the request's one sync thread, where the generator's
    # database connection and transaction live. A client that goes away closes the generator
    # there too, which ends its transaction.
    step = sync_to_async(next, thread_sensitive=True)
    try:
        while (piece := await step(pieces, None)) is not None:
            yield piece
    finally:
        await sync_to_async(getattr(pieces, "close", lambda: None), thread_sensitive=True)()


def csv_attachment(request: Request, pieces: Iterator, *, filename: str) -> StreamingHttpResponse:
    """A streamed CSV download of ``pieces`` (bytes or str), named ``filename``.

    Under ASGI (daphne) Django reads a synchronous iterator into a list before sending it, so the
    server gets an asynchronous one that takes each piece from the sync thread.
    """
    if isinstance(request._request, ASGIRequest):
        pieces = _in_thread(pieces)
    response = StreamingHttpResponse(pieces, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
