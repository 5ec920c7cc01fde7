"""The JSON shape of an import job: the API's representation and the SSE payload, from one place.

The worker publishes the same JSON as the API serves, so the links to a job's other resources
(its event stream, its errors CSV) cannot come from the API's URL names here: the function named
by the ``IMPORT_JOB_LINKS`` setting builds them (the API's, in this project).
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from importer.models import ImportJob
from importer.undo_rules import undo_availability


@cache
def _links_builder():
    return import_string(settings.IMPORT_JOB_LINKS) if settings.IMPORT_JOB_LINKS else None


def import_job_links(job: ImportJob) -> dict[str, str | None]:
    builder = _links_builder()
    return builder(job) if builder is not None else {}


class ImportJobSerializer(serializers.ModelSerializer):
    """An import job as clients see it, over HTTP and over its event stream alike."""

    phase = serializers.CharField(source="current_phase", read_only=True)
    phase_label = serializers.CharField(source="current_phase_label", read_only=True)
    created = serializers.IntegerField(source="created_rows", read_only=True)
    updated = serializers.IntegerField(source="updated_rows", read_only=True)
    unchanged = serializers.IntegerField(source="unchanged_rows", read_only=True)
    superseded = serializers.IntegerField(source="superseded_rows", read_only=True)
    skipped = serializers.IntegerField(source="skipped_rows", read_only=True)
    rows_per_second = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()
    columns = serializers.JSONField(
        read_only=True,
        help_text="When the status is needs_mapping: each column of the file as [{key, header, "
        "position, samples, suggested}]; `key` names it in a mapping, `suggested` is sku, name, "
        "description, is_active or null.",
    )
    mapping = serializers.JSONField(
        read_only=True,
        help_text="The confirmed column mapping {column key: target}; null when the header named "
        "its columns.",
    )
    preview_only = serializers.BooleanField(
        read_only=True, help_text="This run compares the file with the catalogue and changes no product."
    )
    preview = serializers.JSONField(
        read_only=True,
        help_text="What the preview found, once previewed: {create, update, unchanged, superseded, skipped}.",
    )
    kind = serializers.CharField(
        read_only=True, help_text="import, or undo (an undo of the import `undoes`)."
    )
    undoes = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="For an undo: the import it puts back."
    )
    force = serializers.BooleanField(
        source="undo_force", read_only=True,
        help_text="For an undo: products changed since the import are undone too.",
    )
    deleted = serializers.IntegerField(
        source="deleted_rows", read_only=True, help_text="For an undo: products the import created, deleted."
    )
    restored = serializers.IntegerField(
        source="restored_rows", read_only=True,
        help_text="For an undo: products the import updated, given back their values from before it.",
    )
    conflicts = serializers.IntegerField(
        source="conflict_rows", read_only=True,
        help_text="For an undo: products changed since the import (by hand or a later import), "
        "left as they are.",
    )
    forced = serializers.IntegerField(
        source="forced_rows", read_only=True,
        help_text="For a forced undo: products changed since the import and undone anyway.",
    )
    conflict_sample = serializers.JSONField(
        read_only=True,
        help_text="For an undo: up to 20 conflicts, [{product_id, sku, action (delete|restore), "
        "current (null if deleted since), would_restore (null for a delete)}], values "
        "{sku, name, description, is_active, updated_at}.",
    )
    undo = serializers.SerializerMethodField(
        help_text="For an import: whether it can be undone and what an undo will do: {available, "
        "deletes, restores, until, reason (why not)}. Null for an undo.",
    )
    undone_by = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="For an import: the undo that is putting it back, or did."
    )
    undone_at = serializers.DateTimeField(read_only=True, help_text="For an import: when its undo completed.")
    undone_by_user = serializers.SerializerMethodField(help_text="Who undid it (their username).")
    changes = serializers.JSONField(
        read_only=True,
        help_text="A preview's sample of up to 50 rows that would change: [{line, sku, action "
        "(create|update), current (null for create), new}], values {sku, name, description, is_active}.",
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "status",
            "phase",
            "phase_label",
            "message",
            "filename",
            "size_bytes",
            "encoding",
            "file_deleted_at",
            "total_rows",
            "processed_rows",
            "progress",
            "created",
            "updated",
            "unchanged",
            "superseded",
            "skipped",
            "stored_errors",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "rows_per_second",
            "events_url",
            "errors_url",
            "columns",
            "mapping",
            "preview_only",
            "preview",
            "changes",
            "kind",
            "undoes",
            "force",
            "deleted",
            "restored",
            "conflicts",
            "forced",
            "conflict_sample",
            "undo",
            "undone_by",
            "undone_at",
            "undone_by_user",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {
                "available": {"type": "boolean"},
                "deletes": {
                    "type": "integer", "description": "Products the import created: an undo deletes them."
                },
                "restores": {"type": "integer", "description": "Products it updated: an undo restores them."},
                "until": {"type": "string", "format": "date-time", "nullable": True},
                "reason": {"type": "string", "nullable": True, "description": "Why it cannot be undone."},
            },
        }
    )
    def get_undo(self, job: ImportJob) -> dict | None:
        availability = undo_availability(job)
        return availability.as_dict() if availability else None

    def get_undone_by_user(self, job: ImportJob) -> str | None:
        undo = job.undone_by
        if undo is None or undo.owner_id is None:
            return None
        return undo.owner.get_username()

    def get_rows_per_second(self, job: ImportJob) -> float | None:
        if not job.started_at or not job.processed_rows:
            return None
        end = job.finished_at or job.heartbeat_at
        if not end:
            return None
        seconds = (end - job.started_at).total_seconds()
        return round(job.processed_rows / seconds, 1) if seconds > 0 else None

    def get_events_url(self, job: ImportJob) -> str | None:
        return import_job_links(job).get("events_url")

    def get_errors_url(self, job: ImportJob) -> str | None:
        return import_job_links(job).get("errors_url")


def import_job_payload(job: ImportJob) -> dict:
    """The job's JSON as a plain dict (for events and logs)."""
    return dict(ImportJobSerializer(job).data)
