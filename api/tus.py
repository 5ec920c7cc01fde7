"""Resumable uploads over the tus 1.0 protocol (core, creation, termination, expiration).

    OPTIONS /api/uploads/        what this server supports (no login needed)
    POST    /api/uploads/        create an upload: Upload-Length, Upload-Metadata -> 201 + Location
    HEAD    /api/uploads/<id>    how many bytes have arrived (Upload-Offset): where to resume
    PATCH   /api/uploads/<id>    append one part (application/offset+octet-stream) at Upload-Offset
    DELETE  /api/uploads/<id>    cancel the upload and delete what was stored

Authentication is the API's (session with CSRF, or ``Authorization: Token <key>``). A completed
upload is imported with ``POST /api/imports/ {"upload": "<id>"}``, ``<id>`` being the last segment
of its URL. These views only translate HTTP to ``importer.uploads``, which does the work.

daphne buffers a whole request body before Django sees it, so each PATCH is capped at
``TUS_MAX_CHUNK_SIZE``: clients send large files in parts of a few MB (tuspy's ``chunk_size``,
tus-js-client's ``chunkSize``).
"""

from __future__ import annotations

import base64
import binascii

from django.conf import settings
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.throttling import UploadRateThrottle
from importer.models import Upload
from importer.upload_errors import (
    UploadError,
    UploadExpired,
    UploadInvalid,
    UploadLimitReached,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
)
from importer.uploads import upload_append, upload_create, upload_get, upload_terminate

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,termination,expiration"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Metadata is a few short key/value pairs; a bigger header is a mistake or abuse.
MAX_METADATA_LENGTH = 4096
# Digits of the largest number a numeric tus header may carry: 2**63 - 1 has 19.
MAX_NUMBER_DIGITS = 19

# How each upload service error is answered: (status, code).
UPLOAD_ERRORS: dict[type[UploadError], tuple[int, str]] = {
    UploadNotFound: (status.HTTP_404_NOT_FOUND, "not_found"),
    UploadExpired: (status.HTTP_410_GONE, "upload_expired"),
    UploadOffsetMismatch: (status.HTTP_409_CONFLICT, "offset_mismatch"),
    UploadTooLarge: (status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "too_large"),
    UploadInvalid: (status.HTTP_400_BAD_REQUEST, "invalid"),
    # 429: the client may retry once one of its uploads has finished, been cancelled or expired.
    UploadLimitReached: (status.HTTP_429_TOO_MANY_REQUESTS, "too_many_uploads"),
}


class UploadFailed(APIException):
    """An upload service error as an API error, so the API's one handler renders it."""

    def __init__(self, exc: UploadError) -> None:
        self.status_code, code = next(
            answer for kind, answer in UPLOAD_ERRORS.items() if isinstance(exc, kind)
        )
        super().__init__(detail=str(exc), code=code)


class TusVersionUnsupported(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = f"This server speaks tus {TUS_VERSION}: send the header Tus-Resumable: {TUS_VERSION}."
    default_code = "tus_version_unsupported"


class UnsupportedPartType(APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = f"A part must be sent with Content-Type: {OFFSET_CONTENT_TYPE}."
    default_code = "unsupported_media_type"


class LengthRequired(APIException):
    status_code = status.HTTP_411_LENGTH_REQUIRED
    default_detail = "A part must be sent with a Content-Length header."
    default_code = "length_required"


class PartTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "part_too_large"


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def parse_upload_metadata(header: str) -> dict[str, str]:
    """Decode an Upload-Metadata header: comma-separated ``key base64(value)`` pairs (value optional)."""
    if len(header) > MAX_METADATA_LENGTH:
        raise ParseError(f"Upload-Metadata may be at most {MAX_METADATA_LENGTH} characters long.")
    metadata: dict[str, str] = {}
    for pair in header.split(","):
        pair = pair.strip()
        if not pair:
            continue
        key, _, encoded = pair.partition(" ")
        if key in metadata:
            raise ParseError(f"Upload-Metadata has the key '{key}' twice.")
        try:
            metadata[key] = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ParseError(
                f"Upload-Metadata value of '{key}' must be base64-encoded UTF-8 text."
            ) from None
    return metadata


def encode_upload_metadata(upload: Upload) -> str:
    pairs = {"filename": upload.filename}
    if upload.encoding:
        pairs["encoding"] = upload.encoding
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}" for key, value in pairs.items()
    )


