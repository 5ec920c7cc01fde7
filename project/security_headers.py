"""Response headers that tell browsers what a page may do: CSP (scoped per path) and Permissions-Policy.

The policy itself is ``CONTENT_SECURITY_POLICY`` in settings (django-csp): everything from this
origin only, no inline scripts or styles. The front end is built for it (ES modules, styles in
app.css, widths set through the CSSOM). Three third-party UIs are not, so each gets the least it
needs, on its own paths only (``CSP_PATH_RELAXATIONS``):

* the browsable API (``/api/``, ``/api-auth/``) and the admin (``/admin/``) put ``style=""``
  attributes in their markup, and Swagger UI (``/api/docs/``) sets styles inline as it renders:
  ``style-src 'unsafe-inline'`` there;
* scripts stay ``'self'`` everywhere: Swagger UI's start-up script is served as a file
  (``SpectacularSwaggerSplitView``), and the browsable API's logout link, an ``onclick`` in DRF's
  template, is a plain form button in ``project/templates/rest_framework/api.html``.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings


class PathScopedCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, adding ``CSP_PATH_RELAXATIONS`` for the paths they name."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        for prefix, directives in settings.CSP_PATH_RELAXATIONS:
            if request.path_info.startswith(prefix):
                update = dict(parts.update or {})
                for name, values in directives.items():
                    update[name] = [*update.get(name, []), *values]
                parts.update = update
        return parts


class PermissionsPolicyMiddleware:
    """Sets ``Permissions-Policy`` (``PERMISSIONS_POLICY`` in settings) on every response."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.header = ", ".join(f"{feature}=()" for feature in settings.PERMISSIONS_POLICY_DENIED)

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", self.header)
        return response
