"""Import jobs: the single source of truth for every CSV import."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from importer.states import FINISHED_STATUSES, ImportPhase, ImportStatus, JobKind


class ImportJob(models.Model):
    """One CSV import: its file, its state, its progress and its outcome.

    Progress fields are written in the same transaction as the chunk of products they describe,
    so the job always accounts exactly for what is in the catalogue. ``resume_offset`` and
    ``resume_line`` mark where the next chunk starts in the file. The row counts are defined in
    ``importer.pipeline.results``. Every skipped row is counted in ``skipped_rows``; the first
    ``IMPORT_MAX_STORED_ERRORS`` of them are stored as ``ImportRowError`` rows, and
    ``stored_errors`` says how many were.
    """

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="import_jobs",
        null=True,
        blank=True,
        help_text="Who started the import (only they and staff see it); empty for a job created by code.",
    )
    file = models.FileField(upload_to="imports/%Y/%m/%d/", max_length=500, blank=True)
    file_deleted_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the file was deleted after IMPORT_FILE_RETENTION_DAYS (the job and its counts stay).",
    )
    filename = models.CharField(max_length=255, help_text="The file's original name (metadata only).")
    size_bytes = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=40, default="utf-8")

    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.PENDING, db_index=True
    )
    phase = models.CharField(
        max_length=16, choices=ImportPhase.choices, default=ImportPhase.QUEUED,
        help_text="Where the job is while it is active; a finished job's phase is its status.",
    )
    message = models.TextField(blank=True, default="")

    total_rows = models.BigIntegerField(null=True, blank=True)
    processed_rows = models.BigIntegerField(default=0)
    progress = models.PositiveSmallIntegerField(default=0)
    created_rows = models.BigIntegerField(default=0)
    updated_rows = models.BigIntegerField(default=0)
    unchanged_rows = models.BigIntegerField(default=0)
    superseded_rows = models.BigIntegerField(default=0)
    skipped_rows = models.BigIntegerField(default=0)
    stored_errors = models.BigIntegerField(
        default=0, help_text="How many of the skipped rows are stored as ImportRowError rows (the errors CSV)."
    )
    errors = models.JSONField(
        default=list, blank=True, help_text="The first row errors: [{line, sku, reason}, ...]."
    )

    resume_offset = models.BigIntegerField(default=0)
    resume_line = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    # Column mapping (importer.mapping). ``columns``: the file's columns as offered for mapping
    # (set when the job stops in needs_mapping). ``mapping``: the confirmed {column key: target};
    # ``mapping_positions``: the same as {target: column index}, what the worker reads with.
    # Both empty: the header names the columns itself (sku, name, …).
    columns = models.JSONField(
        null=True, blank=True,
        help_text="The file's columns with sample values and suggested targets, when a mapping is needed.",
    )
    mapping = models.JSONField(
        null=True, blank=True, help_text="The confirmed mapping: {column key: target}."
    )
    mapping_positions = models.JSONField(null=True, blank=True, help_text="{target: 0-based column index}.")
    # Preview (importer.pipeline.preview): a run that compares the file with the catalogue and
    # writes no product. ``preview_only`` is the mode of the current run; ``preview`` and
    # ``changes`` are what the last preview found (kept after it is confirmed).
    preview_only = models.BooleanField(default=False)
    preview = models.JSONField(
        null=True, blank=True,
        help_text="What a preview found: {create, update, unchanged, superseded, skipped}.",
    )
    changes = models.JSONField(
        default=list, blank=True,
        help_text="Up to PREVIEW_SAMPLE_CHANGES rows that would change, current → new.",
    )

    # Undo (importer.undo). An undo is a job of its own (kind "undo", ``undoes`` the import) that
    # runs through the same state machine, worker task, reaper and event stream. On the import:
    # ``undone_by`` is set when an undo of it is created (one at a time; cleared again if that
    # undo is cancelled or fails) and ``undone_at`` when that undo completed. ``undo_discarded_at``
    # says its undo data is gone (expired after IMPORT_UNDO_DAYS, or every product was deleted).
    kind = models.CharField(max_length=8, choices=JobKind.choices, default=JobKind.IMPORT)
    undoes = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="undo_jobs",
        help_text="For an undo: the import it puts back.",
    )
    undo_force = models.BooleanField(
        default=False, help_text="For an undo: also undo products changed since the import."
    )
    undone_by = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="For an import: the undo that is putting it back or has done so.",
    )
    undone_at = models.DateTimeField(
        null=True, blank=True, help_text="For an import: when its undo completed."
    )
    undo_discarded_at = models.DateTimeField(
        null=True, blank=True,
        help_text="For an import: when its undo data was deleted (it can no longer be undone).",
    )
    undo_discarded_reason = models.CharField(max_length=200, blank=True, default="")
    # An undo's own counts (its processed_rows/total_rows count the products it has gone through).
    deleted_rows = models.BigIntegerField(default=0)
    restored_rows = models.BigIntegerField(default=0)
    conflict_rows = models.BigIntegerField(
        default=0, help_text="Products changed since the import and left as they are (not forced)."
    )
    forced_rows = models.BigIntegerField(
        default=0, help_text="Products changed since the import and undone anyway (force)."
    )
    conflict_sample = models.JSONField(
        default=list, blank=True,
        help_text="Up to UNDO_SAMPLE_CONFLICTS conflicts: current vs. would restore.",
    )
    undo_cursor = models.JSONField(
        default=dict, blank=True, help_text="Where a resumed undo goes on: {stage, after, index}."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "-created_at"], name="importer_job_owner_recent")]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.filename} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def current_phase(self) -> str:
        """The phase as shown: where an active job is, or a finished job's status."""
        return self.status if self.is_finished else self.phase

    @property
    def current_phase_label(self) -> str:
        return self.get_status_display() if self.is_finished else self.get_phase_display()


