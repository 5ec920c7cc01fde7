"""Fault 10: "delete all products" while an import is queued or running, through the real stack.

The documented rule (importer/bulk_delete.py): the bulk delete refuses with 409 while any import is
pending or processing, and leaves the catalogue exactly as it was; once the import has finished
it deletes everything. Real daphne, real worker, a staff user's API token.
"""

from __future__ import annotations

import pytest
import requests
from django.core.files import File

from catalog.models import Product
from importer.services import import_job_create
from importer.states import ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for, products_and_created_rows
from tests.support.catalogue import assert_catalogue_is, oracle, stored_catalogue
from tests.support.clients import token_headers
from tests.support.jobs import finished, wait_for_job

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 30_000
KEPT = 40


def _bulk_delete(url: str, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/api/products/bulk-delete/", json={"confirm": True}, headers=headers, timeout=60)


def test_bulk_delete_is_refused_while_an_import_is_pending_or_running_and_works_after(
    daphnes, workers, user, staff_user, make_csv
):
    Product.objects.bulk_create(Product(sku=f"KEEP-{i}", name=f"kept {i}") for i in range(KEPT))
    before = stored_catalogue()
    path = make_csv(ROWS)
    expected = {**before, **oracle(path)}
    staff = token_headers(staff_user)
    _, url = daphnes()

    with path.open("rb") as handle:
        job = import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name)

    # Pending: no worker has taken it yet.
    refused = _bulk_delete(url, staff)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "import_running"
    assert f"Import #{job.pk} ({path.name}) is pending" in refused.json()["detail"]
    assert stored_catalogue() == before

    worker = workers()
    job = wait_for_job(job.pk, lambda j: j.status == ImportStatus.PROCESSING and 0 < j.processed_rows < ROWS // 2,
                       what="importing", processes=[worker], timeout=120)
    refused = _bulk_delete(url, staff)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "import_running"
    products, created, processed = products_and_created_rows(job.pk)
    assert products == KEPT + created, "the refused delete removed products (or the job lost count)"
    assert processed < ROWS, "the import finished before the delete was tried: make the file bigger"

    job = wait_for_job(job.pk, finished, what="finished", processes=[worker])
    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected, products_before=KEPT)
    assert_catalogue_is(expected)

    deleted = _bulk_delete(url, staff)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"deleted": len(expected)}
    assert not Product.objects.exists()
