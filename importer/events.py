"""Live events for import jobs: channel names, authorization and publishing.

The worker publishes the job's JSON (from the same serializer the API uses) after each committed
chunk and on every status change. Publishing is best effort: a Redis outage must never fail or
stall an import, since the job row stays the source of truth and clients re-read it.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import connection
from django_eventstream.channelmanager import DefaultChannelManager

logger = logging.getLogger(__name__)

EVENT_TYPE = "job"
_CHANNEL_RE = re.compile(r"^(?P<namespace>.+)\.import-(?P<job_id>\d+)$")


def events_namespace() -> str:
    # Read at call time: pytest-django renames the database after settings are loaded.
    return settings.EVENTS_NAMESPACE or connection.settings_dict["NAME"]


def import_job_channel(job_id: int) -> str:
    """The SSE channel of one import job, namespaced by environment."""
    return f"{events_namespace()}.import-{job_id}"


def job_id_from_channel(channel: str) -> int | None:
    match = _CHANNEL_RE.match(channel)
    if not match or match.group("namespace") != events_namespace():
        return None
    return int(match.group("job_id"))


class ImportChannelManager(DefaultChannelManager):
    """Only a job's owner, or staff, may read its channel; every import channel is replayable."""

    def can_read_channel(self, user, channel):
        from importer.models import ImportJob

        job_id = job_id_from_channel(channel)
        if job_id is None or user is None or not user.is_authenticated:
            return False
        if user.is_staff:
            return ImportJob.objects.filter(pk=job_id).exists()
        return ImportJob.objects.filter(pk=job_id, owner=user).exists()

    def is_channel_reliable(self, channel):
        return job_id_from_channel(channel) is not None


def import_job_publish(payload: dict) -> None:
    """Send the job's current state to its channel; log, never raise, if that fails."""
    from django_eventstream import send_event

    try:
        send_event(import_job_channel(payload["id"]), EVENT_TYPE, payload)
    except Exception:  # noqa: BLE001 - progress events must never break an import
        logger.warning("Could not publish progress of import %s", payload.get("id"), exc_info=True)
