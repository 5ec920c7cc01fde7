"""Import job lifecycle: running, failing, row errors, cancelling, the job lock and the reaper.

Jobs are created with ``enqueue=False`` and run in the test process with ``import_job_run``; a
separate psycopg connection stands in for another worker holding a lock.
"""

from __future__ import annotations

import threading

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from catalog.models import Product
from importer.locks import CATALOG_WRITE_LOCK, JOB_LOCK_CLASS
from importer.models import DeferredRow, ImportJob, ImportRowError
from importer.pipeline import DeferredRows, ImportInterrupted, import_csv
from importer.pipeline import run as pipeline_run
from importer.pipeline.scan import ScanKey
from importer.progress import JobProgressRecorder
from importer.scan_store import StoredScan, scan_name
from importer.services import import_job_cancel, import_job_run, import_jobs_reap
from importer.states import (
    ALLOWED_TRANSITIONS,
    FINISHED_STATUSES,
    ImportPhase,
    ImportStatus,
    InvalidTransition,
    transition,
)
from tests.support.catalogue import catalogue
from tests.support.database import advisory_lock_waiters, other_connection
from tests.support.jobs import create_job
from tests.support.task_queue import queued_import_job_ids
from tests.support.waiting import wait_until

# storage: run again on object storage by `make test` (--file-storage=s3).
pytestmark = pytest.mark.storage

GOOD_FILE = b"sku,name,description\nA1,Bolt,M6\nB2,Nut,M8\na1,Bolt again,M6\n"


# --- Running ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_run_completes_a_pending_job_with_counts_and_message():
    job = create_job(GOOD_FILE)
    assert (job.status, job.phase) == (ImportStatus.PENDING, ImportPhase.QUEUED)

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert job.current_phase == ImportStatus.COMPLETED
    assert job.progress == 100
    assert (job.total_rows, job.processed_rows) == (3, 3)
    # a1 replaces A1, so A1 is superseded and never written.
    assert (job.created_rows, job.updated_rows, job.unchanged_rows, job.superseded_rows, job.skipped_rows) == (
        2, 0, 0, 1, 0)
    assert job.message == "Imported 3 rows: 2 created, 0 updated, 1 superseded by a later row, 0 skipped."
    assert job.attempts == 1
    assert job.started_at and job.finished_at and job.heartbeat_at
    assert catalogue() == {"a1": ("Bolt again", "M6"), "B2": ("Nut", "M8")}


@pytest.mark.django_db
def test_header_only_job_completes_saying_the_file_has_no_rows():
    job = create_job(b"sku,name\n")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert job.processed_rows == 0
    assert job.message == "The file has a header but no rows."


@pytest.mark.django_db
def test_cp1252_job_uses_the_encoding_it_was_created_with():
    job = create_job(b"sku,name\nA1,Caf\xe9\n", encoding="cp1252")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert catalogue() == {"A1": ("Café", "")}


@pytest.mark.django_db
def test_rejected_file_fails_the_job_with_its_reason_and_leaves_the_catalogue_untouched():
    Product.objects.create(sku="KEEP", name="Kept")
    job = create_job(b"sku;name\nA1;Bolt\n")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert job.current_phase == ImportStatus.FAILED
    assert "missing the required column(s) 'sku', 'name'" in job.message
    assert "semicolons" in job.message
    assert job.finished_at is not None
    assert catalogue() == {"KEEP": ("Kept", "")}


@pytest.mark.django_db
def test_job_whose_file_has_disappeared_fails_asking_for_a_new_upload():
    job = create_job(GOOD_FILE)
    job.file.storage.delete(job.file.name)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "no longer available" in job.message


@pytest.mark.django_db
def test_row_errors_are_stored_on_the_job_and_as_rows(settings):
    settings.IMPORT_CHUNK_SIZE = 10
    lines = ["sku,name"]
    for index in range(130):
        lines.append(f"OK-{index},Product {index}" if index % 5 == 0 else f"BAD-{index},")
    job = create_job(("\n".join(lines) + "\n").encode())

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    bad = [index for index in range(130) if index % 5]
    assert job.status == ImportStatus.COMPLETED
    assert job.skipped_rows == len(bad) == 104
    assert len(job.errors) == 100
    assert job.errors[0] == {"line": 3, "sku": "BAD-1", "reason": "name is empty"}
    assert [error["line"] for error in job.errors] == [index + 2 for index in bad[:100]]
    stored = list(ImportRowError.objects.filter(job=job).values_list("line", "sku", "reason"))
    assert stored == [(index + 2, f"BAD-{index}", "name is empty") for index in bad]
    assert Product.objects.count() == 26
    assert "104 skipped" in job.message