def _non_negative_int_header(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    raw = raw.strip()
    # ASCII digits only: str.isdigit() alone accepts "²" and other digits int() refuses. Bounded
    # length: int() refuses more than 4,300 digits with a ValueError (and is quadratic below that),
    # and no byte count has more digits than a 64-bit number.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_NUMBER_DIGITS:
        shown = raw if len(raw) <= 40 else raw[:40] + "…"
        raise ParseError(
            f"{name} must be a whole number of bytes, 0 or more (at most {MAX_NUMBER_DIGITS} "
            f"digits); got {shown!r}."
        )
    return int(raw)


class TusView(APIView):
    """Shared protocol plumbing: version check, tus headers on every answer, errors to statuses."""

    # Added to every tus operation's documented answers by api.schema.ApiAutoSchema.
    error_responses = {412: "Tus-Resumable is missing or names a tus version other than 1.0.0."}

    def get_permissions(self):
        # OPTIONS is capability discovery (and a browser's CORS preflight, which has no
        # credentials); it reveals nothing about anyone's uploads.
        if self.request.method == "OPTIONS":
            return [AllowAny()]
        return super().get_permissions()

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusVersionUnsupported()

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, UploadError):
            response = super().handle_exception(UploadFailed(exc))
            if isinstance(exc, UploadOffsetMismatch):
                # Saves the client a HEAD before it resends from the right place.
                response["Upload-Offset"] = str(exc.current_offset)
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == status.HTTP_412_PRECONDITION_FAILED:
            response["Tus-Version"] = TUS_VERSION
        return response

    def options(self, request: Request, *args, **kwargs) -> Response:
        return Response(
            status=status.HTTP_204_NO_CONTENT,
            headers={
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": TUS_EXTENSIONS,
                "Tus-Max-Size": str(settings.UPLOAD_MAX_SIZE),
                # Not part of tus 1.0: tells a client how big its parts may be.
                "Tus-Max-Chunk-Size": str(settings.TUS_MAX_CHUNK_SIZE),
            },
        )

    @staticmethod
    def upload_headers(upload: Upload) -> dict[str, str]:
        return {
            "Upload-Offset": str(upload.offset),
            "Upload-Expires": http_date(upload.expires_at.timestamp()),
        }


TUS_RESUMABLE_HEADER = OpenApiParameter(
    "Tus-Resumable", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION]
)


