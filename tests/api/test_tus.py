"""Resumable uploads (tus 1.0) at /api/uploads/: the protocol through DRF's client, then the real
tuspy client against a real daphne process."""

from __future__ import annotations

import base64
import io
import socket
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from django.core.files.storage import default_storage
from django.utils import timezone
from rest_framework.test import APIClient
from tusclient.client import TusClient
from tusclient.exceptions import TusCommunicationError, TusUploadFailed

from importer.models import Upload, UploadPart
from importer.services import import_job_create
from importer.uploads import (
    UploadOffsetMismatch,
    UploadUnavailable,
    upload_append,
    upload_consume,
    upload_create,
    uploads_expire_stale,
)
from tests.support.clients import token_client, token_headers
from tests.support.processes import running_daphne
from tests.support.stored import storage_is_local, stored_names

# storage: run again on object storage by `make test` (--file-storage=s3).
pytestmark = pytest.mark.storage

TUS = {"Tus-Resumable": "1.0.0"}
CSV = b"sku,name,description\n" + b"".join(
    f"SKU-{n},Product {n},A fine product number {n}\n".encode() for n in range(2000)
)


def metadata(**pairs: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}" for key, value in pairs.items())


@pytest.fixture
def small_parts(settings):
    """Parts of at most 4 KiB and files of at most 1 MiB, so tests stay small."""
    settings.TUS_MAX_CHUNK_SIZE = 4096
    settings.UPLOAD_MAX_SIZE = 1024 * 1024


@pytest.fixture
def api(user) -> APIClient:
    return token_client(user)


@pytest.fixture
def other_api(other_user) -> APIClient:
    return token_client(other_user)


def create(client: APIClient, length: int, **meta: str):
    headers = {**TUS, "Upload-Length": str(length)}
    if meta:
        headers["Upload-Metadata"] = metadata(**meta)
    return client.post("/api/uploads/", headers=headers)


def patch(client: APIClient, url: str, offset: int, data: bytes, **headers: str):
    return client.patch(
        url, data=data, content_type="application/offset+octet-stream",
        headers={**TUS, "Upload-Offset": str(offset), **headers},
    )


def send_all(client: APIClient, url: str, data: bytes, part: int = 4096) -> None:
    for start in range(0, len(data), part):
        response = patch(client, url, start, data[start:start + part])
        assert response.status_code == 204, response.content
        assert response["Upload-Offset"] == str(min(start + part, len(data)))


def stored_files(root: Path) -> list[str]:
    """What the test's storage holds (``root`` is its MEDIA_ROOT: a folder, or unused with S3)."""
    names = stored_names()
    if storage_is_local():
        assert names == sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())
    return names


# --- Protocol, through DRF's client ---------------------------------------------------------------


@pytest.mark.django_db
def test_options_advertises_version_extensions_and_limits_without_login(small_parts):
    response = APIClient().options("/api/uploads/")
    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert response["Tus-Max-Size"] == str(1024 * 1024)
    assert response["Tus-Resumable"] == "1.0.0"


@pytest.mark.django_db
def test_anonymous_cannot_create_read_write_or_delete_uploads(user):
    upload = upload_create(owner=user, length=10, filename="a.csv")
    url = f"/api/uploads/{upload.id.hex}"
    anonymous = APIClient()
    assert create(anonymous, 10).status_code in (401, 403)
    assert anonymous.head(url, headers=TUS).status_code in (401, 403)
    assert patch(anonymous, url, 0, b"0123456789").status_code in (401, 403)
    assert anonymous.delete(url, headers=TUS).status_code in (401, 403)
    assert Upload.objects.get().offset == 0


@pytest.mark.django_db
def test_create_answers_201_with_location_expiry_and_zero_offset(api, settings):
    before = timezone.now()
    response = create(api, len(CSV), filename="products.csv")
    assert response.status_code == 201
    upload = Upload.objects.get()
    assert response["Location"] == f"/api/uploads/{upload.id.hex}"
    assert response["Upload-Offset"] == "0"
    assert response["Tus-Resumable"] == "1.0.0"
    assert "GMT" in response["Upload-Expires"]
    expected = before + timedelta(hours=settings.UPLOAD_EXPIRY_HOURS)
    assert abs((upload.expires_at - expected).total_seconds()) < 60
    assert (upload.filename, upload.length, upload.offset) == ("products.csv", len(CSV), 0)


