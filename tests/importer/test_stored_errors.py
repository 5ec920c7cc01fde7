"""Row errors: every skipped row is counted exactly, at most IMPORT_MAX_STORED_ERRORS are stored.

A file of a million bad rows used to store a million ``ImportRowError`` rows, tens of times the
file's size in the database. Now the count stays exact (``skipped``), the first errors are stored
(``stored_errors`` says how many), and the errors CSV ends with a row saying how many more there
were. The UI's wording is checked in tests/browser/test_imports.py.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection

from importer import services
from importer.models import ImportJob, ImportRowError
from tests.support.clients import token_client
from tests.support.jobs import create_job

pytestmark = pytest.mark.django_db


def bad_rows(count: int, *, good: int = 0) -> bytes:
    lines = [f"BAD-{i}," for i in range(count)] + [f"GOOD-{i},Fine" for i in range(good)]
    return ("sku,name\n" + "\n".join(lines) + "\n").encode()


def errors_csv(user, job_id: int) -> list[list[str]]:
    response = token_client(user).get(f"/api/imports/{job_id}/errors/")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_errors_past_the_cap_are_counted_but_not_stored(settings, user):
    settings.IMPORT_MAX_STORED_ERRORS = 5
    settings.IMPORT_CHUNK_SIZE = 4  # the cap falls inside the second of several chunks
    job = create_job(bad_rows(12, good=3), owner=user)

    services.import_job_run(job_id=job.pk)

    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.created_rows, job.skipped_rows, job.stored_errors) == ("completed", 3, 12, 5)
    stored = list(ImportRowError.objects.filter(job=job).order_by("line").values_list("line", flat=True))
    assert stored == [2, 3, 4, 5, 6]  # the first ones, in file order
    api_job = token_client(user).get(f"/api/imports/{job.pk}/").json()
    assert (api_job["skipped"], api_job["stored_errors"]) == (12, 5)

    rows = errors_csv(user, job.pk)
    assert rows[0] == ["line", "sku", "reason"]
    assert [row[0] for row in rows[1:6]] == ["2", "3", "4", "5", "6"]
    assert rows[6] == [
        "",
        "",
        "… and 7 more skipped rows, counted but not listed: a job stores its first 5 row errors "
        "(IMPORT_MAX_STORED_ERRORS).",
    ]
    assert len(rows) == 7


def test_a_job_under_the_cap_lists_every_error_and_no_extra_row(settings, user):
    settings.IMPORT_MAX_STORED_ERRORS = 5
    job = create_job(bad_rows(5), owner=user)
    services.import_job_run(job_id=job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    assert (job.skipped_rows, job.stored_errors) == (5, 5)
    assert len(errors_csv(user, job.pk)) == 6


def test_a_file_of_200_thousand_bad_rows_stores_the_default_ten_thousand(user):
    """The finding, measured: rows stored and the table's growth stay bounded by the cap."""
    job = create_job(bad_rows(200_000), owner=user)

    services.import_job_run(job_id=job.pk)

    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.skipped_rows, job.stored_errors) == ("completed", 200_000, 10_000)
    assert ImportRowError.objects.filter(job=job).count() == 10_000
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size('importer_importrowerror')")
        (table_bytes,) = cursor.fetchone()
    # 10,000 short rows and their index: about 1.5 MB; 200,000 would be about 30 MB.
    assert table_bytes < 4 * 1024 * 1024, table_bytes