# --- The state machine ----------------------------------------------------------------------------


def test_finished_states_have_no_way_out():
    for status in FINISHED_STATUSES:
        assert ALLOWED_TRANSITIONS[status] == frozenset()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "target"),
    [
        (ImportStatus.COMPLETED, ImportStatus.PROCESSING),
        (ImportStatus.FAILED, ImportStatus.PENDING),
        (ImportStatus.CANCELLED, ImportStatus.PROCESSING),
        (ImportStatus.PENDING, ImportStatus.COMPLETED),
    ],
)
def test_transition_outside_the_state_machine_raises_invalid_transition(source, target):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=source)
    job.refresh_from_db()
    with pytest.raises(InvalidTransition, match=f"from {source} to {target}"):
        transition(job, expected=(source,), target=target)
    job.refresh_from_db()
    assert job.status == source


@pytest.mark.django_db
def test_transition_from_a_state_the_job_has_left_is_refused():
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.CANCELLED)
    # The in-memory job still says pending; the compare-and-set UPDATE must not move it.
    assert not transition(job, expected=(ImportStatus.PENDING,), target=ImportStatus.PROCESSING)
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED


@pytest.mark.django_db
@pytest.mark.parametrize("status", FINISHED_STATUSES)
def test_finished_job_cannot_be_cancelled(status):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=status)
    with pytest.raises(InvalidTransition, match=f"already {status}"):
        import_job_cancel(job=job)


@pytest.mark.django_db
@pytest.mark.parametrize("status", FINISHED_STATUSES)
def test_running_a_finished_job_changes_nothing(status):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=status, message="as it was")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.message, job.attempts) == (status, "as it was", 0)
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_cancelled_pending_job_never_runs():
    job = create_job(GOOD_FILE)
    import_job_cancel(job=job)
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert job.current_phase == ImportStatus.CANCELLED
    assert job.message == "Cancelled before any product was imported."
    assert job.finished_at is not None

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert Product.objects.count() == 0


# --- The job lock, resuming and the reaper --------------------------------------------------------


@pytest.mark.django_db
def test_run_does_nothing_while_another_connection_holds_the_job_lock():
    job = create_job(GOOD_FILE)
    with other_connection() as other:
        assert other.execute("SELECT pg_try_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job.pk]).fetchone()[0]
        assert import_job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportStatus.PENDING, 0)
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_processing_job_whose_worker_died_is_resumed_by_the_next_run(settings):
    # A redelivered message can reach a worker before the reaper does: the job is still
    # "processing" but nobody holds its lock, so the run resumes it from its last chunk.
    settings.IMPORT_CHUNK_SIZE = 2
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert job.attempts == 2
    assert catalogue() == {"a1": ("Bolt again", "M6"), "B2": ("Nut", "M8")}


@pytest.mark.django_db
def test_reaper_hands_a_processing_job_with_a_free_lock_back_to_the_queue(
    task_queue, django_capture_on_commit_callbacks
):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.PROCESSING, phase=ImportPhase.IMPORTING, attempts=1, processed_rows=0
    )
    with django_capture_on_commit_callbacks(execute=True):
        requeued = import_jobs_reap()

    assert requeued == [job.pk]
    job.refresh_from_db()
    assert (job.status, job.phase) == (ImportStatus.PENDING, ImportPhase.QUEUED)
    assert "will resume" in job.message
    assert queued_import_job_ids() == [job.pk]

    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED


class _WorkerDiesAfter(JobProgressRecorder):
    """The real job observer, but the "worker" stops dead after ``chunks`` committed chunks."""

    def __init__(self, job: ImportJob, chunks: int) -> None:
        super().__init__(job)
        self.chunks = chunks

    def chunk_written(self, progress, errors) -> None:
        if self.chunks == 0:
            raise ImportInterrupted("the worker died")
        self.chunks -= 1
        super().chunk_written(progress, errors)