@pytest.mark.django_db
def test_request_without_tus_resumable_is_412_naming_the_supported_version(api, user):
    response = api.post("/api/uploads/", headers={"Upload-Length": "10"})
    assert response.status_code == 412
    assert response["Tus-Version"] == "1.0.0"
    upload = upload_create(owner=user, length=10)
    response = api.head(f"/api/uploads/{upload.id.hex}", headers={"Tus-Resumable": "0.2.2"})
    assert response.status_code == 412
    assert not Upload.objects.exclude(pk=upload.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_parts_build_up_the_file_and_head_reports_the_offset_to_resume_from(api, small_parts, media_root):
    url = create(api, len(CSV), filename="products.csv", encoding="cp1252")["Location"]
    send_all(api, url, CSV[:8192])

    head = api.head(url, headers=TUS)
    assert head.status_code == 200
    assert head["Upload-Offset"] == "8192"
    assert head["Upload-Length"] == str(len(CSV))
    assert head["Cache-Control"] == "no-store"
    assert head["Upload-Metadata"] == metadata(filename="products.csv", encoding="cp1252")
    assert UploadPart.objects.count() == 2

    for start in range(8192, len(CSV), 4096):
        assert patch(api, url, start, CSV[start:start + 4096]).status_code == 204
    upload = Upload.objects.get()
    assert upload.is_complete and upload.completed_at is not None
    with default_storage.open(upload.stored_name, "rb") as handle:
        assert handle.read() == CSV
    # The parts were folded into the one file and are gone, record and storage alike.
    assert not UploadPart.objects.exists()
    assert stored_files(media_root) == [upload.stored_name]


@pytest.mark.django_db
def test_part_at_the_wrong_offset_is_409_and_stores_nothing(api, small_parts, media_root):
    url = create(api, 100)["Location"]
    assert patch(api, url, 0, b"x" * 40).status_code == 204
    response = patch(api, url, 10, b"y" * 40)
    assert response.status_code == 409
    assert response["Upload-Offset"] == "40"
    assert response.json()["code"] == "offset_mismatch"
    assert "40" in response.json()["detail"]
    assert Upload.objects.get().offset == 40
    assert len(stored_files(media_root)) == 1


def test_a_part_that_loses_the_race_for_an_offset_is_deleted_again(db, user, media_root):
    upload = upload_create(owner=user, length=20)
    stale = Upload.objects.get(pk=upload.pk)
    upload_append(upload=upload, offset=0, body=io.BytesIO(b"a" * 10), size=10)
    with pytest.raises(UploadOffsetMismatch) as caught:
        # Both requests saw offset 0; the second stores its part, then loses the compare-and-set.
        upload_append(upload=stale, offset=0, body=io.BytesIO(b"b" * 10), size=10)
    assert caught.value.current_offset == 10
    assert len(stored_files(media_root)) == 1
    assert UploadPart.objects.get().size == 10


@pytest.mark.django_db
def test_part_larger_than_the_chunk_limit_is_413_with_advice(api, small_parts, media_root):
    url = create(api, 10_000)["Location"]
    response = patch(api, url, 0, b"x" * 4097)
    assert response.status_code == 413
    assert "smaller parts" in response.json()["detail"]
    assert Upload.objects.get().offset == 0
    assert stored_files(media_root) == []


@pytest.mark.django_db
def test_upload_length_above_the_maximum_is_413(api, small_parts):
    response = create(api, 1024 * 1024 + 1)
    assert response.status_code == 413
    assert "at most 1,048,576 bytes" in response.json()["detail"]
    assert not Upload.objects.exists()


@pytest.mark.django_db
def test_part_running_past_the_announced_length_is_413(api, small_parts):
    url = create(api, 10)["Location"]
    assert patch(api, url, 0, b"x" * 11).status_code == 413
    assert Upload.objects.get().offset == 0


@pytest.mark.django_db
def test_part_with_another_content_type_is_415(api, small_parts):
    url = create(api, 10)["Location"]
    response = api.patch(url, data=b"x" * 10, content_type="application/octet-stream",
                         headers={**TUS, "Upload-Offset": "0"})
    assert response.status_code == 415


@pytest.mark.django_db
def test_metadata_that_is_not_base64_is_400(api):
    response = api.post("/api/uploads/", headers={**TUS, "Upload-Length": "10",
                                                  "Upload-Metadata": "filename not*base64"})
    assert response.status_code == 400
    assert "base64" in response.json()["detail"]


@pytest.mark.django_db
def test_unusable_encoding_in_metadata_is_400_before_any_byte_moves(api):
    response = create(api, 10, filename="a.csv", encoding="utf-16")
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]


@pytest.mark.django_db
def test_another_users_upload_is_404_for_every_method(api, other_api, small_parts):
    url = create(api, 100)["Location"]
    assert patch(api, url, 0, b"x" * 10).status_code == 204
    assert other_api.head(url, headers=TUS).status_code == 404
    assert patch(other_api, url, 10, b"y" * 10).status_code == 404
    assert other_api.delete(url, headers=TUS).status_code == 404
    assert Upload.objects.get().offset == 10


