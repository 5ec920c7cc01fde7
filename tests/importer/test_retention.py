"""Retention: import files and completed uploads are deleted IMPORT_FILE_RETENTION_DAYS (7) after
they were last needed, by the beat process; the jobs and their counts stay.

- A finished job's file goes once the job has been finished for longer than the retention; the
  job keeps its counts and says when its file was deleted (``file_deleted_at``).
- A job still pending or running keeps its file however old it is.
- A completed upload no import took loses its file; a consumed one only its row (its file is the
  job's, and goes with the job's retention).
- 0 days keeps everything.
- The real beat schedule, in a real worker, runs it.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from importer import services
from importer.models import ImportJob, Upload
from importer.retention import import_files_delete_expired
from importer.uploads import upload_append, upload_consume, upload_create
from tests.support.clients import token_client
from tests.support.jobs import create_job
from tests.support.processes import running_worker
from tests.support.waiting import wait_until

# storage: run again on object storage by `make test` (--file-storage=s3).
pytestmark = pytest.mark.storage

CSV = b"sku,name\nRET-1,Kept\nRET-2,\n"
DAYS = 7


def finished_job(owner, *, days_ago: float) -> ImportJob:
    job = create_job(CSV, owner=owner)
    services.import_job_run(job_id=job.pk)
    ImportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=days_ago))
    return ImportJob.objects.get(pk=job.pk)


def completed_upload(owner, *, days_ago: float) -> Upload:
    upload = upload_create(owner=owner, length=len(CSV), filename="u.csv")
    upload_append(upload=upload, offset=0, body=io.BytesIO(CSV), size=len(CSV))
    Upload.objects.filter(pk=upload.pk).update(
        completed_at=timezone.now() - timedelta(days=days_ago), expires_at=timezone.now() + timedelta(hours=1)
    )
    return Upload.objects.get(pk=upload.pk)


def stored(name: str) -> bool:
    return bool(name) and default_storage.exists(name)


@pytest.mark.django_db
def test_a_job_finished_longer_ago_than_the_retention_loses_its_file_and_keeps_its_counts(
    user, django_capture_on_commit_callbacks
):
    old = finished_job(user, days_ago=DAYS + 0.1)
    recent = finished_job(user, days_ago=DAYS - 0.1)
    old_name = old.file.name
    assert stored(old_name) and stored(recent.file.name)

    with django_capture_on_commit_callbacks(execute=True):
        result = import_files_delete_expired()

    assert result.job_files == 1
    assert not stored(old_name)
    old = ImportJob.objects.get(pk=old.pk)
    assert old.file.name == "" and old.file_deleted_at is not None
    assert (old.status, old.created_rows, old.skipped_rows, old.stored_errors) == ("completed", 1, 1, 1)
    assert old.row_errors.count() == 1
    shown = token_client(user).get(f"/api/imports/{old.pk}/").json()
    assert shown["file_deleted_at"] is not None and shown["created"] == 1
    assert stored(recent.file.name)
    assert ImportJob.objects.get(pk=recent.pk).file_deleted_at is None


@pytest.mark.django_db
def test_an_active_job_keeps_its_file_however_old(user, django_capture_on_commit_callbacks):
    pending = create_job(CSV, owner=user)
    ImportJob.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(days=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_delete_expired().job_files == 0
    assert stored(pending.file.name)


@pytest.mark.django_db
def test_old_completed_uploads_are_deleted_and_an_imported_ones_file_stays_with_its_job(
    user, django_capture_on_commit_callbacks
):
    unclaimed = completed_upload(user, days_ago=DAYS + 1)
    claimed = completed_upload(user, days_ago=DAYS + 1)
    consumed = upload_consume(user=user, upload_id=claimed.pk)
    job = services.import_job_create(
        owner=user,
        stored_name=consumed.stored_name,
        filename=consumed.filename,
        size_bytes=consumed.size_bytes,
        enqueue=False,
    )
    fresh = completed_upload(user, days_ago=1)

    with django_capture_on_commit_callbacks(execute=True):
        result = import_files_delete_expired()

    assert result.uploads == 2
    assert not Upload.objects.filter(pk__in=[unclaimed.pk, claimed.pk]).exists()
    assert not stored(unclaimed.stored_name)
    assert stored(job.file.name)  # the pending job still needs it
    assert Upload.objects.filter(pk=fresh.pk).exists() and stored(fresh.stored_name)


@pytest.mark.django_db
def test_a_job_left_waiting_for_a_mapping_or_a_confirmation_is_discarded_with_its_file(
    user, django_capture_on_commit_callbacks
):
    unmapped = create_job(b"code,title\nA,B\n", owner=user)
    services.import_job_run(job_id=unmapped.pk)
    previewed = services.import_job_create(
        owner=user, file=ContentFile(CSV), filename="p.csv", enqueue=False, preview=True
    )
    services.import_job_run(job_id=previewed.pk)
    recent = create_job(b"code,title\nA,B\n", owner=user)
    services.import_job_run(job_id=recent.pk)
    assert {j.status for j in ImportJob.objects.all()} == {"needs_mapping", "previewed"}
    names = {job.pk: ImportJob.objects.get(pk=job.pk).file.name for job in (unmapped, previewed, recent)}
    ImportJob.objects.filter(pk__in=[unmapped.pk, previewed.pk]).update(
        updated_at=timezone.now() - timedelta(days=DAYS + 0.1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        result = import_files_delete_expired()

    assert (result.waiting_jobs, result.job_files) == (2, 2)
    for job in (unmapped, previewed):
        job = ImportJob.objects.get(pk=job.pk)
        assert job.status == "cancelled" and job.file_deleted_at is not None
        assert "Discarded: it waited for a" in job.message
        assert not stored(names[job.pk])
    assert ImportJob.objects.get(pk=recent.pk).status == "needs_mapping"
    assert stored(names[recent.pk])


@pytest.mark.django_db
def test_zero_days_keeps_everything(user, settings, django_capture_on_commit_callbacks):
    settings.IMPORT_FILE_RETENTION_DAYS = 0
    old = finished_job(user, days_ago=400)
    with django_capture_on_commit_callbacks(execute=True):
        assert import_files_delete_expired().job_files == 0
    assert stored(old.file.name)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_beat_process_deletes_old_files(user, process_logs, media_root: Path):
    old = finished_job(user, days_ago=DAYS + 1)
    assert stored(old.file.name)

    with running_worker(process_logs, IMPORT_RETENTION_INTERVAL="1") as worker:
        wait_until(
            # The file goes once the deletion is recorded (on commit): wait for both.
            lambda: ImportJob.objects.get(pk=old.pk).file_deleted_at and not stored(old.file.name),
            what=f"the file deleted\n{worker.log_excerpt()}",
            timeout=60,
        )
    assert not stored(old.file.name)
