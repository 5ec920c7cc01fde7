"""Preview: a run that compares the file with the catalogue, writes no product, and counts exactly
what the confirmed import then does."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile
from django.db import connection

from catalog.models import Product
from importer.models import ImportJob, ImportRowError
from importer.services import import_job_cancel, import_job_confirm, import_job_create, import_job_run
from importer.states import ImportStatus, InvalidTransition

pytestmark = pytest.mark.django_db

COUNTS = ("create", "update", "unchanged", "superseded", "skipped")


def preview_job(data: bytes, **kwargs) -> ImportJob:
    return import_job_create(
        owner=None, file=ContentFile(data), filename="p.csv", enqueue=False, preview=True, **kwargs
    )


def table() -> list[tuple]:
    """Every product row, every column: what "no product written" is checked against."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_product ORDER BY id")
        return cursor.fetchall()


def seed() -> None:
    Product.objects.create(sku="KEEP", name="Kept", description="same")
    Product.objects.create(sku="old-1", name="Old name", description="d")
    Product.objects.create(sku="OFF", name="Off", description="", is_active=False)


# Repeated SKUs in other letter cases (the last row wins), an unchanged row, a changed one, a
# row error, a new product, and a case-only change of a stored SKU.
FILE = (
    b"sku,name,description\n"
    b"KEEP,Kept,same\n"
    b"OLD-1,First try,d\n"
    b"new-1,New,\n"
    b",No SKU,\n"
    b"old-1,Old name,d\n"
    b"New-1,Newer,x\n"
    b"off,Off,\n"
)


@pytest.mark.parametrize("chunk_size", [2, 50_000])
def test_a_preview_writes_no_product_and_its_counts_equal_the_confirmed_import(settings, chunk_size):
    settings.IMPORT_CHUNK_SIZE = chunk_size
    seed()
    before = table()
    job = preview_job(FILE)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED, job.message
    assert table() == before
    assert job.preview == {"create": 1, "update": 1, "unchanged": 2, "superseded": 2, "skipped": 1}
    assert "Nothing has been changed yet" in job.message
    assert ImportRowError.objects.filter(job=job).count() == 1
    by_sku = {change["sku"]: change for change in job.changes}
    assert set(by_sku) == {"New-1", "off"}
    assert by_sku["New-1"] == {
        "line": 7, "sku": "New-1", "action": "create", "current": None,
        "new": {"sku": "New-1", "name": "Newer", "description": "x", "is_active": True},
    }
    # A stored SKU spelt in another case is an update (the import rewrites the spelling); the
    # file has no is_active column, so the product keeps its state.
    assert by_sku["off"]["current"] == {"sku": "OFF", "name": "Off", "description": "", "is_active": False}
    assert by_sku["off"]["new"]["is_active"] is False

    confirmed = import_job_confirm(job=job)
    assert confirmed.status == ImportStatus.PENDING and not confirmed.preview_only
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    did = {"create": job.created_rows, "update": job.updated_rows, "unchanged": job.unchanged_rows,
           "superseded": job.superseded_rows, "skipped": job.skipped_rows}
    assert did == job.preview
    assert ImportRowError.objects.filter(job=job).count() == 1
    assert {p.sku: (p.name, p.description, p.is_active) for p in Product.objects.all()} == {
        "KEEP": ("Kept", "same", True), "old-1": ("Old name", "d", True), "off": ("Off", "", False),
        "New-1": ("Newer", "x", True),
    }


def test_a_preview_with_an_is_active_column_compares_the_state_too():
    seed()
    job = preview_job(b"sku,name,description,is_active\nKEEP,Kept,same,no\nOFF,Off,,false\n")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.preview == {"create": 0, "update": 1, "unchanged": 1, "superseded": 0, "skipped": 0}
    assert job.changes[0]["new"]["is_active"] is False and job.changes[0]["current"]["is_active"] is True


def test_confirming_after_the_catalogue_changed_imports_into_the_catalogue_as_it_is_then():
    seed()
    job = preview_job(b"sku,name,description\nKEEP,Kept,same\nNEW,New,\n")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.preview["create"] == 1 and job.preview["unchanged"] == 1
    # Meanwhile someone renames KEEP and creates NEW by hand.
    Product.objects.filter(sku="KEEP").update(name="Renamed")
    Product.objects.create(sku="new", name="Made by hand")
    import_job_confirm(job=job)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert (job.created_rows, job.updated_rows, job.unchanged_rows) == (0, 2, 0)
    assert Product.objects.get(sku="KEEP").name == "Kept"
    assert Product.objects.get(sku__iexact="new").name == "New"
    # What the preview said stays on the job for comparison.
    assert job.preview["create"] == 1


def test_cancelling_a_previewed_job_discards_it_and_it_cannot_be_confirmed():
    seed()
    before = table()
    job = preview_job(FILE)
    import_job_run(job_id=job.pk)
    job = import_job_cancel(job=ImportJob.objects.get(pk=job.pk))
    assert job.status == ImportStatus.CANCELLED
    assert job.message == "Preview discarded; nothing was imported."
    with pytest.raises(InvalidTransition, match="only a previewed import can be confirmed"):
        import_job_confirm(job=job)
    assert table() == before


def test_only_a_previewed_job_can_be_confirmed():
    job = import_job_create(owner=None, file=ContentFile(b"sku,name\nA,B\n"), filename="p.csv", enqueue=False)
    with pytest.raises(InvalidTransition):
        import_job_confirm(job=job)


def test_the_sample_of_changes_is_at_most_fifty_rows_and_cuts_long_texts():
    rows = b"".join(b"S%d,Name %d,%s\n" % (i, i, b"x" * 1000) for i in range(120))
    job = preview_job(b"sku,name,description\n" + rows)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.preview["create"] == 120
    assert len(job.changes) == 50
    assert [c["line"] for c in job.changes] == list(range(2, 52))
    assert len(job.changes[0]["new"]["description"]) == 300
    assert Product.objects.count() == 0


def test_a_preview_resumes_after_its_last_committed_chunk_with_the_same_counts(settings, monkeypatch):
    """A worker killed mid-preview: the reaper hands the job back (processing -> pending) and the
    next run resumes from the job's resume point; the counts come out as in one run."""
    from importer.progress import JobProgressRecorder
    from importer.states import transition

    settings.IMPORT_CHUNK_SIZE = 2
    seed()
    before = table()
    job = preview_job(FILE)

    class WorkerKilled(Exception):
        pass

    committed = JobProgressRecorder.chunk_committed
    calls = []

    def die_after_the_second_chunk(self, progress):
        calls.append(progress.processed_rows)
        if len(calls) == 2:
            raise WorkerKilled
        return committed(self, progress)

    monkeypatch.setattr(JobProgressRecorder, "chunk_committed", die_after_the_second_chunk)
    with pytest.raises(WorkerKilled):
        import_job_run(job_id=job.pk)
    monkeypatch.setattr(JobProgressRecorder, "chunk_committed", committed)
    job.refresh_from_db()
    assert job.status == ImportStatus.PROCESSING and job.processed_rows == 4
    transition(job, expected=(ImportStatus.PROCESSING,), target=ImportStatus.PENDING)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.PREVIEWED
    assert job.preview == {"create": 1, "update": 1, "unchanged": 2, "superseded": 2, "skipped": 1}
    assert {c["sku"] for c in job.changes} == {"New-1", "off"}
    assert table() == before
