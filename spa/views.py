"""The single-page front end: one HTML shell whose ES modules do the rest through the API."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.generic import TemplateView


@method_decorator(ensure_csrf_cookie, name="dispatch")
class AppShellView(TemplateView):
    """Serve the app's HTML shell for every front-end route.

    The same page answers ``/``, ``/products/``, ``/imports/…`` and ``/account/`` so a reload or a
    shared link lands on the right view; the client-side router reads the path. The CSRF cookie
    is set here because the app's first write (the login) needs it before any API call.
    """

    template_name = "spa/index.html"
