"""The API's front door: ``/api/`` (its endpoints, with a sign-in link), the docs page, and a JSON
404 for any other path under ``/api/``.

Someone who opens the browsable API in a browser lands on ``/api/``: DRF's API root lists the
endpoints, and its page shows "Log in" (``/api-auth/login/``, DRF's sign-in form) because
``rest_framework.urls`` is included. The Swagger page at ``/api/docs/`` sends an anonymous visitor
to that sign-in form and back (``next=``): the page itself is public HTML, but everything it shows
comes from the schema, which is for signed-in users like the rest of the API, so a page served
without a session could only say "Failed to load API definition".
"""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve, reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework import permissions
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.routers import APIRootView
from rest_framework.views import APIView


class ApiRootView(APIRootView):
    """The API's endpoints. Log in (top right) to follow the links in a browser; scripts send
    ``Authorization: Token <key>`` (``POST /api/auth/token/`` gives one)."""

    # Public, like DRF's own root: it lists URLs, which the schema and the README publish anyway,
    # and an anonymous visitor must see the page to find its "Log in" link.
    permission_classes = [permissions.AllowAny]
    api_root_dict = {
        "products": "product-list",
        "imports": "import-list",
        "webhooks": "webhook-list",
        "uploads": "tus-upload-create",
        "me": "auth-me",
        "token": "auth-token",
        "schema": "schema",
        "docs": "docs",
    }

    def get_view_name(self) -> str:
        return "product-import API"


class ApiDocsView(SpectacularSwaggerSplitView):
    """The Swagger UI page; an anonymous visitor is sent to sign in first, then back here.

    The split view serves Swagger UI's start-up script as a file (``?script``), not inline, so the
    page runs under the Content-Security-Policy's ``script-src 'self'``.
    """

    permission_classes = [permissions.AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), login_url=reverse("rest_framework:login"))
        return super().get(request, *args, **kwargs)


class ApiNotFoundView(APIView):
    """Any path under ``/api/`` that names no endpoint: a 404 in the API's error shape.

    Without it Django answered its HTML 404 page. Every method gets the same answer, before any
    authentication (a path that does not exist is not a secret).
    """

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    schema = None

    def get(self, request: Request, *args, **kwargs):
        path = request.path
        if self._slash_missing(path):
            # What Django's APPEND_SLASH did before this view matched every path under /api/.
            query = request.META.get("QUERY_STRING", "")
            return HttpResponsePermanentRedirect(path + "/" + (f"?{query}" if query else ""))
        raise self._not_found(path)

    def http_method_not_allowed(self, request: Request, *args, **kwargs):
        # A write is not redirected (a client would resend it as a GET): it is told the path.
        raise self._not_found(request.path)

    @classmethod
    def _not_found(cls, path: str) -> NotFound:
        message = f"There is no API endpoint at {path}."
        if cls._slash_missing(path):
            message += f" Did you mean {path}/?"
        else:
            message += f" The endpoints are listed at {reverse('api:root')}."
        return NotFound(message)

    @staticmethod
    def _slash_missing(path: str) -> bool:
        return not path.endswith("/") and _names_an_endpoint(path + "/")


def _names_an_endpoint(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return getattr(match.func, "cls", None) is not ApiNotFoundView
