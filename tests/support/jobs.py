"""Import jobs in tests: create one from bytes to run in process, or wait for one a worker runs."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from django.core.files.base import ContentFile

from importer.models import ImportJob
from importer.services import import_job_create
from tests.support.processes import ServiceProcess

# Generous: the suite shares a busy machine with other runs, and a wait that polls costs a fast
# run nothing.
FINISH_TIMEOUT = 180.0


def create_job(data: bytes, *, owner=None, filename: str = "products.csv", encoding: str = "") -> ImportJob:
    """A pending job for ``data``, not queued: the test runs it with ``import_job_run``."""
    return import_job_create(
        owner=owner, file=ContentFile(data), filename=filename, encoding=encoding, enqueue=False
    )


def wait_for_job(job_id: int, condition: Callable[[ImportJob], bool], *, what: str,
                 timeout: float = FINISH_TIMEOUT, processes: Iterable[ServiceProcess] = (),
                 interval: float = 0.02) -> ImportJob:
    """Poll the job until ``condition`` holds; fail with its state and the processes' logs.

    A job that ends without meeting ``condition`` fails at once rather than at the timeout.
    """
    deadline = time.monotonic() + timeout
    job = ImportJob.objects.get(pk=job_id)
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job_id)
        if condition(job):
            return job
        if job.is_finished:
            break
        time.sleep(interval)
    raise AssertionError(
        f"import {job_id} not {what}: status={job.status} processed={job.processed_rows}/"
        f"{job.total_rows} attempts={job.attempts} message={job.message!r}\n"
        + "\n".join(process.log_excerpt() for process in processes)
    )


def finished(job: ImportJob) -> bool:
    """The condition for ``wait_for_job`` that the job has ended, however it ended."""
    return job.is_finished
