"""The JSON shape of an import job: the API's representation and the SSE payload, from one place.

The worker publishes the same JSON as the API serves, so the links to a job's other resources
(its event stream, its errors CSV) cannot come from the API's URL names here: the function named
by the ``IMPORT_JOB_LINKS`` setting builds them (the API's, in this project).
"""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from rest_framework import serializers

from importer.models import ImportJob


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
        ]
        read_only_fields = fields

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
