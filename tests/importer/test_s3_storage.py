"""The S3 backend (importer/s3_storage.py) against a real S3 API (moto over HTTP on loopback).

These run whatever ``--file-storage`` says: they are about the object-storage code itself. Reads
are ranged and start where the reader seeks, writes stream, tus parts are joined inside the bucket
(moto refuses parts under 5 MiB but the last, as S3 does), and a resumed import downloads nothing
before its offset but the header.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from catalog.models import Product
from importer import s3_storage
from importer.models import ImportJob
from importer.pipeline import DeferredRows, ImportInterrupted, import_csv
from importer.scan_store import StoredScan, scan_name
from importer.services import import_job_run, import_jobs_reap
from importer.states import ImportStatus
from importer.upload_storage import store_concatenated
from tests.importer.test_services import _WorkerDiesAfter
from tests.support.catalogue import catalogue
from tests.support.jobs import create_job
from tests.support.processes import ROOT

MiB = 1024 * 1024


@pytest.fixture
def s3(settings, s3_server):
    """This test's default storage: a fresh key prefix in the session's bucket."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storage_settings()}
    return s3_server


@pytest.fixture
def ranges(monkeypatch):
    """Every range the storage fetches, as (key, start, end)."""
    fetched: list[tuple[str, int, int]] = []
    real = s3_storage.ImportS3Storage._iter_range

    def spy(self, key, start, end):
        fetched.append((key, start, end))
        return real(self, key, start, end)

    monkeypatch.setattr(s3_storage.ImportS3Storage, "_iter_range", spy)
    return fetched


