"""The OpenAPI schema generator: drf-spectacular's, plus the error answers each operation can give.

drf-spectacular documents only the success answer unless a view lists its errors by hand, so
the schema said "200 only" for operations that answer 401, 404 or 400 every day (the schemathesis
fuzz in tests/security/test_fuzz_api.py found them). Every error has the same shape
(``api.exceptions``), so it is documented here once, from what DRF will actually do for the view:

- 400 when the request has a body or parameters to validate;
- 401 when the operation needs a signed-in user, 403 when it may also be refused to one (a CSRF
  check on a session write, or a staff-only permission);
- 404 when the path names an object, or the list is paged (a page past the end);
- 415 when there is a request body (an unsupported Content-Type);
- 429 when the view is throttled (``api.throttling``).

A view may name further errors that all its operations can give in ``error_responses``
(``{412: "why"}``). A view's own ``@extend_schema(responses=...)`` entry for a status wins.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework.permissions import AllowAny, IsAuthenticated

from api.serializers import ErrorSerializer

UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
DESCRIPTIONS = {
    "400": "The request is not valid; `errors` says what, per field.",
    "401": "Not signed in: send `Authorization: Token <key>` or a session cookie.",
    "403": "Signed in, but not allowed (or the CSRF token of a session request is missing).",
    "404": "No such object (or it is someone else's), or a page past the end.",
    "415": "The request body's Content-Type is not one this operation accepts.",
    "429": "Too many requests; Retry-After says when to try again.",
}


class ApiAutoSchema(AutoSchema):
    """AutoSchema that also documents the API's error answers (see the module docstring)."""

    def get_operation(self, path, path_regex, path_prefix, method, registry) -> dict[str, Any] | None:
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation.setdefault("responses", {})
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        descriptions = {code: DESCRIPTIONS[code] for code in self._error_statuses(operation)}
        extra = getattr(self.view, "error_responses", {})
        descriptions.update({str(code): text for code, text in extra.items()})
        for code, description in descriptions.items():
            responses.setdefault(code, {
                "description": description,
                "content": {"application/json": {"schema": error}},
            })
        return operation

    def _error_statuses(self, operation: dict[str, Any]) -> list[str]:
        codes = []
        has_body = "requestBody" in operation
        has_inputs = any(p.get("in") in {"query", "header"} for p in operation.get("parameters", []))
        if has_body or has_inputs or self.method in {"POST", "PUT", "PATCH"}:
            codes.append("400")
        permissions = self.view.get_permissions()
        public = any(isinstance(permission, AllowAny) for permission in permissions)
        if not public:
            codes.append("401")
            staff_or_stricter = any(
                type(permission) not in (AllowAny, IsAuthenticated) for permission in permissions
            )
            if self.method in UNSAFE_METHODS or staff_or_stricter:
                codes.append("403")
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            codes.append("404")
        if has_body:
            codes.append("415")
        if self._is_throttled():
            codes.append("429")
        return codes

    def _is_throttled(self) -> bool:
        try:
            return bool(self.view.get_throttles())
        except Exception:  # noqa: BLE001 - a view whose throttles depend on the live request
            return bool(getattr(self.view, "throttle_classes", None))
