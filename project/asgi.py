"""ASGI entry point: daphne serves the whole site, including the SSE streams."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# This is the web process: its database connections get the web statement timeout
# (DATABASE_STATEMENT_TIMEOUT_MS in project/settings.py); workers and commands never load this module.
os.environ["WEB_PROCESS_ROLE"] = "web"


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler, running the middleware and the view in one thread hop per request.

    Every view here is synchronous (DRF); the event streams are sync views that return an async
    iterator, which the handler drains on the event loop as usual. Django's stock ASGI chain runs
    each middleware in async mode, and ``MiddlewareMixin`` then calls every ``process_request``
    and ``process_response`` through ``sync_to_async``: about a dozen hand-offs between the event
    loop and the request's thread per request, each waiting for the GIL. Measured with one client
    and a token: 12 ms for ``GET /api/auth/me/``. Here the chain is built in sync mode and entered
    once, in the request's own thread (``ThreadSensitiveContext``, as before).
    """

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)
application = SyncChainASGIHandler()