def pattern(size: int, seed: int = 0) -> bytes:
    block = bytes((seed + index) % 251 for index in range(251))
    return (block * (size // len(block) + 1))[:size]


def test_a_seek_downloads_nothing_and_reads_fetch_ranges_from_there(s3, ranges):
    data = pattern(3 * MiB + 17)
    name = default_storage.save("imports/big.csv", ContentFile(data))
    with default_storage.open(name, "rb") as handle:
        assert handle.size == len(data)
        handle.seek(2 * MiB)
        assert ranges == []
        assert handle.read(10) == data[2 * MiB:2 * MiB + 10]
        # The first read after a seek is small; sequential reads grow up to READ_RANGE_BYTES.
        assert ranges[0][1] == 2 * MiB and ranges[0][2] - ranges[0][1] <= 64 * 1024
        assert handle.read() == data[2 * MiB + 10:]
        assert len(ranges) <= 6, ranges  # 64 KiB, 128 KiB, ... not 8 KiB at a time
        assert min(start for _, start, _ in ranges) == 2 * MiB
        handle.seek(5)
        assert handle.readline(4) == data[5:9]
    assert max(end - start for _, start, end in ranges) <= s3_storage.READ_RANGE_BYTES


def test_saving_streams_large_content_as_a_multipart_upload_and_small_as_one_put(s3):
    large = pattern(s3_storage.WRITE_PART_BYTES * 2 + 5, seed=3)
    name = default_storage.save("imports/large.csv", ContentFile(large))
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == large
    head = s3.client().head_object(Bucket=s3.bucket, Key=default_storage._key(name))
    assert head["ETag"].strip('"').endswith("-3")  # three parts
    small = default_storage.save("imports/small.csv", ContentFile(b"sku,name\n"))
    assert default_storage.open(small, "rb").read() == b"sku,name\n"


@pytest.mark.parametrize("sizes", [
    [3, 6 * MiB, 1 * MiB, 2 * MiB + 7, 5 * MiB, 100],  # small before a large one, small ones gathered
    [8 * MiB, 8 * MiB, 1],  # tus's usual parts: copied in the bucket
    [4096] * 40,  # only small parts: gathered into one last part
    [5 * MiB - 1, 1, 5 * MiB],  # exactly 5 MiB gathered
    [],
])
def test_parts_are_joined_in_the_bucket_whatever_their_sizes(s3, sizes):
    parts, expected = [], b""
    for index, size in enumerate(sizes):
        data = pattern(size, seed=index)
        parts.append((default_storage.save(f"uploads/x/{index:04d}.part", ContentFile(data)), size))
        expected += data
    name = store_concatenated("imports/joined.csv", parts, size=len(expected))
    assert default_storage.size(name) == len(expected)
    with default_storage.open(name, "rb") as handle:
        assert handle.read() == expected
    assert s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_large_parts_are_copied_server_side_not_through_the_process(s3, ranges):
    sizes = [8 * MiB, 8 * MiB, 3 * MiB]
    parts = [(default_storage.save(f"uploads/y/{i}.part", ContentFile(pattern(size, i))), size)
             for i, size in enumerate(sizes)]
    store_concatenated("imports/copied.csv", parts, size=sum(sizes))
    # Only the small last part passes through this process.
    assert sum(end - start for _, start, end in ranges) == 3 * MiB


def test_a_failed_join_aborts_its_multipart_upload(s3):
    part = default_storage.save("uploads/z/0.part", ContentFile(pattern(6 * MiB)))
    with pytest.raises(Exception):  # noqa: B017 - whatever the S3 error, the upload must be aborted
        store_concatenated("imports/broken.csv", [(part, 6 * MiB), ("uploads/z/missing.part", 6 * MiB)],
                           size=12 * MiB)
    assert s3.client().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []
    assert not default_storage.exists("imports/broken.csv")


def test_listing_and_deleting_use_the_prefix(s3):
    default_storage.save("uploads/abc/1.part", io.BytesIO(b"1"))
    default_storage.save("uploads/abc/2.part", io.BytesIO(b"2"))
    assert default_storage.listdir("uploads") == (["abc"], [])
    assert default_storage.listdir("uploads/abc") == ([], ["1.part", "2.part"])
    default_storage.delete("uploads/abc/1.part")
    default_storage.delete("uploads/abc/1.part")  # twice is fine
    assert default_storage.listdir("uploads/abc") == ([], ["2.part"])
    assert not default_storage.exists("uploads/abc/1.part")
    with pytest.raises(FileNotFoundError):
        default_storage.open("uploads/abc/1.part", "rb")


def _big_file(rows: int) -> bytes:
    lines = ["sku,name,description"] + [f"SKU-{index % (rows - 50)},Name {index},{'d' * 60}"
                                        for index in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.django_db
def test_a_resumed_import_downloads_only_the_header_and_the_bytes_after_its_offset(
    s3, ranges, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_CHUNK_SIZE = 2000
    data = _big_file(30_000)  # ~2.4 MB, with repeated SKUs held back until the end
    job = create_job(data)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    job.refresh_from_db()
    with job.file.open("rb") as handle, pytest.raises(ImportInterrupted):
        import_csv(file=handle, size_bytes=job.size_bytes, chunk_size=2000,
                   observer=_WorkerDiesAfter(job, 5), deferred=DeferredRows(job_id=job.pk),
                   scans=StoredScan(job_id=job.pk))
    job.refresh_from_db()
    offset = job.resume_offset
    assert len(data) // 4 < offset < len(data)
    assert default_storage.exists(scan_name(job.pk))

    file_key = default_storage._key(job.file.name)
    ranges.clear()
    with django_capture_on_commit_callbacks(execute=False):
        assert import_jobs_reap() == [job.pk]
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    assert Product.objects.count() == 30_000 - 50
    file_ranges = [(start, end) for key, start, end in ranges if key == file_key]
    before = sum(min(end, offset) - start for start, end in file_ranges if start < offset)
    assert before <= 64 * 1024, f"{file_ranges[:6]} downloaded {before:,} bytes before the resume offset {offset:,}"
    assert sum(end - start for start, end in file_ranges) < len(data) - offset + 2 * 64 * 1024
    assert not default_storage.exists(scan_name(job.pk))
    assert catalogue()["SKU-0"][0] == f"Name {30_000 - 50}"


@pytest.mark.parametrize(("environment", "message"), [
    ({"FILE_STORAGE": "s3"}, "FILE_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME"),
    ({"FILE_STORAGE": "azure"}, "FILE_STORAGE must be 'local' or 's3'"),
])
def test_a_misconfigured_storage_stops_the_process_at_start_with_a_clear_error(environment, message):
    env = {k: v for k, v in os.environ.items() if k != "AWS_STORAGE_BUCKET_NAME"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env={**env, **environment},
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr


@pytest.fixture
def dead_bucket(settings):
    """A default storage whose S3 endpoint does not answer (nothing listens on the port)."""
    from tests.support.object_storage import S3Server
    from tests.support.processes import free_port

    settings.STORAGES = {**settings.STORAGES, "default": S3Server(
        endpoint_url=f"http://127.0.0.1:{free_port()}").storage_settings()}


@pytest.mark.django_db
def test_an_object_store_that_does_not_answer_is_a_503_for_an_upload_part_and_keeps_the_offset(
    dead_bucket, user
):
    from rest_framework.test import APIClient

    from importer.models import Upload

    client = APIClient()
    client.force_authenticate(user)
    tus = {"Tus-Resumable": "1.0.0"}
    created = client.post("/api/uploads/", headers={**tus, "Upload-Length": "10"})
    assert created.status_code == 201
    response = client.generic("PATCH", created["Location"], b"0123456789", headers={
        **tus, "Upload-Offset": "0"}, content_type="application/offset+octet-stream")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
    assert "try again" in response.json()["detail"]
    assert Upload.objects.get().offset == 0


@pytest.mark.django_db
def test_an_object_store_that_does_not_answer_is_a_503_for_a_direct_import(dead_bucket, user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/imports/", {"file": ContentFile(b"sku,name\nA,B\n", name="p.csv")},
                           format="multipart")
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "storage_unavailable"
    assert not ImportJob.objects.exists()


@pytest.mark.django_db
def test_an_import_whose_object_store_stops_answering_is_retried_not_failed(s3, settings):
    job = create_job(b"sku,name\nA1,Bolt\n")
    settings.STORAGES = {**settings.STORAGES, "default": {
        **s3.storage_settings(location=default_storage.location),
        "OPTIONS": {**s3.storage_settings(location=default_storage.location)["OPTIONS"],
                    "endpoint_url": "http://127.0.0.1:9"}}}
    with pytest.raises(s3_storage.StorageUnavailable):
        import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.PROCESSING  # the task retries it (importer/tasks.py)
