"""Sending an import to the workers. By task name, so the services need not import the tasks
(which call the services)."""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

RUN_IMPORT_TASK = "importer.run_import"


def enqueue_import_on_commit(job_id: int) -> None:
    """Queue ``run_import(job_id)`` once the current transaction commits.

    The job is committed with its ``enqueued_at``, so a message the broker refuses is not lost: the
    reaper sends it again after IMPORT_REQUEUE_PENDING_AFTER. Raising here would answer 500 for an
    import that exists and will run.
    """

    def enqueue() -> None:
        try:
            current_app.send_task(RUN_IMPORT_TASK, args=(job_id,))
        except Exception:  # noqa: BLE001 - any broker failure; the reaper is the safety net
            logger.warning(
                "Could not queue import %s; the reaper will queue it again within %ss.",
                job_id, settings.IMPORT_REQUEUE_PENDING_AFTER, exc_info=True,
            )

    transaction.on_commit(enqueue)
