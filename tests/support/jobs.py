"""Waiting on import jobs from tests that run real worker processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from importer.models import ImportJob
from tests.support.processes import ServiceProcess

FINISH_TIMEOUT = 180.0


def wait_for_job(job_id: int, condition: Callable[[ImportJob], bool], *, what: str,
                 timeout: float = FINISH_TIMEOUT, processes: Iterable[ServiceProcess] = (),
                 interval: float = 0.02) -> ImportJob:
    """Poll the job until ``condition`` holds; fail with its state and the processes' logs."""
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
        + "\n".join(log_excerpt(process) for process in processes)
    )


def finished(job: ImportJob) -> bool:
    return job.is_finished


def log_excerpt(process: ServiceProcess) -> str:
    """The first traceback of a process's log (the likely cause), or the end of the log."""
    log = process.log()
    start = log.find("Traceback")
    text = log[start:start + 4000] if start >= 0 else log[-3000:]
    return f"--- {process.name} ({process.log_path}) ---\n{text}"