class UploadCreateView(TusView):
    """Create a resumable upload (tus creation)."""

    # Only creation is throttled (the throttle counts POSTs): parts must flow freely.
    throttle_classes = [UploadRateThrottle]

    @extend_schema(
        summary="Create a resumable upload (tus)",
        description=(
            "Announce a file of Upload-Length bytes; answers 201 with its URL in Location. "
            "Upload-Metadata carries `filename` (and optionally `encoding`), base64-encoded. "
            f"Then send the bytes with PATCH in parts of at most TUS_MAX_CHUNK_SIZE "
            f"(default {_mib(8 * 1024 * 1024)})."
        ),
        parameters=[
            TUS_RESUMABLE_HEADER,
            OpenApiParameter("Upload-Length", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        request=None,
        responses={
            201: OpenApiResponse(description="Created; Location is the upload's URL."),
            413: OpenApiResponse(description="Upload-Length is above UPLOAD_MAX_SIZE."),
            429: OpenApiResponse(description="UPLOAD_MAX_ACTIVE_PER_USER uploads not imported yet, already."),
        },
    )
    def post(self, request: Request) -> Response:
        if request.headers.get("Upload-Defer-Length"):
            raise ParseError("Upload-Defer-Length is not supported: send Upload-Length.")
        length = _non_negative_int_header(request, "Upload-Length")
        if length is None:
            raise ParseError("Send the file's size in bytes in the Upload-Length header.")
        metadata = parse_upload_metadata(request.headers.get("Upload-Metadata", ""))
        upload = upload_create(
            owner=request.user,
            length=length,
            filename=metadata.get("filename") or metadata.get("name") or "",
            encoding=metadata.get("encoding", ""),
        )
        location = reverse("api:tus-upload-detail", kwargs={"upload_id": upload.id.hex})
        return Response(
            status=status.HTTP_201_CREATED,
            headers={"Location": location, **self.upload_headers(upload)},
        )


class UploadDetailView(TusView):
    """One resumable upload: its offset (HEAD), its next part (PATCH), its cancellation (DELETE)."""

    @extend_schema(exclude=True)
    def head(self, request: Request, upload_id: str) -> Response:
        upload = upload_get(user=request.user, upload_id=upload_id)
        return Response(
            status=status.HTTP_200_OK,
            headers={
                **self.upload_headers(upload),
                "Upload-Length": str(upload.length),
                "Upload-Metadata": encode_upload_metadata(upload),
                "Cache-Control": "no-store",
            },
        )

    @extend_schema(
        summary="Append a part to a resumable upload (tus)",
        description=(
            "The body (Content-Type application/offset+octet-stream, at most TUS_MAX_CHUNK_SIZE "
            "bytes) is stored at Upload-Offset, which must equal the bytes already received "
            "(else 409). Answers 204 with the new Upload-Offset."
        ),
        parameters=[
            TUS_RESUMABLE_HEADER,
            OpenApiParameter("Upload-Offset", OpenApiTypes.INT, OpenApiParameter.HEADER, required=True),
        ],
        request={OFFSET_CONTENT_TYPE: OpenApiTypes.BINARY},
        responses={
            204: OpenApiResponse(description="Stored; Upload-Offset is the new offset."),
            409: OpenApiResponse(description="Upload-Offset is not the upload's current offset."),
            410: OpenApiResponse(description="The upload expired."),
            411: OpenApiResponse(description="The part was sent without a Content-Length header."),
            413: OpenApiResponse(description="The part is above TUS_MAX_CHUNK_SIZE or past Upload-Length."),
        },
    )
    def patch(self, request: Request, upload_id: str) -> Response:
        content_type = request.content_type.split(";")[0].strip().lower()
        if content_type != OFFSET_CONTENT_TYPE:
            raise UnsupportedPartType()
        offset = _non_negative_int_header(request, "Upload-Offset")
        if offset is None:
            raise ParseError("Send the part's position in the file in the Upload-Offset header.")
        size = _non_negative_int_header(request, "Content-Length")
        if size is None:
            raise LengthRequired()
        if size > settings.TUS_MAX_CHUNK_SIZE:
            raise PartTooLarge(
                f"This part is {size:,} bytes, but parts may be at most "
                f"{settings.TUS_MAX_CHUNK_SIZE:,} bytes ({_mib(settings.TUS_MAX_CHUNK_SIZE)}): "
                f"send the file in smaller parts (the tus client's chunk size)."
            )
        upload = upload_get(user=request.user, upload_id=upload_id)
        upload = upload_append(upload=upload, offset=offset, body=request.stream, size=size)
        return Response(status=status.HTTP_204_NO_CONTENT, headers=self.upload_headers(upload))

    @extend_schema(
        summary="Cancel a resumable upload (tus termination)",
        description=(
            "Forgets the upload and deletes its stored parts (and its file, unless an import took it)."
        ),
        parameters=[TUS_RESUMABLE_HEADER],
        request=None,
        responses={204: OpenApiResponse(description="Cancelled; its stored parts are deleted.")},
    )
    def delete(self, request: Request, upload_id: str) -> Response:
        upload = upload_get(user=request.user, upload_id=upload_id)
        upload_terminate(upload=upload)
        return Response(status=status.HTTP_204_NO_CONTENT)
