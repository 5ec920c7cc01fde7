"""Celery tasks: thin wrappers around the import and upload services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import InterfaceError, OperationalError, connection

from importer import services
from importer.queue import RUN_IMPORT_TASK
from importer.retention import import_files_delete_expired
from importer.storage import StorageUnavailable
from importer.undo_expiry import undo_data_delete_expired
from importer.uploads import uploads_expire_stale

logger = logging.getLogger(__name__)

# A lost database connection (a restart, a failover) or an object store that stopped answering is
# worth retrying: the job resumes from its last committed chunk. Anything else is a bug or a bad
# file, and retrying will not help.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, StorageUnavailable)


@shared_task(
    name=RUN_IMPORT_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=5,
)
def run_import(self, job_id: int) -> None:
    """Run or resume import job ``job_id``. Idempotent: redelivery is harmless."""
    try:
        services.import_job_run(job_id=job_id)
    except TRANSIENT_ERRORS as exc:
        connection.close()
        lost = "file storage" if isinstance(exc, StorageUnavailable) else "database connection"
        logger.warning("Import %s lost its %s; retrying.", job_id, lost, exc_info=True)
        raise self.retry(exc=exc, countdown=min(60, 2 ** self.request.retries))
    except Exception as exc:
        logger.exception("Import %s failed unexpectedly", job_id)
        connection.close()
        services.import_job_fail(
            job_id=job_id,
            reason=f"The import stopped because of an unexpected error ({type(exc).__name__}). "
            "The products of the chunks already committed were kept; the rest was not imported.",
        )


@shared_task(name="importer.reap_stale_jobs", ignore_result=True)
def reap_stale_jobs() -> list[int]:
    """Resume imports whose worker died and re-send pending jobs whose message was lost."""
    return services.import_jobs_reap()


@shared_task(name="importer.expire_stale_uploads", ignore_result=True)
def expire_stale_uploads() -> int:
    """Delete resumable uploads nobody finished or imported within UPLOAD_EXPIRY_HOURS."""
    return uploads_expire_stale()


@shared_task(name="importer.delete_old_files", ignore_result=True)
def delete_old_files() -> dict[str, int]:
    """Delete import files and completed uploads older than IMPORT_FILE_RETENTION_DAYS."""
    result = import_files_delete_expired()
    return {"job_files": result.job_files, "uploads": result.uploads, "waiting_jobs": result.waiting_jobs}


@shared_task(name="importer.expire_undo_data", ignore_result=True)
def expire_undo_data() -> int:
    """Delete the undo data of imports past IMPORT_UNDO_DAYS, undone, or not completed."""
    return undo_data_delete_expired()
