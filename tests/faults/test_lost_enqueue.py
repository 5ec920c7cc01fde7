"""Fault 6: the job is committed but its queue message never arrives.

Two ways this happens: the process dies between the job's commit and the publish (the job row
says it was queued, Redis never heard of it), or the broker refuses the message when the API
publishes it. Either way the reaper finds a pending job queued longer than
IMPORT_REQUEUE_PENDING_AFTER ago and sends it again; the import then runs exactly once.
"""

from __future__ import annotations

import time

import pytest
from django.core.files import File
from django.utils import timezone

from importer.models import ImportJob
from importer.services import import_job_create
from importer.states import ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for
from tests.support.catalogue import assert_catalogue_is, oracle
from tests.support.clients import post_csv, token_headers
from tests.support.jobs import finished, wait_for_job
from tests.support.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 3_000
REQUEUE_AFTER = "2"


def test_job_whose_message_was_lost_after_commit_is_sent_again_by_the_reaper(workers, user, make_csv):
    path = make_csv(ROWS)
    expected = oracle(path)
    # Exactly what a web process leaves when it dies right after the commit and before the
    # publish: the job row saying it was queued now, and no message in the broker.
    with path.open("rb") as handle:
        job = import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name,
                                enqueue=False)
    ImportJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now())

    started = time.monotonic()
    worker = workers(IMPORT_REQUEUE_PENDING_AFTER=REQUEUE_AFTER)
    ready = time.monotonic()
    job = wait_for_job(job.pk, lambda j: j.status != ImportStatus.PENDING, what="picked up",
                       processes=[worker], timeout=120)
    picked_up = time.monotonic()
    job = wait_for_job(job.pk, finished, what="finished", processes=[worker])
    print(f"\nlost message: worker start {ready - started:.1f}s, picked up {picked_up - ready:.1f}s "
          f"after the worker was ready (IMPORT_REQUEUE_PENDING_AFTER={REQUEUE_AFTER}s, reaper every 1s)")

    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected)
    assert_catalogue_is(expected)
    assert job.attempts == 1
    assert "queued again" in worker.log()


def test_import_started_while_the_broker_refuses_messages_is_accepted_and_runs_later(
    daphnes, workers, user, make_csv
):
    path = make_csv(ROWS)
    expected = oracle(path)
    # The web process's broker is a port nobody listens on: every publish fails.
    _, url = daphnes(CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")

    posted = time.monotonic()
    response = post_csv(url, path, headers=token_headers(user), timeout=120)
    print(f"\nPOST /api/imports/ with the broker down answered {response.status_code} "
          f"in {time.monotonic() - posted:.1f}s")
    assert response.status_code == 201, response.text[:2000]
    job_id = response.json()["id"]
    job = ImportJob.objects.get(pk=job_id)
    assert job.status == ImportStatus.PENDING and job.enqueued_at is not None

    worker = workers(IMPORT_REQUEUE_PENDING_AFTER=REQUEUE_AFTER)
    job = wait_for_job(job_id, finished, what="finished", processes=[worker])
    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected)
    assert_catalogue_is(expected)
    assert job.attempts == 1
