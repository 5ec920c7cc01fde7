"""The bulk path: the same catalogue and counts as the chunked path, chosen automatically (or by
``IMPORT_BULK_PATH``), with API writes during the load merged at the swap, cancel while indexing,
and the shadow tables of dead runs dropped.

These run the real services in the test process on committed data (a bulk load commits phase by
phase and builds indexes on connections of its own, hence ``transaction=True``).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from catalog.models import Product
from catalog.services import product_create, product_update
from importer.locks import BULK_LOAD_LOCK
from importer.models import ImportJob, ImportRowError
from importer.pipeline import ImportObserver
from importer.pipeline.bulk import bulk_import_csv
from importer.pipeline.shadow import create_shadow, drop_shadow, read_shape, shadow_table, shadow_tables
from importer.services import import_job_cancel, import_job_confirm, import_job_run, import_jobs_reap
from importer.states import ImportPhase, ImportStatus
from tests.support.database import other_connection
from tests.support.jobs import create_job
from tests.support.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _nasty_file(rows: int = 3000, *, active_column: bool = False) -> bytes:
    """Rows with repeated SKUs in other letter cases (also where Python's lower() differs from
    PostgreSQL's), bad rows, quoted multi-line descriptions and non-ASCII text."""
    header = "SKU,Name,Description" + (",is_active" if active_column else "") + "\n"
    lines = [header]
    for index in range(rows):
        sku = f"Sku-{index % (rows * 9 // 10):05d}"
        if index % 7 == 0:
            sku = sku.upper()
        if index % 500 == 3:
            sku = f"İx-{index % 5}" if index % 2 else f"i̇x-{index % 5}"
        name = f"Name {index} ünïcode" if index % 11 else ""  # an empty name is a row error
        description = f'"line one\nline two of {index}, with ""quotes"""' if index % 13 == 0 else f"d{index}"
        active = ("," + ("no" if index % 17 == 0 else "yes")) if active_column else ""
        lines.append(f"{sku},{name},{description}{active}\n")
    lines.append("S-LAST,,\n")
    return "".join(lines).encode()


def _snapshot() -> dict[str, tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(sku), sku, name, description, is_active FROM catalog_product")
        return {row[0]: row[1:] for row in cursor.fetchall()}


def _counts(job: ImportJob) -> tuple:
    return (
        job.processed_rows,
        job.created_rows,
        job.updated_rows,
        job.unchanged_rows,
        job.superseded_rows,
        job.skipped_rows,
        job.stored_errors,
    )


def _run(data: bytes) -> ImportJob:
    job = create_job(data)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    return job


def _empty_catalogue() -> None:
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product")


def _assert_consistent() -> None:
    """Count blocks agree with the table, every index and trigger is back under its name."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_product")
        (rows,) = cursor.fetchone()
        cursor.execute("SELECT coalesce(sum(products), 0) FROM catalog_productcountblock")
        (counted,) = cursor.fetchone()
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'catalog_product' ORDER BY 1")
        indexes = [name for (name,) in cursor.fetchall()]
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'catalog_product'::regclass "
            "AND NOT tgisinternal ORDER BY 1"
        )
        triggers = [name for (name,) in cursor.fetchall()]
        cursor.execute("SELECT pg_get_serial_sequence('catalog_product', 'id')")
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT relname FROM pg_class WHERE relname LIKE 'importer\\_bulk\\_%'")
        shadows = cursor.fetchall()
    assert rows == counted
    assert {"catalog_product_pkey", "catalog_product_sku_ci_unique", "catalog_product_inactive_id"} <= set(
        indexes
    )
    assert all(not name.startswith("importer_bulk") for name in indexes)
    assert triggers == [
        "catalog_product_count_delete",
        "catalog_product_count_insert",
        "catalog_product_count_truncate",
        "catalog_product_count_update",
    ]
    assert sequence == "public.catalog_product_id_seq"
    assert shadows == []


@pytest.mark.parametrize("active_column", [False, True], ids=["no is_active column", "is_active column"])
def test_the_bulk_path_gives_the_chunked_paths_catalogue_and_counts_row_for_row(settings, active_column):
    data = _nasty_file(active_column=active_column)
    settings.IMPORT_BULK_PATH = "never"
    chunked = _run(data)
    expected, expected_errors = (
        _snapshot(),
        list(
            ImportRowError.objects.filter(job=chunked).order_by("line").values_list("line", "sku", "reason")
        ),
    )
    assert "In chunks (IMPORT_BULK_PATH=never)" not in chunked.message  # said while it ran, not at the end
    _empty_catalogue()

    settings.IMPORT_BULK_PATH = "auto"
    bulk = _run(data)

    assert bulk.message.endswith("Loaded in bulk: the catalogue was empty.")
    assert _counts(bulk) == _counts(chunked)
    assert bulk.superseded_rows > 0 and bulk.skipped_rows > 0
    assert _snapshot() == expected
    assert (
        list(ImportRowError.objects.filter(job=bulk).order_by("line").values_list("line", "sku", "reason"))
        == expected_errors
    )
    assert bulk.errors == chunked.errors
    _assert_consistent()
    # The catalogue after the swap takes writes as before: ids go on from the sequence.
    created = product_create(sku="AFTER-SWAP", name="x")
    assert created.pk > max(Product.objects.exclude(pk=created.pk).values_list("pk", flat=True))


def test_auto_loads_in_bulk_only_into_an_empty_catalogue_and_the_setting_overrides(settings, monkeypatch):
    phases: list[str] = []
    messages: list[str] = []
    from importer.progress import JobProgressRecorder

    original = JobProgressRecorder._save_phase

    def spy(self, phase, message, progress, **kwargs):
        phases.append(phase)
        messages.append(message)
        return original(self, phase, message, progress, **kwargs)

    monkeypatch.setattr(JobProgressRecorder, "_save_phase", spy)
    data = b"sku,name\nA-1,One\nA-2,Two\n"

    _run(data)
    assert (
        phases[0] == ImportPhase.COUNTING and ImportPhase.LOADING in phases and ImportPhase.INDEXING in phases
    )
    assert phases[-1] == ImportPhase.PUBLISHING
    assert "Loading in bulk: the catalogue is empty." in messages[0]

    phases.clear(), messages.clear()
    job = _run(b"sku,name\nA-1,One again\nA-3,Three\n")
    assert phases[-1] == ImportPhase.IMPORTING
    assert "In chunks: the catalogue already has products." in messages[-1]
    assert (job.created_rows, job.updated_rows) == (1, 1)

    settings.IMPORT_BULK_PATH = "always"
    phases.clear(), messages.clear()
    job = _run(b"sku,name\nA-1,One again\nA-4,Four\n")
    assert ImportPhase.PUBLISHING in phases and "IMPORT_BULK_PATH=always" in messages[0]
    assert (job.created_rows, job.updated_rows, job.unchanged_rows) == (1, 0, 1)
    assert {p.sku: p.name for p in Product.objects.all()} == {
        "A-1": "One again",
        "A-2": "Two",
        "A-3": "Three",
        "A-4": "Four",
    }
    _assert_consistent()

    settings.IMPORT_BULK_PATH = "never"
    _empty_catalogue()
    phases.clear(), messages.clear()
    _run(data)
    assert ImportPhase.LOADING not in phases and "In chunks (IMPORT_BULK_PATH=never)." in messages[-1]


def test_always_over_a_full_catalogue_keeps_ids_created_at_and_is_active_of_existing_products(settings):
    kept = product_create(sku="KEEP", name="Not in the file")
    hidden = product_create(sku="Hidden", name="Old", is_active=False)
    same = product_create(sku="SAME", name="Same", description="d")
    settings.IMPORT_BULK_PATH = "always"
    job = _run(b"sku,name,description\nHIDDEN,New name,\nSAME,Same,d\nNEW,Brand new,\n")

    assert (job.created_rows, job.updated_rows, job.unchanged_rows) == (1, 1, 1)
    hidden_now = Product.objects.get(sku="HIDDEN")
    assert (hidden_now.pk, hidden_now.created_at, hidden_now.is_active) == (
        hidden.pk,
        hidden.created_at,
        False,
    )
    assert hidden_now.updated_at > hidden.updated_at
    assert Product.objects.get(pk=same.pk).updated_at == same.updated_at  # unchanged: not rewritten
    assert Product.objects.get(pk=kept.pk).name == "Not in the file"
    assert Product.objects.get(sku="NEW").is_active
    _assert_consistent()


class _WritesDuringTheLoad(ImportObserver):
    """Makes API writes from another connection while the load runs, and checks what a reader
    sees meanwhile: the catalogue as it was before the import."""

    def __init__(self) -> None:
        self.seen_during_load: list[set[str]] = []
        self.created: dict[str, int] = {}

    def _other(self, work) -> None:
        errors: list[BaseException] = []

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)
            finally:
                connection.close()

        thread = threading.Thread(target=run)
        thread.start()
        thread.join(30)
        if errors:
            raise errors[0]

    def _seen(self) -> set[str]:
        seen: set[str] = set()
        self._other(lambda: seen.update(Product.objects.values_list("sku", flat=True)))
        return seen

    def bulk_loaded(self, progress, errors, *, message, percent) -> None:
        if not self.created:

            def write() -> None:
                self.created["API-ONLY"] = product_create(sku="API-ONLY", name="From the API").pk
                # The file names this SKU too (another case): the file's row wins at the swap.
                self.created["b-0002"] = product_create(sku="b-0002", name="API version", is_active=False).pk

            self._other(write)
        self.seen_during_load.append(self._seen())

    def bulk_phase(self, progress, *, phase, message, percent) -> None:
        if phase == ImportPhase.INDEXING and "edited" not in self.created:

            def edit() -> None:
                product_update(product=Product.objects.get(sku="API-ONLY"), name="Edited while indexing")
                self.created["edited"] = 1

            self._other(edit)
        if phase == ImportPhase.PUBLISHING:
            self.seen_during_load.append(self._seen())


def test_products_written_through_the_api_during_the_load_are_merged_at_the_swap():
    data = ("sku,name\n" + "".join(f"B-{index:04d},File {index}\n" for index in range(2000))).encode()
    import io

    observer = _WritesDuringTheLoad()
    result = bulk_import_csv(file=io.BytesIO(data), size_bytes=len(data), chunk_size=500, observer=observer)

    # Readers saw the catalogue before the import (plus the API's own writes), never a file row.
    assert all(seen <= {"API-ONLY", "b-0002"} for seen in observer.seen_during_load)
    assert len(observer.seen_during_load) >= 4
    progress = result.progress
    assert (progress.created, progress.updated, progress.unchanged) == (1999, 1, 0)
    assert Product.objects.count() == 2001
    api_only = Product.objects.get(sku="API-ONLY")
    assert (api_only.pk, api_only.name) == (observer.created["API-ONLY"], "Edited while indexing")
    overwritten = Product.objects.get(sku__iexact="b-0002")
    # The file's values, the product's id and (no is_active column) its state.
    assert (overwritten.pk, overwritten.sku, overwritten.name, overwritten.is_active) == (
        observer.created["b-0002"],
        "B-0002",
        "File 2",
        False,
    )
    _assert_consistent()


def _shadow_exists(job_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [shadow_table(job_id)])
        return cursor.fetchone()[0]


def test_cancel_while_indexing_stops_the_builds_keeps_the_catalogue_and_drops_the_shadow(settings):
    settings.IMPORT_CHUNK_SIZE = 200
    existing = product_create(sku="BEFORE", name="Before the import")
    settings.IMPORT_BULK_PATH = "always"
    job = create_job(
        ("sku,name\n" + "".join(f"C-{index:05d},N{index}\n" for index in range(20_000))).encode()
    )
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            import_job_run(job_id=job.pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    with other_connection() as other:
        wait_until(lambda: _shadow_exists(job.pk), what="the shadow table", timeout=60, interval=0.01)
        # A lock that the load's COPYs share but an index build waits for: the job stays in
        # Indexing until the test lets go.
        other.execute("BEGIN")
        other.execute(f"LOCK TABLE {shadow_table(job.pk)} IN ROW EXCLUSIVE MODE")
        wait_until(
            lambda: (
                ImportJob.objects.get(pk=job.pk).phase == ImportPhase.INDEXING
                and "indexes built" in ImportJob.objects.get(pk=job.pk).message
            ),
            what="indexing",
            timeout=60,
            interval=0.05,
        )
        import_job_cancel(job=ImportJob.objects.get(pk=job.pk))
        # The builds are cancelled; the worker's DROP of the shadow then waits for the test's lock.
        wait_until(
            lambda: _drop_waiting(other, job.pk),
            what="the worker to drop the shadow",
            timeout=30,
            interval=0.05,
        )
        other.execute("ROLLBACK")
    thread.join(30)
    assert not thread.is_alive() and errors == []
    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    assert job.message == "Cancelled while loading in bulk: nothing was imported, the catalogue is as it was."
    assert list(Product.objects.values_list("pk", "sku")) == [(existing.pk, "BEFORE")]
    assert not _shadow_exists(job.pk)
    _assert_consistent()


def _drop_waiting(other, job_id: int) -> bool:
    row = other.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND mode = 'AccessExclusiveLock' "
        "AND relation = to_regclass(%s)",
        [shadow_table(job_id)],
    ).fetchone()
    return row[0] > 0


def test_a_bulk_load_that_died_is_started_over_with_its_counts_and_errors_once():
    data = b"sku,name\nD-1,One\nD-2,\nD-3,Three\nd-1,One again\n"
    job = create_job(data)
    # What a worker killed while loading leaves: rows read and a row error recorded, no resume
    # point, and a shadow table with rows in it.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.PROCESSING,
        phase=ImportPhase.LOADING,
        processed_rows=4,
        skipped_rows=1,
        stored_errors=1,
        errors=[{"line": 3, "sku": "D-2", "reason": "name is empty"}],
    )
    ImportRowError.objects.create(job=job, line=3, sku="D-2", reason="name is empty")
    with connection.cursor() as cursor:
        create_shadow(
            cursor, shadow=shadow_table(job.pk), shape=read_shape(cursor, shadow=shadow_table(job.pk))
        )
        cursor.execute(f"INSERT INTO {shadow_table(job.pk)} (sku, name) VALUES ('GARBAGE', 'half a load')")

    assert import_jobs_reap() == [job.pk]  # its lock is free: the worker is gone
    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    assert _counts(job) == (4, 2, 0, 0, 1, 1, 1)
    assert ImportRowError.objects.filter(job=job).count() == 1
    assert sorted(Product.objects.values_list("sku", "name")) == [("D-3", "Three"), ("d-1", "One again")]
    _assert_consistent()


def test_the_reaper_drops_shadow_tables_of_jobs_that_no_longer_run():
    finished = create_job(b"sku,name\nE-1,One\n")
    ImportJob.objects.filter(pk=finished.pk).update(status=ImportStatus.CANCELLED)
    queued = create_job(b"sku,name\nE-2,Two\n")
    with connection.cursor() as cursor:
        for job_id in (finished.pk, queued.pk, 999_999):
            create_shadow(
                cursor, shadow=shadow_table(job_id), shape=read_shape(cursor, shadow=shadow_table(job_id))
            )

    import_jobs_reap()

    with connection.cursor() as cursor:
        remaining = {job_id for _name, job_id in shadow_tables(cursor)}
    # The queued job's next run drops its own before it starts over.
    assert remaining == {queued.pk}
    with connection.cursor() as cursor:
        drop_shadow(cursor, shadow=shadow_table(queued.pk))


def test_a_second_import_while_one_loads_in_bulk_goes_in_chunks():
    with other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [BULK_LOAD_LOCK])
        job = _run(b"sku,name\nF-1,One\n")
        other.execute("SELECT pg_advisory_unlock(%s)", [BULK_LOAD_LOCK])
    assert job.created_rows == 1
    assert "bulk" not in job.message.lower()


def test_a_preview_counts_what_the_bulk_import_then_does():
    data = _nasty_file(1500)
    job = create_job(data)
    ImportJob.objects.filter(pk=job.pk).update(preview_only=True)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED
    assert Product.objects.count() == 0
    preview = job.preview

    import_job_confirm(job=job)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED and "Loaded in bulk" in job.message
    assert preview == {
        "create": job.created_rows,
        "update": job.updated_rows,
        "unchanged": job.unchanged_rows,
        "superseded": job.superseded_rows,
        "skipped": job.skipped_rows,
    }


def test_a_run_after_the_swap_committed_only_completes_the_job():
    job = _run(b"sku,name\nG-1,One\nG-2,Two\ng-1,One again\n")
    counts, catalogue = _counts(job), _snapshot()
    # What a worker killed between the swap's commit and the job's completion leaves.
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.PROCESSING, phase=ImportPhase.PUBLISHING, finished_at=None, progress=99
    )

    import_job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert _counts(job) == counts == (3, 2, 0, 0, 1, 0, 0)
    assert _snapshot() == catalogue


def test_undo_after_a_bulk_import_empties_the_catalogue_again():
    from importer.undo import import_job_undo

    data = _nasty_file(2500)
    job = _run(data)
    assert "Loaded in bulk" in job.message and Product.objects.count() == job.created_rows > 0
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(cardinality(ids)), sum(cardinality(ids)) FROM importer_createdproducts "
            "WHERE job_id = %s",
            [job.pk],
        )
        largest, recorded = cursor.fetchone()
    assert recorded == job.created_rows and largest <= 10_000

    undo = import_job_undo(job=job, owner=None)
    import_job_run(job_id=undo.pk)
    undo.refresh_from_db()

    assert undo.status == ImportStatus.COMPLETED, undo.message
    assert undo.deleted_rows == job.created_rows
    assert Product.objects.count() == 0
    _assert_consistent()


def test_undo_after_a_bulk_import_restores_the_products_it_overwrote(settings):
    from importer.undo import import_job_undo

    kept = product_create(sku="H-KEPT", name="Not in the file")
    overwritten = product_create(sku="h-1", name="Before the import", description="old")
    settings.IMPORT_BULK_PATH = "always"
    job = _run(b"sku,name,description\nH-1,From the file,new\nH-2,Created,\n")
    assert (job.created_rows, job.updated_rows) == (1, 1)

    undo = import_job_undo(job=job, owner=None)
    import_job_run(job_id=undo.pk)
    undo.refresh_from_db()

    assert undo.status == ImportStatus.COMPLETED, undo.message
    assert (undo.deleted_rows, undo.restored_rows) == (1, 1)
    assert sorted(Product.objects.values_list("pk", "sku", "name", "description")) == sorted(
        [
            (kept.pk, "H-KEPT", "Not in the file", ""),
            (overwritten.pk, "h-1", "Before the import", "old"),
        ]
    )
    _assert_consistent()


class _Clock(ImportObserver):
    """Records when the load reported anything."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []

    def _note(self, what: str) -> None:
        self.calls.append((time.monotonic(), what))

    def counting(self, progress) -> None:
        self._note("counting")

    def bulk_phase(self, progress, *, phase, message, percent) -> None:
        self._note(phase)

    def bulk_loaded(self, progress, errors, *, message, percent) -> None:
        self._note("loaded")

    def heartbeat(self, progress, *, message) -> None:
        self._note("heartbeat")

    def bulk_published(self, progress) -> None:
        self._note("published")


def test_progress_is_reported_every_second_while_the_swap_waits_for_a_reader():
    import io

    from importer.pipeline.bulk import BulkOptions

    data = ("sku,name\n" + "".join(f"J-{index:05d},N{index}\n" for index in range(3000))).encode()
    clock = _Clock()
    errors: list[BaseException] = []

    def load() -> None:
        try:
            bulk_import_csv(
                file=io.BytesIO(data),
                size_bytes=len(data),
                observer=clock,
                options=BulkOptions(swap_lock_timeout_ms=60_000),
            )
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    with other_connection() as reader:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM catalog_product")  # a long read: the swap waits for it
        thread = threading.Thread(target=load)
        thread.start()
        wait_until(
            lambda: (
                reader.execute(
                    "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'catalog_product'::regclass"
                ).fetchone()[0]
                > 0
            ),
            what="the swap to wait",
            timeout=60,
            interval=0.05,
        )
        time.sleep(3.5)
        # Meanwhile the catalogue is readable and still the old one.
        assert reader.execute("SELECT count(*) FROM catalog_product").fetchone()[0] == 0
        reader.execute("ROLLBACK")
    thread.join(60)
    assert errors == []
    assert [what for _, what in clock.calls].count("heartbeat") >= 3
    gaps = [b - a for (a, _), (b, _) in zip(clock.calls, clock.calls[1:], strict=False)]
    assert max(gaps) < 2.0, clock.calls
    assert Product.objects.count() == 3000
