"""Fault 8: the disk fills up while an upload is stored, or the file vanishes before the import.

The full disk is real: MEDIA_ROOT of the web process is a 1 MiB tmpfs, so writes fail with
ENOSPC exactly as on a full volume (this needs ``mount``, i.e. root or CAP_SYS_ADMIN, which the
test environment has). Either way the client gets a JSON error that says what happened, no job
runs, the catalogue is untouched and no partial file is left to keep the disk full.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import requests
from django.core.files import File

from catalog.models import Product
from importer.models import ImportJob, Upload
from importer.services import import_job_create
from importer.states import ImportStatus
from tests.faults.tus_client import create_upload, head, patch
from tests.support.catalogue import stored_catalogue
from tests.support.clients import post_csv, token_headers
from tests.support.jobs import finished, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DISK_SIZE = "1m"


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB filesystem of the test's own (a tmpfs), unmounted afterwards."""
    mountpoint = tmp_path / "small-disk"
    mountpoint.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mountpoint)],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"this test needs to mount a small tmpfs: {result.stderr}"
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def _seed_catalogue() -> dict:
    Product.objects.bulk_create(Product(sku=f"OLD-{i}", name=f"old {i}") for i in range(25))
    return stored_catalogue()


def test_upload_onto_a_full_disk_is_a_clear_507_with_no_job_and_no_leftovers(
    daphnes, user, make_csv, full_disk
):
    before = _seed_catalogue()
    path = make_csv(8_000)  # about 1.5 MB: more than the disk holds
    assert path.stat().st_size > 1024 * 1024
    _, url = daphnes(MEDIA_ROOT=str(full_disk))

    response = post_csv(url, path, headers=token_headers(user))
    assert response.status_code == 507, response.text[:1000]
    body = response.json()
    assert body["code"] == "storage_full"
    assert "no room left" in body["detail"] and "nothing was imported" in body["detail"]
    assert not ImportJob.objects.exists()
    assert stored_catalogue() == before
    assert [f for f in _files(full_disk) if f.stat().st_size] == [], "a partial file keeps the disk full"

    # The disk is usable again at once: a file that fits is accepted.
    small = make_csv(200, name="small.csv")
    accepted = post_csv(url, small, headers=token_headers(user))
    assert accepted.status_code == 201, accepted.text[:1000]


def test_resumable_upload_that_cannot_be_assembled_on_a_full_disk_fails_cleanly(
    daphnes, user, make_csv, full_disk
):
    before = _seed_catalogue()
    # Its parts fit (~0.6 MB), but assembling them into one file needs as much again.
    data = make_csv(3_000).read_bytes()
    assert 512 * 1024 < len(data) < 900 * 1024
    auth = token_headers(user)
    _, url = daphnes(MEDIA_ROOT=str(full_disk))
    upload_url = create_upload(url, length=len(data), filename="products.csv", headers=auth)
    part, offset, last = 256 * 1024, 0, None
    while offset < len(data):
        last = patch(upload_url, offset=offset, data=data[offset:offset + part], headers=auth)
        if last.status_code != 204:
            break
        offset = int(last.headers["Upload-Offset"])
    assert last.status_code == 507, last.text[:1000]
    assert last.json()["code"] == "storage_full"
    assert last.headers["Tus-Resumable"] == "1.0.0"
    # Every byte arrived and is kept; only the assembly is missing.
    assert int(head(upload_url, headers=auth).headers["Upload-Offset"]) == len(data)

    upload_id = upload_url.rsplit("/", 1)[1]
    refused = requests.post(f"{url}/api/imports/", json={"upload": upload_id}, headers=auth, timeout=60)
    assert refused.status_code == 507, refused.text[:1000]
    assert refused.json()["code"] == "storage_full"
    assert not ImportJob.objects.exists()
    assert Upload.objects.get().consumed_at is None, "the upload was used up by a job that was never made"
    assert stored_catalogue() == before
    stored = sum(f.stat().st_size for f in _files(full_disk))
    assert stored == len(data), f"{stored} bytes on disk for {len(data)} bytes of parts: partial file left"


def test_file_deleted_before_the_worker_reads_it_fails_the_job_clearly(
    workers, user, make_csv, media_root
):
    before = _seed_catalogue()
    path = make_csv(500)
    with path.open("rb") as handle:
        job = import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name,
                                enqueue=True)
    (media_root / job.file.name).unlink()

    worker = workers()
    job = wait_for_job(job.pk, finished, what="finished", processes=[worker])
    assert job.status == ImportStatus.FAILED
    assert "no longer available" in job.message and "Upload the file again" in job.message
    assert job.processed_rows == job.created_rows == 0
    assert stored_catalogue() == before