def _resume_file() -> bytes:
    lines = ["SKU,Name,Description"]
    for index in range(23):
        sku = f"sku-{index % 9}" if index % 3 else f"SKU-{index % 9}"
        description = f'"line one\nline {index}"' if index % 4 == 0 else "d"
        lines.append(f"{sku},Name {index},{description}")
        if index == 7:
            lines.append(",no sku,x")
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.mark.django_db
@pytest.mark.parametrize("committed_chunks", [1, 3])
def test_job_whose_worker_died_resumes_to_the_catalogue_of_an_uninterrupted_run(
    settings, committed_chunks, django_capture_on_commit_callbacks
):
    settings.IMPORT_CHUNK_SIZE = 4
    data = _resume_file()
    reference_job = create_job(data)
    import_job_run(job_id=reference_job.pk)
    reference_job.refresh_from_db()
    expected = {p.sku: (p.name, p.description) for p in Product.objects.all()}
    Product.objects.all().delete()

    job = create_job(data)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    job.refresh_from_db()
    with job.file.open("rb") as handle, pytest.raises(ImportInterrupted):
        import_csv(file=handle, size_bytes=job.size_bytes, chunk_size=4,
                   observer=_WorkerDiesAfter(job, committed_chunks), deferred=DeferredRows(job_id=job.pk))
    job.refresh_from_db()
    assert job.processed_rows == 4 * committed_chunks
    assert 0 < job.resume_offset < job.size_bytes

    with django_capture_on_commit_callbacks(execute=False):
        assert import_jobs_reap() == [job.pk]
    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert catalogue() == expected
    fields = ("total_rows", "processed_rows", "created_rows", "updated_rows", "unchanged_rows",
              "superseded_rows", "skipped_rows", "errors")
    assert {f: getattr(job, f) for f in fields} == {f: getattr(reference_job, f) for f in fields}
    assert job.message == reference_job.message


@pytest.mark.django_db
def test_reaper_leaves_a_processing_job_alone_while_its_lock_is_held(
    task_queue, django_capture_on_commit_callbacks
):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    with other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s, %s)", [JOB_LOCK_CLASS, job.pk])
        with django_capture_on_commit_callbacks(execute=True):
            requeued = import_jobs_reap()
    assert requeued == []
    job.refresh_from_db()
    assert job.status == ImportStatus.PROCESSING
    assert queued_import_job_ids() == []


@pytest.mark.django_db
def test_reaper_sends_a_pending_job_again_when_it_has_waited_too_long(
    settings, task_queue, django_capture_on_commit_callbacks
):
    settings.IMPORT_REQUEUE_PENDING_AFTER = 60
    waiting = create_job(GOOD_FILE)
    fresh = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=waiting.pk).update(enqueued_at=timezone.now() - timezone.timedelta(minutes=5))
    ImportJob.objects.filter(pk=fresh.pk).update(enqueued_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        requeued = import_jobs_reap()
    assert requeued == [waiting.pk]
    assert queued_import_job_ids() == [waiting.pk]


@pytest.mark.django_db
def test_job_that_used_up_its_attempts_fails_instead_of_running_again(settings):
    settings.IMPORT_MAX_ATTEMPTS = 3
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PENDING, attempts=3)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "after 3 attempts" in job.message
    assert Product.objects.count() == 0


def _hold_rows(job: ImportJob, count: int) -> None:
    DeferredRow.objects.bulk_create(
        DeferredRow(job=job, line=line, sku=f"R-{line}", name="held", description="") for line in range(2, 2 + count)
    )


@pytest.mark.django_db
def test_cancelling_a_pending_job_deletes_the_rows_it_held_back():
    job = create_job(GOOD_FILE)  # as if its worker had died and the reaper had handed it back
    _hold_rows(job, 3)
    import_job_cancel(job=job)
    assert not DeferredRow.objects.filter(job=job).exists()


@pytest.mark.django_db
def test_rows_held_by_a_job_cancelled_while_processing_are_left_to_its_worker_then_the_reaper(
    django_capture_on_commit_callbacks
):
    job = create_job(GOOD_FILE)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    _hold_rows(job, 3)
    import_job_cancel(job=job)
    # Its worker may be merging them right now, holding them locked (it deletes them itself when it
    # stops); here it is gone, so the reaper deletes them.
    assert DeferredRow.objects.filter(job=job).count() == 3
    with django_capture_on_commit_callbacks(execute=False):
        import_jobs_reap()
    assert not DeferredRow.objects.filter(job=job).exists()


