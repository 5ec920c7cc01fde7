"""Periodic housekeeping run by celery beat (see CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from celery import shared_task

from importer.uploads import uploads_expire_stale


@shared_task(name="importer.expire_stale_uploads", ignore_result=True)
def expire_stale_uploads() -> int:
    """Delete resumable uploads nobody finished or imported within UPLOAD_EXPIRY_HOURS."""
    return uploads_expire_stale()
