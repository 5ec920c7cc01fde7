"""One error shape for the whole API, and the one handler that renders it.

Every error answer is ``{"detail": <message>, "code": <code>}``, plus ``"errors": {field:
[messages]}`` when the input was invalid; ``detail`` then repeats the first field message, so a
client that shows one line shows the useful one. Services raise domain exceptions (or Django's
``ValidationError``); the table below says what HTTP status each one means.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, JsonResponse
from psycopg.errors import QueryCanceled
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.login_throttle import LoginThrottled
from api.throttling import TooManyRequests
from importer.bulk_delete import CatalogBusy
from importer.pipeline import FileRejected
from importer.states import InvalidTransition
from importer.storage import StorageFull, StorageUnavailable
from importer.undo import UndoInvalid, UndoRefused
from importer.upload_errors import UploadUnavailable


class DomainError(NamedTuple):
    """How the API answers one kind of domain exception.

    ``code`` is used unless the exception carries its own ``code`` attribute; with ``field`` set,
    the message is also given as that input field's error.
    """

    status_code: int
    code: str
    field: str | None = None


# The exception's message is shown as is, so services word their messages for the person using
# the API. Subclasses are matched too.
DOMAIN_ERRORS: dict[type[Exception], DomainError] = {
    FileRejected: DomainError(status.HTTP_400_BAD_REQUEST, "file_rejected"),
    InvalidTransition: DomainError(status.HTTP_409_CONFLICT, "invalid_state"),
    CatalogBusy: DomainError(status.HTTP_409_CONFLICT, "import_running"),
    UndoRefused: DomainError(status.HTTP_409_CONFLICT, "undo_refused"),
    UndoInvalid: DomainError(status.HTTP_400_BAD_REQUEST, "undo_invalid"),
    # An unknown, foreign, incomplete or already used upload is a bad value of the request's
    # "upload" field (the URL /api/imports/ itself exists), hence 400 rather than 404.
    UploadUnavailable: DomainError(status.HTTP_400_BAD_REQUEST, "upload_unavailable", field="upload"),
    StorageFull: DomainError(status.HTTP_507_INSUFFICIENT_STORAGE, "storage_full"),
    StorageUnavailable: DomainError(status.HTTP_503_SERVICE_UNAVAILABLE, "storage_unavailable"),
}


class PayloadTooLarge(exceptions.APIException):
    """The request body is larger than this endpoint accepts."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


class TooManyFields(exceptions.APIException):
    """A form body with more fields (or files) than Django reads."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "too_many_fields"


def _request_limit_error(exc: Exception) -> exceptions.APIException | None:
    """Django's own request limits, which it answers with an HTML 400, as API errors.

    Django raises these while the view reads the body (DRF's parsers), so only a DRF view's
    handler sees them; a reverse proxy's cap comes first for bodies larger still (README).
    """
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return PayloadTooLarge(
            f"The request body is larger than the {limit:,} bytes of JSON or form data this API "
            "reads. Files go in a multipart upload (POST /api/imports/) or a resumable upload "
            "(/api/uploads/)."
        )
    if isinstance(exc, TooManyFieldsSent):
        return TooManyFields(
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} form fields."
        )
    if isinstance(exc, TooManyFilesSent):
        return TooManyFields(
            f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES:,} files; "
            "send one file per import.",
            code="too_many_files",
        )
    return None

# --- The web statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) -----------------------------------
# Seconds a client is asked to wait before trying again after a statement timeout.
STATEMENT_TIMEOUT_RETRY_AFTER = 5


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL cancelling a statement (statement_timeout, SQLSTATE 57014)."""
    return isinstance(exc, OperationalError) and isinstance(exc.__cause__, QueryCanceled)


def statement_timeout_body() -> dict[str, str]:
    return {
        "detail": "The database took too long to answer this request, so it was stopped. Try again "
        "in a few seconds; if it keeps happening, ask for less (a smaller page, a narrower search).",
        "code": "database_timeout",
    }


def statement_timeout_headers() -> dict[str, str]:
    return {"Retry-After": str(STATEMENT_TIMEOUT_RETRY_AFTER)}


class StatementTimeoutMiddleware:
    """Answers a statement timeout in a view that is not DRF's (admin, front end) as the API's 503.

    DRF views get the same answer from ``api_exception_handler``; this covers the rest, which
    would otherwise be a 500 for something that is neither a bug nor the client's fault.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_statement_timeout(exception):
            return None
        return JsonResponse(statement_timeout_body(), status=503, headers=statement_timeout_headers())


def _first_message(errors: Any) -> str | None:
    if isinstance(errors, dict):
        for value in errors.values():
            found = _first_message(value)
            if found:
                return found
    elif isinstance(errors, list):
        for value in errors:
            found = _first_message(value)
            if found:
                return found
    elif errors:
        return str(errors)
    return None


def _validation_response(errors: Any, *, status_code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    if not isinstance(errors, dict):
        errors = {"non_field_errors": errors if isinstance(errors, list) else [errors]}
    detail = _first_message(errors) or "The request is not valid."
    return Response({"detail": detail, "code": "invalid", "errors": errors}, status=status_code)


def _domain_error(exc: Exception) -> DomainError | None:
    for exc_class in type(exc).__mro__:
        if exc_class in DOMAIN_ERRORS:
            return DOMAIN_ERRORS[exc_class]
    return None


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """Render DRF, Django and domain exceptions in the API's one error shape.

    Anything not recognised returns None, so it stays a 500 (and is logged) rather than being
    disguised as a client error.
    """
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        if hasattr(exc, "error_dict"):
            return _validation_response(exc.message_dict)
        return _validation_response(exc.messages)

    if is_statement_timeout(exc):
        set_rollback()
        return Response(statement_timeout_body(), status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers=statement_timeout_headers())

    mapped = _domain_error(exc)
    if mapped is not None:
        set_rollback()
        body: dict[str, Any] = {"detail": str(exc), "code": getattr(exc, "code", None) or mapped.code}
        if mapped.field:
            body["errors"] = {mapped.field: [str(exc)]}
        return Response(body, status=mapped.status_code)

    exc = _request_limit_error(exc) or exc
    if isinstance(exc, LoginThrottled):
        exc = TooManyRequests(what=exc.what, wait=exc.wait)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)

    if not isinstance(exc, exceptions.APIException):
        return None

    set_rollback()
    if isinstance(exc, exceptions.ValidationError):
        return _validation_response(exc.detail)

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"
    detail = exc.detail
    if isinstance(detail, (list, dict)):
        return _validation_response(detail, status_code=exc.status_code)
    code = getattr(detail, "code", None) or exc.default_code
    return Response({"detail": str(detail), "code": code}, status=exc.status_code, headers=headers)
