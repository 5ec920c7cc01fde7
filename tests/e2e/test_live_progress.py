"""A script follows an import live: real daphne, real Celery worker, plain HTTP all the way.

Like a customer's script: it uploads a CSV with tuspy, starts the import with its API token,
and reads ``GET /api/imports/{id}/events/`` with a plain streaming HTTP client (what
``curl -N -H "Authorization: Token …"`` does) until the stream ends.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import requests
from tusclient.client import TusClient

from catalog.models import Product
from importer.models import ImportJob
from tests.benchmarks.csvgen import generate_products_csv
from tests.support.clients import token_headers
from tests.support.processes import running_daphne, running_worker
from tests.support.sse import SSEStream, open_stream

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 30_000
# Small chunks: fifteen commits, so fifteen progress events to watch.
CHUNK_SIZE = "2000"


@pytest.fixture
def products_csv(tmp_path) -> Path:
    return generate_products_csv(tmp_path / "products.csv", ROWS)


def last_row_per_sku(path: Path) -> dict[str, tuple[str, str, str]]:
    """The catalogue the file must give: its last row for each SKU in any letter case."""
    catalogue = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for sku, name, description in reader:
            assert sku.isascii(), "Python's lower() matches PostgreSQL's only on ASCII"
            catalogue[sku.strip().lower()] = (sku.strip(), name.strip(), description)
    return catalogue


def test_script_watches_an_import_progress_live_until_completed(
    transactional_db, process_logs, user, products_csv
):
    auth = token_headers(user)

    with running_daphne(process_logs, DATABASE_POOL="true") as (_, url):
        uploader = TusClient(f"{url}/api/uploads/", headers=auth).uploader(
            str(products_csv), chunk_size=1024 * 1024, metadata={"filename": "products.csv"}
        )
        uploader.upload()
        created = requests.post(f"{url}/api/imports/", json={"upload": uploader.url.rsplit("/", 1)[1]},
                                headers=auth, timeout=30)
        assert created.status_code == 201, created.text
        job_id = created.json()["id"]

        # The stream opens before any worker runs, so the whole import is watched live (no
        # replay): first the pending state, then each committed chunk, then the end.
        events_url = created.json()["events_url"]
        assert events_url == f"/api/imports/{job_id}/events/"
        response = open_stream(url + events_url, headers=auth, read_timeout=60)
        assert response.status_code == 200, response.text
        stream = SSEStream(response)
        try:
            opening = stream.read_until(lambda event: event.event == "job")
            with running_worker(process_logs, IMPORT_CHUNK_SIZE=CHUNK_SIZE):
                events = stream.read_to_end(timeout=180)
        finally:
            stream.close()

    states = [opening[-1].json()] + [event.json() for event in events if event.event == "job"]
    assert states[0]["status"] == "pending"
    assert events[-1].event == "stream-end"
    assert events[-1].json() == {"id": job_id, "status": "completed"}

    final = states[-1]
    assert final["status"] == "completed", final["message"]
    assert (final["processed_rows"], final["total_rows"], final["progress"]) == (ROWS, ROWS, 100)

    progress = [state["processed_rows"] for state in states]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    intermediate = {rows for rows in progress if 0 < rows < ROWS}
    assert len(intermediate) >= 5, f"too few live progress events: {progress}"
    numbers = [event.number for event in [opening[-1], *events] if event.event == "job"]
    assert numbers == sorted(set(numbers)), f"events repeated or out of order: {numbers}"

    expected = last_row_per_sku(products_csv)
    job = ImportJob.objects.get(pk=job_id)
    assert (final["created"], final["updated"], final["unchanged"], final["superseded"], final["skipped"]) == (
        job.created_rows, job.updated_rows, job.unchanged_rows, job.superseded_rows, job.skipped_rows)
    assert final["skipped"] == 0
    assert final["created"] == len(expected)
    # Into an empty catalogue: every row either created its product or was replaced by a later one.
    assert (final["updated"], final["unchanged"]) == (0, 0)
    assert final["created"] + final["superseded"] == ROWS
    stored = {sku.lower(): (sku, name, description)
              for sku, name, description in Product.objects.values_list("sku", "name", "description")}
    assert stored == expected