@pytest.mark.django_db
def test_unknown_or_malformed_upload_id_is_404(api):
    assert api.head("/api/uploads/not-an-id", headers=TUS).status_code == 404
    assert api.head(f"/api/uploads/{'0' * 32}", headers=TUS).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_delete_terminates_the_upload_and_removes_its_parts(api, small_parts, media_root):
    url = create(api, 100)["Location"]
    assert patch(api, url, 0, b"x" * 50).status_code == 204
    assert stored_files(media_root)
    assert api.delete(url, headers=TUS).status_code == 204
    assert stored_files(media_root) == []
    assert not Upload.objects.exists() and not UploadPart.objects.exists()
    assert api.head(url, headers=TUS).status_code == 404


@pytest.mark.django_db
def test_filename_is_kept_as_metadata_only_and_never_reaches_a_storage_path(api, small_parts, media_root):
    url = create(api, 10, filename="../../etc/passwd")["Location"]
    assert patch(api, url, 0, b"0123456789").status_code == 204
    upload = Upload.objects.get()
    assert upload.filename == "passwd"
    assert ".." not in upload.stored_name and "passwd" not in upload.stored_name
    assert upload.stored_name.startswith("imports/")
    for name in stored_files(media_root):
        assert ".." not in name.split("/")
        if storage_is_local():
            assert (media_root / name).resolve().is_relative_to(media_root.resolve())


