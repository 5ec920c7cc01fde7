"""Fault 9: a client drops in the middle of a resumable (tus) upload.

A part whose body never fully arrives never reaches Django (daphne hands over whole bodies), so
the upload keeps the offset of its last whole part: no job exists, HEAD tells the client where
to resume, and resuming gives exactly the original file. An upload nobody resumes expires
UPLOAD_EXPIRY_HOURS after its last part, and ``uploads_expire_stale`` (run by celery beat) then
deletes its record and every stored byte.
"""

from __future__ import annotations

import time
from datetime import timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from catalog.models import Product
from importer.models import ImportJob, Upload
from importer.uploads import uploads_expire_stale
from tests.faults.tus_client import create_upload, head, patch, patch_and_drop
from tests.support.clients import token_headers

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PART = 64 * 1024


def _stored_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def _drop_mid_part(upload_url: str, data: bytes, auth: dict[str, str]) -> None:
    first = patch(upload_url, offset=0, data=data[:PART], headers=auth)
    assert first.status_code == 204, first.text
    patch_and_drop(upload_url, offset=PART, announced=PART, sent=data[PART:PART + PART // 3], headers=auth)
    time.sleep(0.5)  # let daphne notice the reset


def test_dropped_upload_creates_no_job_and_resumes_from_the_last_whole_part(
    daphnes, user, make_csv, media_root
):
    data = make_csv(2_000).read_bytes()
    assert len(data) > 3 * PART
    auth = token_headers(user)
    _, url = daphnes()
    upload_url = create_upload(url, length=len(data), filename="products.csv", headers=auth)
    _drop_mid_part(upload_url, data, auth)

    status = head(upload_url, headers=auth)
    assert status.status_code == 200
    assert int(status.headers["Upload-Offset"]) == PART, "a part that never fully arrived was kept"
    assert not ImportJob.objects.exists()
    assert not Product.objects.exists()

    offset = int(status.headers["Upload-Offset"])
    while offset < len(data):
        response = patch(upload_url, offset=offset, data=data[offset:offset + PART], headers=auth)
        assert response.status_code == 204, response.text
        offset = int(response.headers["Upload-Offset"])
    upload = Upload.objects.get()
    assert upload.is_complete and upload.stored_name
    assert (media_root / upload.stored_name).read_bytes() == data, "the resumed file differs from the original"
    assert [path.name for path in _stored_files(media_root)] == [Path(upload.stored_name).name]
    assert not ImportJob.objects.exists()


def test_abandoned_upload_is_deleted_after_its_stated_expiry(daphnes, user, make_csv, media_root):
    data = make_csv(2_000).read_bytes()
    auth = token_headers(user)
    _, url = daphnes()
    upload_url = create_upload(url, length=len(data), filename="products.csv", headers=auth)
    _drop_mid_part(upload_url, data, auth)

    status = head(upload_url, headers=auth)
    expires = parsedate_to_datetime(status.headers["Upload-Expires"])
    upload = Upload.objects.get()
    # The stated expiry: UPLOAD_EXPIRY_HOURS after the last part arrived.
    assert abs(expires - (upload.updated_at + timedelta(hours=settings.UPLOAD_EXPIRY_HOURS))) < timedelta(seconds=2)
    assert _stored_files(media_root), "the first part should be on disk"

    assert uploads_expire_stale(now=upload.expires_at - timedelta(minutes=1)) == 0
    assert head(upload_url, headers=auth).status_code == 200
    assert _stored_files(media_root)

    assert uploads_expire_stale(now=upload.expires_at + timedelta(seconds=1)) == 1
    assert not Upload.objects.exists()
    assert head(upload_url, headers=auth).status_code == 404
    assert _stored_files(media_root) == [], "the expired upload's bytes are still on disk"
    assert not ImportJob.objects.exists() and not Product.objects.exists()
    assert timezone.now() < upload.expires_at  # nothing here waited a day: the clock was moved
