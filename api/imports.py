"""Import jobs over HTTP: start (small file or finished resumable upload, optionally with a column
mapping or as a preview), list, show, map the columns, confirm a preview, cancel, and download
every row error as CSV."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.conf import settings
from django.db import transaction
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, renderers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from api.csv_download import CSVRenderer, csv_attachment
from api.exceptions import PayloadTooLarge
from api.serializers import (
    ColumnMappingSerializer,
    ErrorSerializer,
    ImportFileSerializer,
    ImportUploadSerializer,
    UndoRequestSerializer,
)
from api.throttling import UploadRateThrottle
from importer import selectors, services
from importer.mapping import MappingInvalid
from importer.models import ImportJob
from importer.serializers import ImportJobSerializer
from importer.undo import import_job_undo
from importer.uploads import upload_consume

# Spreadsheet programs run a cell that starts with one of these as a formula ("CSV injection");
# SKUs and reasons come from uploaded files, so such cells get a leading apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ERRORS_CSV_HEADER = ("line", "sku", "reason")
ERRORS_BATCH_SIZE = 2000


def neutralise_formula(value: str) -> str:
    """``value`` made safe to open in a spreadsheet: never read as a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


class _Echo:
    """A file-like object whose write() returns what it was given, for csv.writer."""

    def write(self, value: str) -> str:
        return value


def _csv_text(writer, batch: list[tuple[int, int, str, str]]) -> str:
    # One piece of output per batch, not per row: each piece is a separate write to the client.
    return "".join(
        writer.writerow((line, neutralise_formula(sku), neutralise_formula(reason)))
        for _, line, sku, reason in batch
    )


def _not_stored_text(writer, job_id: int) -> str:
    # Read at the end, so a job still running is described as it is once its rows were sent.
    omitted = selectors.import_job_errors_not_stored(job_id=job_id)
    if not omitted:
        return ""
    return writer.writerow(
        (
            "",
            "",
            f"… and {omitted:,} more skipped {'row' if omitted == 1 else 'rows'}, counted but not "
            f"listed: a job stores its first {settings.IMPORT_MAX_STORED_ERRORS:,} row errors "
            "(IMPORT_MAX_STORED_ERRORS).",
        )
    )


def _mapping_error(exc: MappingInvalid) -> serializers.ValidationError:
    # Flat messages under "columns", as the error shape has it; each names its column.
    messages = [message for problems in exc.errors.values() for message in problems]
    return serializers.ValidationError({"columns": messages}, code="invalid_mapping")


def errors_csv_lines(job: ImportJob) -> Iterator[str]:
    """The job's errors CSV in pieces: the header, then (line, sku, reason) rows by batch, then,
    if the job skipped more rows than it stored, a last row without a line that says how many."""
    writer = csv.writer(_Echo())
    yield writer.writerow(ERRORS_CSV_HEADER)
    after = None
    while batch := selectors.import_job_row_errors_batch(job=job, after=after, limit=ERRORS_BATCH_SIZE):
        yield _csv_text(writer, batch)
        after = (batch[-1][1], batch[-1][0])
    yield _not_stored_text(writer, job.pk)