@pytest.mark.django_db(transaction=True)
def test_expired_upload_is_410_and_cleanup_removes_its_stored_parts(api, user, small_parts, media_root):
    url = create(api, 100)["Location"]
    assert patch(api, url, 0, b"x" * 30).status_code == 204
    fresh = upload_create(owner=user, length=5)
    Upload.objects.exclude(pk=fresh.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    # A part from a request that crashed before it was recorded is cleaned up too.
    stale = Upload.objects.exclude(pk=fresh.pk).get()
    default_storage.save(f"uploads/{stale.id.hex}/orphan.part", io.BytesIO(b"zz"))

    assert api.head(url, headers=TUS).status_code == 410
    assert patch(api, url, 30, b"y" * 10).status_code == 410
    assert uploads_expire_stale() == 1
    assert stored_files(media_root) == []
    assert stored_names(f"uploads/{stale.id.hex}") == []
    if storage_is_local():
        assert not (media_root / "uploads" / stale.id.hex).exists()
    assert list(Upload.objects.values_list("pk", flat=True)) == [fresh.pk]
    assert api.head(url, headers=TUS).status_code == 404


@pytest.mark.django_db
def test_session_writes_need_the_csrf_token(user, small_parts):
    client = APIClient(enforce_csrf_checks=True)
    client.login(username="alice", password="wonderland-42")
    assert create(client, 10).status_code == 403
    client.get("/admin/login/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post("/api/uploads/", headers={**TUS, "Upload-Length": "10", "X-CSRFToken": token})
    assert response.status_code == 201
    url = response["Location"]
    assert patch(client, url, 0, b"0123456789").status_code == 403
    assert patch(client, url, 0, b"0123456789", **{"X-CSRFToken": token}).status_code == 204


# --- Handing a completed upload to an import -----------------------------------------------------


@pytest.mark.django_db
def test_completed_upload_is_consumed_once_into_a_seekable_import_file(api, user, small_parts):
    url = create(api, len(CSV), filename="products.csv", encoding="latin-1")["Location"]
    send_all(api, url, CSV)
    upload_id = url.rsplit("/", 1)[1]

    stored_name, filename, size_bytes, encoding = upload_consume(user=user, upload_id=upload_id)
    assert (filename, size_bytes, encoding) == ("products.csv", len(CSV), "iso8859-1")
    job = import_job_create(owner=user, stored_name=stored_name, filename=filename,
                            size_bytes=size_bytes, encoding=encoding, enqueue=False)
    with job.file.open("rb") as handle:
        handle.seek(len(CSV) - 10)
        assert handle.read() == CSV[-10:]

    with pytest.raises(UploadUnavailable) as caught:
        upload_consume(user=user, upload_id=upload_id)
    assert caught.value.code == "consumed"


@pytest.mark.django_db
def test_upload_cannot_be_consumed_while_incomplete_or_by_someone_else(api, user, other_user, small_parts):
    url = create(api, 100)["Location"]
    patch(api, url, 0, b"x" * 50)
    upload_id = url.rsplit("/", 1)[1]
    with pytest.raises(UploadUnavailable) as caught:
        upload_consume(user=user, upload_id=upload_id)
    assert caught.value.code == "incomplete"
    assert "50 of 100 bytes" in str(caught.value)
    with pytest.raises(UploadUnavailable) as caught:
        upload_consume(user=other_user, upload_id=upload_id)
    assert caught.value.code == "not_found"
    with pytest.raises(UploadUnavailable):
        upload_consume(user=user, upload_id="nonsense")


@pytest.mark.django_db(transaction=True)
def test_consumed_upload_expiring_keeps_the_imports_file(api, user, small_parts, media_root):
    url = create(api, 10)["Location"]
    patch(api, url, 0, b"0123456789")
    stored_name = upload_consume(user=user, upload_id=url.rsplit("/", 1)[1]).stored_name
    Upload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert uploads_expire_stale() == 1
    assert stored_files(media_root) == [stored_name]


# --- The real tuspy client against a real daphne ---------------------------------------------------


@pytest.fixture
def auth(transactional_db, user) -> dict[str, str]:
    return token_headers(user)


@pytest.fixture
def daphne_url(transactional_db, process_logs):
    with running_daphne(process_logs, TUS_MAX_CHUNK_SIZE="65536") as (_, url):
        yield url


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "products.csv"
    path.write_bytes(CSV * 4)  # ~300 KB: five parts of 64 KiB
    return path


@pytest.mark.slow
@pytest.mark.e2e
def test_tuspy_uploads_a_file_in_parts_through_daphne(daphne_url, auth, user, csv_file):
    client = TusClient(f"{daphne_url}/api/uploads/", headers=auth)
    uploader = client.uploader(str(csv_file), chunk_size=65536, metadata={"filename": "products.csv"})
    uploader.upload()

    assert uploader.url.startswith(f"{daphne_url}/api/uploads/")
    consumed = upload_consume(user=user, upload_id=uploader.url.rsplit("/", 1)[1])
    assert consumed.filename == "products.csv"
    assert consumed.size_bytes == csv_file.stat().st_size
    with default_storage.open(consumed.stored_name, "rb") as handle:
        assert handle.read() == csv_file.read_bytes()

    anonymous = TusClient(f"{daphne_url}/api/uploads/")
    with pytest.raises(TusCommunicationError):
        anonymous.uploader(str(csv_file), chunk_size=65536).upload()


def _drop_connection_mid_part(url: str, headers: dict[str, str], offset: int, data: bytes) -> None:
    """Send a PATCH whose body stops half-way, then hang up, like a client losing its network."""
    target = urlparse(url)
    with socket.create_connection((target.hostname, target.port)) as sock:
        lines = [
            f"PATCH {target.path} HTTP/1.1", f"Host: {target.netloc}",
            *(f"{name}: {value}" for name, value in headers.items()),
            "Tus-Resumable: 1.0.0", f"Upload-Offset: {offset}",
            "Content-Type: application/offset+octet-stream", f"Content-Length: {len(data)}",
        ]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data[: len(data) // 2])


@pytest.mark.slow
@pytest.mark.e2e
def test_tuspy_resumes_after_a_dropped_connection(daphne_url, auth, user, csv_file):
    content = csv_file.read_bytes()
    first = TusClient(f"{daphne_url}/api/uploads/", headers=auth).uploader(
        str(csv_file), chunk_size=65536, metadata={"filename": "products.csv"}
    )
    first.upload(stop_at=131072)
    _drop_connection_mid_part(first.url, auth, 131072, content[131072:196608])

    head = requests.head(first.url, headers={**auth, "Tus-Resumable": "1.0.0"}, timeout=10)
    assert head.headers["Upload-Offset"] == "131072"

    # A new client (a new process, say) that only knows the URL picks up where the server is.
    second = TusClient(f"{daphne_url}/api/uploads/", headers=auth).uploader(
        str(csv_file), chunk_size=65536, url=first.url
    )
    assert second.offset == 131072
    second.upload()
    consumed = upload_consume(user=user, upload_id=first.url.rsplit("/", 1)[1])
    with default_storage.open(consumed.stored_name, "rb") as handle:
        assert handle.read() == content


@pytest.mark.slow
@pytest.mark.e2e
def test_tuspy_part_above_the_servers_limit_is_refused_with_413(daphne_url, auth, csv_file):
    uploader = TusClient(f"{daphne_url}/api/uploads/", headers=auth).uploader(
        str(csv_file), chunk_size=65537
    )
    with pytest.raises(TusUploadFailed) as caught:
        uploader.upload()
    assert caught.value.status_code == 413
    assert b"smaller parts" in caught.value.response_content
    assert Upload.objects.get().offset == 0