class RememberedMapping(models.Model):
    """A user's confirmed column mapping for one set of headers, applied to their next file with
    the same headers (in any order, case or spacing) without asking.

    ``header_key`` is a digest of the file's normalised header names (``importer.mapping``);
    ``targets`` maps each normalised name (``name#2`` for its second occurrence) to its target.
    """

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    header_key = models.CharField(max_length=64)
    headers = models.JSONField(help_text="The header names as the file had them (for people reading it).")
    targets = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "header_key"], name="importer_remembered_mapping_unique")
        ]

    def __str__(self) -> str:
        return f"mapping of {self.owner_id} for {', '.join(self.headers)[:80]}"


class ProductBeforeImage(models.Model):
    """A product as it was just before an import changed it: what an undo restores.

    Written set-based by the merge (``importer.pipeline.staging``) in the chunk's own transaction,
    read and deleted with SQL only (``importer.undo_data``). ``written_at`` is that transaction's
    time, which is also the ``updated_at`` the import gave the product: a product whose
    ``updated_at`` differs at undo time was changed since (a conflict).
    """

    pk = models.CompositePrimaryKey("job", "product_id")
    # No foreign key constraints (checked per row, they cost the merge a lookup each): rows go with
    # their job's undo data (undo_data), and a product may be deleted since.
    job = models.ForeignKey(
        ImportJob, on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    product_id = models.BigIntegerField()
    sku = models.TextField()
    name = models.TextField()
    description = models.TextField()
    is_active = models.BooleanField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    written_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"import {self.job_id}: product {self.product_id} before"


class CreatedProducts(models.Model):
    """The ids of the products one chunk of an import created, as one array (one row per chunk
    keeps the cost of recording them to a single small insert).

    Any import path may write rows ``(job_id, ids)``: ``id`` and ``written_at`` have database
    defaults, and ``written_at`` must be the time of the transaction that created the products
    (insert in that transaction), as it tells an undo which products were changed since.
    """

    id = models.BigAutoField(primary_key=True)
    job = models.ForeignKey(
        ImportJob, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    ids = ArrayField(models.BigIntegerField())
    written_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "importer_createdproducts"

    def __str__(self) -> str:
        return f"import {self.job_id}: {len(self.ids)} created"


class ImportRowError(models.Model):
    """A row that was skipped, with its line number in the file and the reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.BigIntegerField()
    sku = models.TextField(blank=True, default="")
    reason = models.TextField()

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importer_rowerror_job_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class DeferredRow(models.Model):
    """A valid row of a running import whose SKU appears more than once in its file.

    It waits here, committed with its chunk, until the whole file has been read; then the last row
    of each SKU is merged and the rest counted as superseded (``importer.pipeline.staging``). Rows
    are written and read with SQL only; a finished job has none left.
    """

    pk = models.CompositePrimaryKey("job", "line")
    # The primary key's index, (job, line), serves every query; no second index on job alone. No
    # foreign key constraint in the database either: checking it cost each held-back row a lookup
    # and a lock on the job. Rows go when their job finishes (services, the reaper) or is deleted.
    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )
    line = models.BigIntegerField()
    sku = models.TextField()
    name = models.TextField()
    description = models.TextField()
    is_active = models.BooleanField(null=True)  # None: the file has no is_active column

    def __str__(self) -> str:
        return f"import {self.job_id} line {self.line}: {self.sku}"


# --- Resumable uploads (tus) ------------------------------------------------------------------
# A large CSV arrives as many small PATCH requests (daphne buffers whole request bodies), each
# stored as one part object; the parts are assembled into a single file when the last one lands.
# The services live in importer/uploads.py, the protocol in api/tus.py.


class Upload(models.Model):
    """A resumable upload of one file by one user: how long it will be and how much has arrived.

    ``offset`` only moves forward, by a compare-and-set UPDATE after a part is safely stored, so it
    always equals the bytes held in the upload's parts. ``stored_name`` is set once the parts have
    been assembled into one file; ``consumed_at`` once an import has taken that file over.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="uploads"
    )
    filename = models.CharField(max_length=255, help_text="The client's name for the file (metadata only).")
    encoding = models.CharField(max_length=40, blank=True, default="")
    length = models.BigIntegerField(help_text="The file's announced size in bytes (Upload-Length).")
    offset = models.BigIntegerField(default=0, help_text="Bytes received and stored so far.")
    stored_name = models.CharField(
        max_length=500, blank=True, default="", help_text="The assembled file in default storage."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    consumed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Upload {self.id.hex} {self.filename} ({self.offset}/{self.length})"

    @property
    def is_complete(self) -> bool:
        return self.offset >= self.length


class UploadPart(models.Model):
    """One stored PATCH body of an upload: the bytes [offset, offset + size) of the file."""

    upload = models.ForeignKey(Upload, on_delete=models.CASCADE, related_name="parts")
    offset = models.BigIntegerField()
    size = models.BigIntegerField()
    name = models.CharField(max_length=500, help_text="The part's name in default storage.")

    class Meta:
        ordering = ["upload", "offset"]
        constraints = [
            models.UniqueConstraint(fields=["upload", "offset"], name="importer_uploadpart_unique_offset")
        ]

    def __str__(self) -> str:
        return f"{self.name} @{self.offset}+{self.size}"

