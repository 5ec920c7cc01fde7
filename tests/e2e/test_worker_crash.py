"""A real Celery worker dies in the middle of an import; the import still ends exactly right.

These tests start real worker processes on the test database (committed data, hence
``transactional_db``), kill them with SIGKILL while a job is half done, and check that the job
completes with the catalogue an uninterrupted run gives: the product of the last row of the file
for each SKU in any letter case, and counts that add up to the file's rows.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import psutil
import pytest
from django.core.files import File

from catalog.models import Product
from importer.locks import JOB_LOCK_CLASS
from importer.models import ImportJob
from importer.services import import_job_create
from importer.states import ImportStatus
from importer.tasks import run_import
from tests.benchmarks.csvgen import generate_products_csv
from tests.support.jobs import wait_for_job
from tests.support.processes import ServiceProcess, pid_holding_advisory_lock, start_worker
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 150_000
# Small chunks make the import many short transactions, so there is time to catch it half done.
CHUNK_SIZE = "3000"
# The machine is shared and slow at times: waits are generous, and every wait polls the database.
FINISH_TIMEOUT = 240.0
MIDWAY_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def products_csv(tmp_path_factory) -> Path:
    return generate_products_csv(tmp_path_factory.mktemp("csv") / "products.csv", ROWS)


@pytest.fixture(scope="module")
def expected_catalogue(products_csv) -> dict[str, tuple[str, str, str]]:
    """The catalogue an uninterrupted import gives: the last row of the file wins per SKU."""
    catalogue: dict[str, tuple[str, str, str]] = {}
    with products_csv.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for sku, name, description in reader:
            # Python's lower() equals PostgreSQL's (the unique index's) only on ASCII.
            assert sku.isascii(), "the generated SKUs must be ASCII for this reference"
            catalogue[sku.strip().lower()] = (sku.strip(), name.strip(), description)
    return catalogue


@pytest.fixture
def workers(transactional_db, process_logs):
    """Starts workers on demand; whatever is still running at the end is stopped.

    Depends on ``transactional_db`` so the workers are gone before the database is flushed.
    """
    started: list[ServiceProcess] = []

    def start(**kwargs) -> ServiceProcess:
        # Resuming after the last committed chunk is the chunked path's; a bulk load starts over
        # (tests/faults/test_bulk_load_crash.py).
        kwargs.setdefault("IMPORT_BULK_PATH", "never")
        worker = start_worker(log_dir=process_logs, IMPORT_CHUNK_SIZE=CHUNK_SIZE, **kwargs)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _create_job(user, products_csv: Path) -> ImportJob:
    with products_csv.open("rb") as handle:
        return import_job_create(owner=user, file=File(handle, name="products.csv"),
                                 filename="products.csv", enqueue=True)


def _wait_until_half_done(job_id: int, workers: list[ServiceProcess]) -> ImportJob:
    return wait_for_job(
        job_id,
        lambda job: job.status == ImportStatus.PROCESSING and job.total_rows
        and 0 < job.processed_rows < job.total_rows // 2,
        what="half done", timeout=MIDWAY_TIMEOUT, processes=workers, interval=0.05,
    )


def _wait_until_finished(job_id: int, workers: list[ServiceProcess]) -> ImportJob:
    return wait_for_job(job_id, lambda job: job.is_finished, what="finished",
                        timeout=FINISH_TIMEOUT, processes=workers, interval=0.05)


def _runner_of(job_id: int, worker: ServiceProcess) -> psutil.Process:
    """The pool child running the job: the worker's process that holds the job's lock."""
    children = {proc.pid for proc in worker.children()}

    def runner() -> int | None:
        pid = pid_holding_advisory_lock(key1=JOB_LOCK_CLASS, key2=job_id)
        return pid if pid in children else None

    pid = wait_until(runner, what=f"a process of the worker to hold the lock of import {job_id}",
                     timeout=30, interval=0.05)
    return psutil.Process(pid)


def _assert_completed_exactly(job: ImportJob, expected_catalogue: dict) -> None:
    assert job.status == ImportStatus.COMPLETED, job.message
    assert job.total_rows == ROWS
    assert job.processed_rows == ROWS
    assert (job.created_rows + job.updated_rows + job.unchanged_rows + job.superseded_rows
            + job.skipped_rows) == ROWS
    assert job.skipped_rows == 0
    assert job.created_rows == len(expected_catalogue)
    stored = {
        sku.lower(): (sku, name, description)
        for sku, name, description in Product.objects.values_list("sku", "name", "description").iterator(
            chunk_size=10_000
        )
    }
    assert len(stored) == len(expected_catalogue)
    wrong = [key for key, value in expected_catalogue.items() if stored.get(key) != value]
    assert not wrong, (
        f"{len(wrong)} products differ from the file's last row, e.g. {wrong[0]!r}: "
        f"stored {stored.get(wrong[0])!r}, expected {expected_catalogue[wrong[0]]!r}"
    )
    assert not Product.objects.filter(is_active=False).exists()


def test_job_killed_with_its_whole_worker_is_resumed_by_the_next_worker(
    workers, user, products_csv, expected_catalogue
):
    first = workers()
    job = _create_job(user, products_csv)
    half_done = _wait_until_half_done(job.pk, [first])

    # SIGKILL the main process and the pool child together: the message stays unacknowledged in
    # Redis (for the visibility timeout, hours), so only the reaper can bring the job back.
    first.crash()
    assert ImportJob.objects.get(pk=job.pk).status == ImportStatus.PROCESSING

    second = workers()
    finished = _wait_until_finished(job.pk, [first, second])

    assert finished.attempts >= 2
    assert finished.processed_rows > half_done.processed_rows
    assert "lost its worker; queued to resume" in second.log()
    _assert_completed_exactly(finished, expected_catalogue)


def test_job_whose_pool_child_is_killed_is_redelivered_and_completes(
    workers, user, products_csv, expected_catalogue
):
    worker = workers()
    job = _create_job(user, products_csv)
    _wait_until_half_done(job.pk, [worker])
    runner = _runner_of(job.pk, worker)

    # Only the pool child dies: acks_late + reject_on_worker_lost put the message straight back on
    # the queue, and the same worker's new pool child resumes the job.
    runner.kill()
    runner.wait(timeout=10)
    assert psutil.pid_exists(worker.pid)

    finished = _wait_until_finished(job.pk, [worker])
    assert finished.attempts >= 2
    assert re.search(r"WorkerLostError|Process .* exited|signal 9", worker.log())
    _assert_completed_exactly(finished, expected_catalogue)


def test_job_delivered_twice_to_two_pool_children_runs_once(
    workers, user, products_csv, expected_catalogue
):
    worker = workers(concurrency=2)
    job = _create_job(user, products_csv)
    run_import.delay(job.pk)

    finished = _wait_until_finished(job.pk, [worker])
    # Both deliveries were consumed (a test where the second message never ran would prove nothing).
    succeeded = re.compile(r"Task importer\.run_import\[[^\]]+\] succeeded")
    deadline = time.monotonic() + 60
    while len(succeeded.findall(worker.log())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    log = worker.log()
    assert len(succeeded.findall(log)) == 2, log[-3000:]

    assert finished.attempts == 1
    _assert_completed_exactly(finished, expected_catalogue)
