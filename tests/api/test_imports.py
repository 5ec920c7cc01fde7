"""Import jobs over HTTP: start from a small file or a finished upload, list, show, cancel."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from importer import services
from importer.models import ImportJob
from importer.states import ImportStatus
from importer.uploads import upload_append, upload_create
from tests.support.stored import stored_names

# storage: run again on object storage by `make test` (--file-storage=s3).
pytestmark = [pytest.mark.django_db, pytest.mark.storage]

CSV = b"sku,name,description\nA-1,Anvil,heavy\nB-2,Bucket,\n,No SKU,\n"


def csv_file(data: bytes = CSV, name: str = "products.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def completed_upload(owner, data: bytes = CSV, **meta):
    upload = upload_create(owner=owner, length=len(data), filename="big.csv", **meta)
    return upload_append(upload=upload, offset=0, body=io.BytesIO(data), size=len(data))


def job_for(owner, **fields) -> ImportJob:
    return ImportJob.objects.create(owner=owner, filename="x.csv", **fields)


def test_multipart_file_creates_a_pending_job_and_queues_it(
    alice_client, user, task_queue, django_capture_on_commit_callbacks
):
    redis, queue = task_queue
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/api/imports/", {"file": csv_file()}, format="multipart")
    assert response.status_code == 201, response.data
    job = ImportJob.objects.get(pk=response.data["id"])
    assert (job.owner, job.filename, job.size_bytes, job.status) == (
        user, "products.csv", len(CSV), "pending"
    )
    assert job.file.read() == CSV
    assert response.data["status"] == "pending"
    assert response.data["errors_url"] == f"/api/imports/{job.pk}/errors/"
    assert response.data["events_url"] == f"/api/imports/{job.pk}/events/"

    # The Celery message for this job waits in this test session's queue (no worker needed).
    messages = [json.loads(raw) for raw in redis.lrange(queue, 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages] == [
        ("importer.run_import", f"({job.pk},)")
    ]


def test_an_imported_file_completes_with_its_counts_and_row_errors(alice_client):
    response = alice_client.post("/api/imports/", {"file": csv_file()}, format="multipart")
    services.import_job_run(job_id=response.data["id"])
    job = alice_client.get(f"/api/imports/{response.data['id']}/").data
    assert (job["status"], job["processed_rows"], job["created"], job["skipped"]) == ("completed", 3, 2, 1)
    assert job["errors"] == [{"line": 4, "sku": "", "reason": "SKU is empty"}]


def test_encoding_is_validated_and_kept(alice_client):
    bad = alice_client.post("/api/imports/", {"file": csv_file(), "encoding": "klingon"}, format="multipart")
    assert bad.status_code == 400
    assert "Unknown encoding 'klingon'" in bad.data["errors"]["encoding"][0]
    assert not ImportJob.objects.exists()

    good = alice_client.post(
        "/api/imports/", {"file": csv_file(), "encoding": "Windows-1252"}, format="multipart"
    )
    assert good.status_code == 201
    assert good.data["encoding"] == "cp1252"


def test_missing_file_is_400(alice_client):
    response = alice_client.post("/api/imports/", {"encoding": "utf-8"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.data["errors"]


def test_file_above_the_direct_upload_limit_is_413_pointing_to_resumable_uploads(
    alice_client, settings, media_root
):
    settings.IMPORT_MAX_DIRECT_UPLOAD_BYTES = 100
    response = alice_client.post("/api/imports/", {"file": csv_file(CSV * 10)}, format="multipart")
    assert response.status_code == 413
    assert response.data["code"] == "too_large"
    assert "/api/uploads/" in response.data["detail"]
    assert "100 bytes" in response.data["detail"]
    assert not ImportJob.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))
    assert stored_names() == []


def test_oversize_body_is_refused_before_it_is_parsed(alice_client, settings, monkeypatch):
    settings.IMPORT_MAX_DIRECT_UPLOAD_BYTES = 100

    def parse(*args, **kwargs):
        raise AssertionError("the body was parsed")

    monkeypatch.setattr("rest_framework.parsers.MultiPartParser.parse", parse)
    monkeypatch.setattr("django.http.request.HttpRequest._load_post_and_files", parse)
    response = alice_client.post("/api/imports/", {"file": csv_file(CSV * 10)}, format="multipart")
    assert response.status_code == 413


def test_completed_upload_starts_an_import(
    alice_client, user, task_queue, django_capture_on_commit_callbacks
):
    upload = completed_upload(user, encoding="latin-1")
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post("/api/imports/", {"upload": str(upload.pk)})
    assert response.status_code == 201, response.data
    job = ImportJob.objects.get(pk=response.data["id"])
    upload.refresh_from_db()
    assert (job.file.name, job.filename, job.size_bytes, job.encoding) == (
        upload.stored_name, "big.csv", len(CSV), "iso8859-1"
    )
    assert upload.consumed_at is not None
    assert task_queue[0].llen(task_queue[1]) == 1

    services.import_job_run(job_id=job.pk)
    assert alice_client.get(f"/api/imports/{job.pk}/").data["status"] == "completed"


def test_encoding_in_the_request_overrides_the_uploads_metadata(alice_client, user):
    upload = completed_upload(user, encoding="latin-1")
    response = alice_client.post("/api/imports/", {"upload": upload.pk.hex, "encoding": "cp1252"})
    assert response.data["encoding"] == "cp1252"


def test_upload_is_consumed_once(alice_client, user):
    upload = completed_upload(user)
    assert alice_client.post("/api/imports/", {"upload": str(upload.pk)}).status_code == 201
    again = alice_client.post("/api/imports/", {"upload": str(upload.pk)})
    assert again.status_code == 400
    assert again.data["code"] == "consumed"
    assert "already been used" in again.data["errors"]["upload"][0]


def test_incomplete_unknown_or_someone_elses_upload_is_400(alice_client, user, other_user):
    incomplete = upload_create(owner=user, length=100, filename="half.csv")
    foreign = completed_upload(other_user)
    for upload_id, code in [
        (str(incomplete.pk), "incomplete"),
        (str(foreign.pk), "not_found"),
        ("00000000-0000-0000-0000-000000000000", "not_found"),
        ("not-a-uuid", "not_found"),
    ]:
        response = alice_client.post("/api/imports/", {"upload": upload_id})
        assert response.status_code == 400, upload_id
        assert response.data["code"] == code
        assert list(response.data["errors"]) == ["upload"]
    assert not ImportJob.objects.exists()


def test_bad_encoding_leaves_the_upload_unconsumed(alice_client, user):
    upload = completed_upload(user)
    bad = alice_client.post("/api/imports/", {"upload": str(upload.pk), "encoding": "utf-16"})
    assert bad.status_code == 400
    assert "encoding" in bad.data["errors"]
    upload.refresh_from_db()
    assert upload.consumed_at is None
    assert alice_client.post("/api/imports/", {"upload": str(upload.pk)}).status_code == 201


def test_json_without_upload_is_400(alice_client):
    response = alice_client.post("/api/imports/", {})
    assert response.status_code == 400
    assert "upload" in response.data["errors"]


def test_list_shows_own_jobs_newest_first_and_staff_see_all(
    alice_client, bob_client, staff_client, user, other_user
):
    first, second = job_for(user), job_for(user)
    theirs = job_for(other_user)
    mine = alice_client.get("/api/imports/")
    assert mine.status_code == 200
    assert set(mine.data) == {"count", "next", "previous", "results"}
    assert [job["id"] for job in mine.data["results"]] == [second.pk, first.pk]
    assert [job["id"] for job in bob_client.get("/api/imports/").data["results"]] == [theirs.pk]
    assert staff_client.get("/api/imports/").data["count"] == 3


def test_another_users_job_is_404_but_staff_may_see_it(alice_client, bob_client, staff_client, user):
    job = job_for(user)
    assert alice_client.get(f"/api/imports/{job.pk}/").status_code == 200
    assert bob_client.get(f"/api/imports/{job.pk}/").status_code == 404
    assert bob_client.post(f"/api/imports/{job.pk}/cancel/").status_code == 404
    assert bob_client.get(f"/api/imports/{job.pk}/errors/").status_code == 404
    assert staff_client.get(f"/api/imports/{job.pk}/").status_code == 200
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.PENDING


def test_cancel_a_pending_import(alice_client, user):
    job = job_for(user)
    response = alice_client.post(f"/api/imports/{job.pk}/cancel/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["phase"]) == ("cancelled", "cancelled")
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.CANCELLED


@pytest.mark.parametrize("status", [ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED])
def test_cancelling_a_finished_import_is_409(alice_client, user, status):
    job = job_for(user, status=status)
    response = alice_client.post(f"/api/imports/{job.pk}/cancel/")
    assert response.status_code == 409
    assert response.data == {
        "detail": f"This import is already {status} and cannot be cancelled.",
        "code": "invalid_state",
    }
