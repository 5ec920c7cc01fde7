"""Where a job's resources live in this API, for the job JSON (setting ``IMPORT_JOB_LINKS``)."""

from __future__ import annotations

from django.urls import reverse


def import_job_links(job) -> dict[str, str]:
    return {
        "events_url": reverse("api:import-events", kwargs={"pk": job.pk}),
        "errors_url": reverse("api:import-errors", kwargs={"pk": job.pk}),
    }
