"""The JSON shape of an import job: the API's representation and the SSE payload, from one place."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from rest_framework import serializers

from importer.models import ImportJob


class ImportJobSerializer(serializers.ModelSerializer):
    """An import job as clients see it, over HTTP and over its event stream alike."""

    created = serializers.IntegerField(source="created_rows", read_only=True)
    updated = serializers.IntegerField(source="updated_rows", read_only=True)
    unchanged = serializers.IntegerField(source="unchanged_rows", read_only=True)
    skipped = serializers.IntegerField(source="skipped_rows", read_only=True)
    phase_label = serializers.CharField(source="get_phase_display", read_only=True)
    rows_per_second = serializers.SerializerMethodField()
    events_url = serializers.SerializerMethodField()
    errors_url = serializers.SerializerMethodField()

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
            "total_rows",
            "processed_rows",
            "progress",
            "created",
            "updated",
            "unchanged",
            "skipped",
            "error_count",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
            "heartbeat_at",
            "rows_per_second",
            "events_url",
            "errors_url",
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

    def _url(self, name: str, job: ImportJob) -> str | None:
        try:
            return reverse(name, kwargs={"pk": job.pk})
        except NoReverseMatch:
            return None

    def get_events_url(self, job: ImportJob) -> str | None:
        return self._url("api:import-events", job)

    def get_errors_url(self, job: ImportJob) -> str | None:
        return self._url("api:import-errors", job)


def import_job_payload(job: ImportJob) -> dict:
    """The job's JSON as a plain dict (for events and logs)."""
    return dict(ImportJobSerializer(job).data)