# --- Cancelling a running import -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cancel_while_processing_stops_at_the_next_chunk_and_says_what_was_written(settings):
    """Chunks queue for the catalogue write lock, so holding it from another connection parks the
    worker between chunks. The test lets at least one chunk through, cancels, then releases."""
    settings.IMPORT_CHUNK_SIZE = 2
    settings.IMPORT_BULK_PATH = "never"  # chunks are the chunked path's
    rows = [(f"SKU-{index:02d}", f"Product {index}") for index in range(20)]
    job = create_job(("sku,name\n" + "".join(f"{s},{n}\n" for s, n in rows)).encode())
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            import_job_run(job_id=job.pk)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    with other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [CATALOG_WRITE_LOCK])
        thread = threading.Thread(target=worker)
        thread.start()
        try:
            wait_until(lambda: advisory_lock_waiters(other, CATALOG_WRITE_LOCK) == 1, what="the first chunk")
            # Hand the lock to the waiting chunk and queue up behind it in the same statement, so
            # the worker gets through one chunk (rarely more) before it waits again.
            other.execute("SELECT pg_advisory_unlock(%s), pg_advisory_lock(%s)", [CATALOG_WRITE_LOCK] * 2)
            wait_until(lambda: advisory_lock_waiters(other, CATALOG_WRITE_LOCK) == 1, what="the next chunk")
            import_job_cancel(job=ImportJob.objects.get(pk=job.pk))
        finally:
            other.execute("SELECT pg_advisory_unlock(%s)", [CATALOG_WRITE_LOCK])
            thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors == []

    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert 2 <= job.processed_rows < len(rows)
    written = dict(rows[: job.processed_rows])
    assert {p.sku: p.name for p in Product.objects.all()} == written
    assert job.created_rows == job.processed_rows
    assert job.message.startswith(f"Cancelled after {job.processed_rows:,} of {len(rows)} rows.")
    assert f"{job.processed_rows} created" in job.message


@pytest.mark.django_db
def test_a_resumed_job_reads_its_stored_scan_instead_of_scanning_the_whole_file_again(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    # On object storage, scanning again would download the whole file before the resume offset.
    settings.IMPORT_CHUNK_SIZE = 4
    data = _resume_file()
    reference_job = create_job(data)
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=reference_job.pk)
    expected = catalogue()
    assert not default_storage.exists(scan_name(reference_job.pk)), "a finished job keeps no scan"
    Product.objects.all().delete()

    job = create_job(data)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    job.refresh_from_db()
    with job.file.open("rb") as handle, pytest.raises(ImportInterrupted):
        import_csv(file=handle, size_bytes=job.size_bytes, chunk_size=4,
                   observer=_WorkerDiesAfter(job, 2), deferred=DeferredRows(job_id=job.pk),
                   scans=StoredScan(job_id=job.pk))
    assert default_storage.exists(scan_name(job.pk))

    def no_rescan(*args, **kwargs):
        raise AssertionError("the resumed run scanned the file again")

    monkeypatch.setattr(pipeline_run, "scan_file", no_rescan)
    with django_capture_on_commit_callbacks(execute=False):
        assert import_jobs_reap() == [job.pk]
    with django_capture_on_commit_callbacks(execute=True):
        import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    assert catalogue() == expected
    assert job.total_rows == ImportJob.objects.get(pk=reference_job.pk).total_rows
    assert not default_storage.exists(scan_name(job.pk))


@pytest.mark.django_db
def test_a_stored_scan_of_another_layout_is_ignored_and_the_file_scanned_again(settings, monkeypatch):
    settings.IMPORT_CHUNK_SIZE = 4
    data = _resume_file()
    job = create_job(data)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.PROCESSING, attempts=1)
    job.refresh_from_db()
    with job.file.open("rb") as handle, pytest.raises(ImportInterrupted):
        import_csv(file=handle, size_bytes=job.size_bytes, chunk_size=4,
                   observer=_WorkerDiesAfter(job, 1), deferred=DeferredRows(job_id=job.pk),
                   scans=StoredScan(job_id=job.pk))
    # Written for another file size: not this file's scan.
    stored = StoredScan(job_id=job.pk)
    real = stored.load(ScanKey(size_bytes=job.size_bytes, sku_index=0, encoding="utf-8"))
    assert real is not None and real.records == 24
    assert stored.load(ScanKey(size_bytes=job.size_bytes + 1, sku_index=0, encoding="utf-8")) is None
    assert stored.load(ScanKey(size_bytes=job.size_bytes, sku_index=1, encoding="utf-8")) is None
    stored.save(real, ScanKey(size_bytes=job.size_bytes + 1, sku_index=0, encoding="utf-8"))

    scans = []
    real_scan_file = pipeline_run.scan_file
    monkeypatch.setattr(pipeline_run, "scan_file",
                        lambda *args, **kwargs: scans.append(1) or real_scan_file(*args, **kwargs))
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    assert scans == [1]
