"""GET /api/imports/{id}/errors/: every row error as a CSV download, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from importer import services
from importer.models import ImportJob, ImportRowError
from tests.support.clients import token_headers

# storage: run again on object storage by `make test` (--file-storage=s3).
pytestmark = [pytest.mark.django_db, pytest.mark.storage]


def rows_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body)))


def job_with_errors(owner, errors: list[tuple[int, str, str]]) -> ImportJob:
    job = ImportJob.objects.create(
        owner=owner, filename="x.csv", skipped_rows=len(errors), stored_errors=len(errors)
    )
    ImportRowError.objects.bulk_create(
        ImportRowError(job=job, line=line, sku=sku, reason=reason) for line, sku, reason in errors
    )
    return job


def test_all_errors_are_listed_in_line_order_as_an_attachment(alice_client, user):
    job = job_with_errors(
        user, [(9, "C", "name is empty"), (2, "A", 'say "hi", twice'), (5, "", "SKU is empty")]
    )
    response = alice_client.get(f"/api/imports/{job.pk}/errors/")
    assert response["Content-Disposition"] == f'attachment; filename="import-{job.pk}-errors.csv"'
    assert rows_of(response) == [
        ["line", "sku", "reason"],
        ["2", "A", 'say "hi", twice'],
        ["5", "", "SKU is empty"],
        ["9", "C", "name is empty"],
    ]


def test_more_errors_than_the_job_keeps_inline_are_all_in_the_csv(alice_client, user):
    data = b"sku,name\n" + b"".join(f"S-{i},\n".encode() for i in range(250))
    response = alice_client.post(
        "/api/imports/", {"file": io.BytesIO(data)}, format="multipart"
    )
    services.import_job_run(job_id=response.data["id"])
    job = ImportJob.objects.get(pk=response.data["id"])
    assert (job.skipped_rows, len(job.errors)) == (250, 100)
    rows = rows_of(alice_client.get(f"/api/imports/{job.pk}/errors/"))
    assert len(rows) == 251
    assert rows[1] == ["2", "S-0", "name is empty"]
    assert rows[-1] == ["251", "S-249", "name is empty"]


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_run_as_formulas_get_a_leading_apostrophe(alice_client, user, prefix):
    job = job_with_errors(user, [(2, f"{prefix}HYPERLINK(\"http://x\")", f"{prefix}1+1 is bad")])
    rows = rows_of(alice_client.get(f"/api/imports/{job.pk}/errors/"))
    assert rows[1] == ["2", f"'{prefix}HYPERLINK(\"http://x\")", f"'{prefix}1+1 is bad"]


def test_harmless_cells_are_unchanged(alice_client, user):
    job = job_with_errors(user, [(2, "A=1", "name is empty")])
    assert rows_of(alice_client.get(f"/api/imports/{job.pk}/errors/"))[1] == ["2", "A=1", "name is empty"]


def test_a_job_without_errors_gives_just_the_header(alice_client, user):
    job = job_with_errors(user, [])
    assert rows_of(alice_client.get(f"/api/imports/{job.pk}/errors/")) == [["line", "sku", "reason"]]


def test_clients_may_ask_for_text_csv(alice_client, user):
    job = job_with_errors(user, [(2, "A", "name is empty")])
    response = alice_client.get(f"/api/imports/{job.pk}/errors/", HTTP_ACCEPT="text/csv")
    assert rows_of(response)[1] == ["2", "A", "name is empty"]


def test_under_asgi_the_csv_is_streamed_by_an_async_iterator(user):
    """daphne serves ASGI: there a synchronous iterator would be read whole into memory first."""
    job = job_with_errors(user, [(line, f"=S{line}", "name is empty") for line in range(2, 5002)])
    response = async_to_sync(AsyncClient().get)(f"/api/imports/{job.pk}/errors/", headers=token_headers(user))
    assert response.status_code == 200
    assert response.is_async

    async def read() -> bytes:
        return b"".join([part async for part in response.streaming_content])

    rows = list(csv.reader(io.StringIO(async_to_sync(read)().decode())))
    assert len(rows) == 5001
    assert rows[1] == ["2", "'=S2", "name is empty"]
    assert rows[-1] == ["5001", "'=S5001", "name is empty"]


def test_batches_neither_repeat_nor_drop_rows_at_their_edges(alice_client, user, monkeypatch):
    monkeypatch.setattr("api.imports.ERRORS_BATCH_SIZE", 3)
    errors = [
        (2, "A", "r"), (3, "B", "r"), (3, "B2", "r"), (3, "B3", "r"), (4, "C", "r"), (7, "D", "r"),
        (7, "E", "r"),
    ]
    job = job_with_errors(user, errors)
    rows = rows_of(alice_client.get(f"/api/imports/{job.pk}/errors/"))
    assert [tuple(row) for row in rows[1:]] == [(str(line), sku, reason) for line, sku, reason in errors]