@extend_schema_view(
    list=extend_schema(description="Your imports, newest first (staff see everyone's)."),
    retrieve=extend_schema(description="One import job; another user's job is 404."),
)
class ImportJobViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """CSV imports: each runs in a worker; progress is in the job (and its event stream)."""

    # For the schema generator, which has no user to ask the selector about.
    queryset = ImportJob.objects.none()
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, JSONParser]
    filterset_class = None

    def get_queryset(self):
        return selectors.import_jobs_for_display(user=self.request.user)

    def get_throttles(self):
        # A file posted here is a new transfer, counted like a resumable upload's creation;
        # starting from a finished upload ({"upload": id}) was counted when that upload began.
        if self.action == "create" and self.request.content_type.startswith("multipart/"):
            return [UploadRateThrottle()]
        return super().get_throttles()

    def initial(self, request: Request, *args, **kwargs) -> None:
        # Before authentication on purpose: session authentication's CSRF check parses a
        # multipart body (writing it to temporary files), which is exactly the work to avoid.
        if self.action == "create":
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            self._refuse_if_too_large(length)
        super().initial(request, *args, **kwargs)

    @staticmethod
    def _refuse_if_too_large(size: int) -> None:
        limit = settings.IMPORT_MAX_DIRECT_UPLOAD_BYTES
        if size > limit:
            raise PayloadTooLarge(
                f"This file is too large to send in one request (limit {limit:,} bytes). Upload it "
                "with the resumable upload protocol (tus) at /api/uploads/, then start the import "
                'with {"upload": "<upload id>"}.'
            )

    @extend_schema(
        request={
            "multipart/form-data": ImportFileSerializer,
            "application/json": ImportUploadSerializer,
        },
        responses={
            201: ImportJobSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Bad encoding, or the upload is unknown, incomplete or used."
            ),
            413: OpenApiResponse(
                ErrorSerializer, description="The file is too large for one request: use /api/uploads/."
            ),
            # By hand: only a posted file is throttled (get_throttles), which the schema cannot see.
            429: OpenApiResponse(ErrorSerializer, description="Too many uploads started; see Retry-After."),
        },
        description=(
            "Start an import: either a multipart `file` (small files, up to "
            "IMPORT_MAX_DIRECT_UPLOAD_BYTES) or JSON `{\"upload\": \"<id>\"}` naming a completed "
            "resumable upload from /api/uploads/. An optional `encoding` applies to both, and so do "
            "`columns` (a column mapping, checked against the file's header: 400 if it does not fit) "
            "and `preview` (compare with the catalogue, change nothing)."
        ),
    )
    def create(self, request: Request) -> Response:
        try:
            if request.content_type.startswith("multipart/"):
                job = self._create_from_file(request)
            else:
                job = self._create_from_upload(request)
        except MappingInvalid as exc:
            raise _mapping_error(exc) from None
        return Response(self.get_serializer(job).data, status=status.HTTP_201_CREATED)

    def _create_from_file(self, request: Request) -> ImportJob:
        serializer = ImportFileSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        # A body sent without Content-Length (chunked) can only be measured once parsed.
        self._refuse_if_too_large(upload.size)
        return services.import_job_create(
            owner=request.user,
            file=upload,
            filename=upload.name or "upload.csv",
            size_bytes=upload.size,
            encoding=serializer.validated_data.get("encoding", ""),
            columns=serializer.validated_data.get("columns"),
            preview=serializer.validated_data.get("preview", False),
        )

    def _create_from_upload(self, request: Request) -> ImportJob:
        serializer = ImportUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # One transaction: if the job cannot be created, the upload stays unconsumed.
        with transaction.atomic():
            upload = upload_consume(user=request.user, upload_id=serializer.validated_data["upload"])
            return services.import_job_create(
                owner=request.user,
                stored_name=upload.stored_name,
                filename=upload.filename,
                size_bytes=upload.size_bytes,
                encoding=serializer.validated_data.get("encoding") or upload.encoding,
                columns=serializer.validated_data.get("columns"),
                preview=serializer.validated_data.get("preview", False),
            )

    @extend_schema(
        request=None,
        responses={
            200: ImportJobSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The import has already finished."),
        },
        description=(
            "Cancel a pending or running import (products already imported are kept), or discard "
            "one waiting for a mapping or a previewed one (nothing was imported)."
        ),
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        job = services.import_job_cancel(job=self.get_object())
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=ColumnMappingSerializer,
        responses={
            200: ImportJobSerializer,
            400: OpenApiResponse(
                ErrorSerializer,
                description="The mapping does not fit the file: an unknown column or target, sku or "
                "name missing or given twice (each message names the column).",
            ),
            409: OpenApiResponse(ErrorSerializer, description="The import does not need a mapping."),
        },
        description=(
            "Say which column is which for an import in `needs_mapping` (its `columns` list the "
            "keys, samples and suggestions). The mapping is remembered: your next file with the "
            "same headers is mapped without asking. The import then goes on (pending)."
        ),
    )
    @action(detail=True, methods=["post"], url_path="mapping", url_name="mapping")
    def mapping(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        serializer = ColumnMappingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            job = services.import_job_map(job=job, columns=serializer.validated_data["columns"])
        except MappingInvalid as exc:
            raise _mapping_error(exc) from None
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=None,
        responses={
            200: ImportJobSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The import is not previewed."),
        },
        description=(
            "Import a previewed file for real, from the file already stored (no new upload). The "
            "catalogue as it is now is what the import merges into."
        ),
    )
    @action(detail=True, methods=["post"])
    def confirm(self, request: Request, pk: str | None = None) -> Response:
        job = services.import_job_confirm(job=self.get_object())
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=UndoRequestSerializer,
        responses={
            202: ImportJobSerializer,
            400: OpenApiResponse(
                ErrorSerializer, description="Not an import that changed anything: an undo, or a preview."
            ),
            409: OpenApiResponse(
                ErrorSerializer,
                description="The import cannot be undone now: not completed, already undone or being "
                "undone, or its undo data is gone (IMPORT_UNDO_DAYS passed, or every product was deleted).",
            ),
        },
        description=(
            "Undo a completed import: the products it created are deleted, those it updated get back "
            "the values (and is_active) they had just before it. A product changed since the import is "
            "left as it is and reported in the undo's `conflicts` and `conflict_sample`, unless "
            "`force` is true. Answers the undo job (202), which runs in a worker like an import: "
            "follow it at its `events_url`, cancel it at its cancel URL. The import's `undo` says "
            "beforehand whether it can be undone and what the undo will do."
        ),
    )
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None) -> Response:
        job = self.get_object()
        serializer = UndoRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        undo = import_job_undo(job=job, owner=request.user, force=serializer.validated_data["force"])
        return Response(self.get_serializer(undo).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description=(
            "Every stored skipped row as CSV (line, sku, reason), streamed. Cells that a "
            "spreadsheet would run as a formula start with an apostrophe. A job stores its first "
            "IMPORT_MAX_STORED_ERRORS row errors; if it skipped more, a last row with an empty "
            "line says how many more there were."
        ),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="errors",
        url_name="errors",
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
        pagination_class=None,
    )
    def errors(self, request: Request, pk: str | None = None) -> StreamingHttpResponse:
        job = self.get_object()
        # Rows are read in batches, so memory stays flat however many errors there are.
        return csv_attachment(request, errors_csv_lines(job), filename=f"import-{job.pk}-errors.csv")

