"""A worker SIGKILLed in each phase of a bulk load leaves the old catalogue, never a mixture; the
reaper hands the job to the next worker, which drops the dead run's shadow table, loads the file
again and ends exactly as an uninterrupted run.

The phases are caught without hooks in the product: a lock held by the test makes the worker wait
where the test wants it. A ``ROW EXCLUSIVE`` lock on the shadow table lets the load's COPYs through
but holds its index builds (Indexing); a reader's ``ACCESS SHARE`` lock on the catalogue holds the
swap's last step (Publishing) inside its transaction.
"""

from __future__ import annotations

import pytest
from django.core.files import File
from django.db import connection

from catalog.models import Product
from catalog.services import product_create
from importer.models import ImportJob
from importer.pipeline.shadow import shadow_table
from importer.services import import_job_create
from importer.states import ImportPhase, ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for
from tests.support.catalogue import assert_catalogue_is, oracle
from tests.support.database import other_connection
from tests.support.jobs import finished, wait_for_job
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 30_000
# Bulk over the one product the tests keep (``before``); a long swap lock timeout, so the worker
# waits inside the swap's transaction until it is killed.
BULK_ENV = {"IMPORT_BULK_PATH": "always", "IMPORT_BULK_SWAP_LOCK_TIMEOUT_MS": "600000"}


def _shadows() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'importer\\_bulk\\_%' ORDER BY 1")
        return [name for (name,) in cursor.fetchall()]


def _shadow_exists(job_id: int) -> bool:
    return shadow_table(job_id) in _shadows()


def _waiting_for(other, *, relation: str, mode: str) -> bool:
    row = other.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = %s AND relation = to_regclass(%s)",
        [mode, relation],
    ).fetchone()
    return row[0] > 0


def _start(user, path) -> ImportJob:
    with path.open("rb") as handle:
        return import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name)


def _finish_on_a_new_worker(workers, job: ImportJob, first, *, expected, before: Product) -> None:
    second = workers(**BULK_ENV)
    done = wait_for_job(job.pk, finished, what="finished", processes=[first, second], timeout=240)
    assert done.attempts >= 2
    assert "lost its worker; queued to resume" in second.log()
    assert "Loaded in bulk" in done.message
    # The API's product (not in the file) is merged at the swap, with its id.
    assert Product.objects.get(sku=before.sku).pk == before.pk
    expected = {**expected, before.sku.lower(): (before.sku, before.name, before.description)}
    assert_completed_and_accounts_for(done, rows=ROWS, expected=expected, products_before=1)
    assert_catalogue_is(expected)
    assert _shadows() == []


def _assert_old_catalogue(before: Product) -> None:
    assert list(Product.objects.values_list("pk", "sku")) == [(before.pk, before.sku)]


@pytest.fixture
def before(workers) -> Product:
    """A product of the catalogue before the import: what tells the old catalogue from the new."""
    return product_create(sku="API-BEFORE", name="Written before the import")


def test_worker_killed_while_loading(workers, user, make_csv, before):
    path = make_csv(ROWS)
    expected = oracle(path)
    first = workers(**BULK_ENV)
    job = _start(user, path)
    wait_for_job(
        job.pk,
        lambda j: j.phase == ImportPhase.LOADING and 0 < j.processed_rows < ROWS // 2,
        what="loading",
        processes=[first],
        interval=0.02,
        timeout=120,
    )
    first.crash()

    _assert_old_catalogue(before)
    assert _shadow_exists(job.pk)  # left by the dead run, dropped by the next
    _finish_on_a_new_worker(workers, job, first, expected=expected, before=before)


def test_worker_killed_while_indexing(workers, user, make_csv, before):
    path = make_csv(ROWS)
    expected = oracle(path)
    first = workers(**BULK_ENV)
    job = _start(user, path)
    wait_until(lambda: _shadow_exists(job.pk), what="the shadow table", timeout=120, interval=0.01)
    with other_connection() as other:
        other.execute("BEGIN")
        other.execute(f"LOCK TABLE {shadow_table(job.pk)} IN ROW EXCLUSIVE MODE")
        wait_until(
            lambda: _waiting_for(other, relation=shadow_table(job.pk), mode="ShareLock"),
            what="an index build",
            timeout=120,
            interval=0.05,
        )
        assert ImportJob.objects.get(pk=job.pk).phase == ImportPhase.INDEXING
        first.crash()
        _assert_old_catalogue(before)
        # The builds' backends notice their client is gone (client_connection_check_interval)
        # and stop waiting, rather than build an index for nobody once the test lets go.
        wait_until(
            lambda: not _waiting_for(other, relation=shadow_table(job.pk), mode="ShareLock"),
            what="the dead worker's index builds to stop",
            timeout=30,
            interval=0.1,
        )
        other.execute("ROLLBACK")
    _finish_on_a_new_worker(workers, job, first, expected=expected, before=before)


def test_worker_killed_while_publishing(workers, user, make_csv, before):
    path = make_csv(ROWS)
    expected = oracle(path)
    first = workers(**BULK_ENV)
    with other_connection() as other:
        # A reader of the catalogue: the swap merges, sets the triggers and counts, then waits for
        # it to take the catalogue's place.
        other.execute("BEGIN")
        other.execute("SELECT count(*) FROM catalog_product")
        job = _start(user, path)
        wait_until(
            lambda: _waiting_for(other, relation="catalog_product", mode="AccessExclusiveLock"),
            what="the swap",
            timeout=180,
            interval=0.05,
        )
        assert ImportJob.objects.get(pk=job.pk).phase == ImportPhase.PUBLISHING
        first.crash()
        # The swap's backend stops waiting when its client dies: its transaction never commits.
        wait_until(
            lambda: not _waiting_for(other, relation="catalog_product", mode="AccessExclusiveLock"),
            what="the dead worker's swap to stop",
            timeout=30,
            interval=0.1,
        )
        other.execute("ROLLBACK")
    _assert_old_catalogue(before)
    job.refresh_from_db()
    assert job.status == ImportStatus.PROCESSING and job.created_rows == 0
    _finish_on_a_new_worker(workers, job, first, expected=expected, before=before)
