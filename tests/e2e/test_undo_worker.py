"""An undo run by a real Celery worker: killed half way and resumed by the next worker, or cancelled
half way and finished by a second undo; either way the catalogue ends exactly as before the import.

The import is run in this process (committed: ``transactional_db``); the undo goes through the
queue to real workers started with small batches, so there is time to catch it half done.
"""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from catalog.models import Product
from importer.models import ImportJob
from importer.services import import_job_cancel, import_job_create, import_job_run
from importer.states import ImportStatus
from importer.undo import import_job_undo
from tests.support.jobs import wait_for_job
from tests.support.processes import ServiceProcess, start_worker

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

BASE_ROWS = 15_000
FILE_ROWS = 30_000
# Batches of 300 products: the undo of 30,000 is a hundred short transactions.
CHUNK_SIZE = "300"
TIMEOUT = 240.0


@pytest.fixture
def workers(transactional_db, process_logs):
    started: list[ServiceProcess] = []

    def start() -> ServiceProcess:
        worker = start_worker(log_dir=process_logs, IMPORT_CHUNK_SIZE=CHUNK_SIZE)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def table() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_product ORDER BY id")
        return cursor.fetchall()


def _import(data: bytes, user) -> ImportJob:
    job = import_job_create(owner=user, file=ContentFile(data), filename="p.csv", enqueue=False)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    return job


@pytest.fixture
def imported(workers, user):
    """The catalogue before an import (every column), and that import: it updates the base's
    products (half of them also inactive from now), creates as many, and repeats some SKUs."""
    base = "".join(f"sku-{i},Base {i},d{i}\n" for i in range(BASE_ROWS))
    _import(f"sku,name,description\n{base}".encode(), user)
    Product.objects.filter(pk__in=Product.objects.filter(sku__endswith="7").values("pk")).update(is_active=False)
    before = table()
    rows = "".join(f"SKU-{i},New {i},n{i},{'yes' if i % 2 else 'no'}\n" for i in range(FILE_ROWS))
    repeats = "".join(f"sku-{i},Last row wins {i},,yes\n" for i in range(0, FILE_ROWS, 97))
    job = _import(f"sku,name,description,is_active\n{rows}{repeats}".encode(), user)
    assert (job.created_rows, job.updated_rows) == (FILE_ROWS - BASE_ROWS, BASE_ROWS)
    return before, job


def _half_done(undo_id: int, processes) -> ImportJob:
    return wait_for_job(
        undo_id,
        lambda job: job.status == ImportStatus.PROCESSING and job.total_rows
        and 0 < job.processed_rows < job.total_rows // 2,
        what="half undone", timeout=TIMEOUT, processes=processes, interval=0.02,
    )


def test_an_undo_whose_worker_is_killed_is_resumed_by_the_next_worker_and_restores_exactly(
    workers, user, imported
):
    before, job = imported
    first = workers()
    undo = import_job_undo(job=job, owner=user)
    half = _half_done(undo.pk, [first])

    # The main process and its pool child die together: only the reaper brings the undo back.
    first.crash()
    assert ImportJob.objects.get(pk=undo.pk).status == ImportStatus.PROCESSING
    second = workers()
    done = wait_for_job(undo.pk, lambda j: j.is_finished, what="finished", timeout=TIMEOUT,
                        processes=[first, second])

    assert done.status == ImportStatus.COMPLETED, done.message
    assert done.attempts >= 2 and done.processed_rows > half.processed_rows
    assert "lost its worker; queued to resume" in second.log()
    # Nothing done twice, nothing counted as a conflict: every product once.
    assert (done.deleted_rows, done.restored_rows) == (FILE_ROWS - BASE_ROWS, BASE_ROWS)
    assert done.conflict_rows == 0
    assert done.processed_rows == done.total_rows == FILE_ROWS
    assert table() == before
    job.refresh_from_db()
    assert job.undone_by_id == undo.pk and job.undone_at is not None


def test_an_undo_cancelled_half_way_keeps_what_it_did_and_a_second_undo_finishes(workers, user, imported):
    before, job = imported
    worker = workers()
    undo = import_job_undo(job=job, owner=user)
    _half_done(undo.pk, [worker])

    cancelled = import_job_cancel(job=undo)
    assert cancelled.status == ImportStatus.CANCELLED
    # The batch in flight rolls back (its progress cannot be recorded on a cancelled job); what
    # was committed stays, and the cancelled job's counts say exactly what.
    stopped = ImportJob.objects.get(pk=undo.pk)
    assert 0 < stopped.processed_rows < FILE_ROWS
    assert "undo import" in stopped.message and "again to finish" in stopped.message
    assert table() != before
    job.refresh_from_db()
    assert job.undone_by_id is None

    again = import_job_undo(job=job, owner=user)
    done = wait_for_job(again.pk, lambda j: j.is_finished, what="finished", timeout=TIMEOUT,
                        processes=[worker])

    assert done.status == ImportStatus.COMPLETED, done.message
    assert done.conflict_rows == 0
    assert stopped.deleted_rows + done.deleted_rows <= FILE_ROWS - BASE_ROWS
    assert table() == before
