"""Publishing an import job's live events: channel names, who may read them, and sending.

The worker publishes the job's JSON (from the same serializer the API uses) after each committed
chunk and on every status change, always after the transaction commits. Publishing is best
effort: a Redis outage must never fail or stall an import, since the job row stays the source of
truth and a client that reconnects is sent the job's current state.

django-eventstream's ``send_event`` appends every event to its event log (``DjangoModelStorage``),
where it gets the next id of its channel (1, 2, 3…, no gaps), then publishes it on Redis. Reading
the log is ``importer.event_log``; streaming to clients is ``api.job_stream``.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.db import connection, transaction
from django_eventstream import send_event
from django_eventstream.channelmanager import DefaultChannelManager

from importer.selectors import import_job_list
from importer.serializers import import_job_payload

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
    """Only a job's owner, or staff, may read its channel; every import channel is replayable.

    The SSE view (``api.events``) checks access itself, before it streams, with the same
    selector; this keeps the rule for anything that goes through django-eventstream's views.
    """

    def can_read_channel(self, user, channel):
        job_id = job_id_from_channel(channel)
        if job_id is None or user is None or not user.is_authenticated:
            return False
        return import_job_list(user=user).filter(pk=job_id).exists()

    def is_channel_reliable(self, channel):
        return job_id_from_channel(channel) is not None


def import_job_publish(payload: dict) -> None:
    """Send the job's current state to its channel; log, never raise, if that fails."""
    try:
        send_event(import_job_channel(payload["id"]), EVENT_TYPE, payload)
    except Exception:  # noqa: BLE001 - progress events must never break an import
        logger.warning("Could not publish progress of import %s", payload.get("id"), exc_info=True)


def import_job_publish_on_commit(job) -> None:
    """Publish ``job``'s state as it is now, once the current transaction commits."""
    payload = import_job_payload(job)
    transaction.on_commit(lambda: import_job_publish(payload))
