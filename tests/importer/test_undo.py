"""Undo: an import taken back through the services the API and the worker call, on committed data
(each chunk is its own transaction, as in production, so every write has its own time)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from catalog.models import Product
from importer.bulk_delete import products_bulk_delete
from importer.models import CreatedProducts, ImportJob, ProductBeforeImage
from importer.serializers import import_job_payload
from importer.services import import_job_cancel, import_job_create, import_job_run
from importer.states import ImportStatus, JobKind
from importer.tasks import expire_undo_data
from importer.undo import UndoInvalid, UndoRefused, import_job_undo

pytestmark = pytest.mark.django_db(transaction=True)


def table() -> list[tuple]:
    """Every product row, every column (ids, timestamps and is_active included)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_product ORDER BY id")
        return cursor.fetchall()


def counts() -> list[tuple]:
    """The trigger-kept product counts, which an undo must keep exact too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT block, is_active, products FROM catalog_productcountblock "
                       "WHERE products <> 0 ORDER BY 1, 2")
        return cursor.fetchall()


def run_import(data: bytes, *, owner=None) -> ImportJob:
    job = import_job_create(owner=owner, file=ContentFile(data), filename="p.csv", enqueue=False)
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED, job.message
    return job


def run_undo(job: ImportJob, *, owner=None, force: bool = False) -> ImportJob:
    undo = import_job_undo(job=job, owner=owner, force=force)
    import_job_run(job_id=undo.pk)
    undo.refresh_from_db()
    return undo


def seed() -> None:
    Product.objects.create(sku="KEEP", name="Kept", description="same")
    Product.objects.create(sku="old-1", name="Old name", description="d")
    Product.objects.create(sku="OFF", name="Off", description="", is_active=False)
    Product.objects.create(sku="on", name="On", description="x")
    Product.objects.create(sku="Case", name="Case", description="")


# Creates, updates (values, is_active both ways, a case-only SKU change), an unchanged row, a row
# error, and SKUs repeated in other letter cases (held back to the end of the file: the deferred
# merge records undo data too).
FILE = (
    b"sku,name,description,is_active\n"
    b"KEEP,Kept,same,true\n"
    b"OLD-1,First try,d,true\n"
    b"new-1,New,,true\n"
    b",No SKU,,true\n"
    b"old-1,Newer name,d2,yes\n"
    b"New-1,Newer,x,false\n"
    b"off,Off,,true\n"
    b"ON,On,x,no\n"
    b"CASE,Case,,true\n"
    b"new-2,Second,,true\n"
)


@pytest.mark.parametrize("chunk_size", [2, 50_000])
def test_undo_after_an_import_that_created_and_updated_restores_every_row_exactly(settings, user, chunk_size):
    settings.IMPORT_CHUNK_SIZE = chunk_size
    seed()
    before, before_counts = table(), counts()
    job = run_import(FILE, owner=user)
    assert (job.created_rows, job.updated_rows, job.unchanged_rows) == (2, 4, 1)
    assert table() != before
    payload = import_job_payload(job)
    assert payload["undo"]["available"] is True
    assert (payload["undo"]["deletes"], payload["undo"]["restores"]) == (2, 4)

    undo = run_undo(job, owner=user)

    assert undo.status == ImportStatus.COMPLETED, undo.message
    assert (undo.kind, undo.undoes_id) == (JobKind.UNDO, job.pk)
    assert (undo.deleted_rows, undo.restored_rows, undo.conflict_rows) == (2, 4, 0)
    assert (undo.processed_rows, undo.total_rows, undo.progress) == (6, 6, 100)
    assert table() == before
    assert counts() == before_counts
    job.refresh_from_db()
    assert (job.undone_by_id, job.undone_at is not None) == (undo.pk, True)
    payload = import_job_payload(job)
    assert payload["undone_by"] == undo.pk and payload["undone_by_user"] == user.username
    assert payload["undo"]["available"] is False


def test_an_import_into_an_empty_catalogue_is_undone_to_an_empty_catalogue(settings):
    settings.IMPORT_CHUNK_SIZE = 3
    rows = b"".join(b"sku-%d,Name %d,\n" % (i, i) for i in range(20))
    job = run_import(b"sku,name,description\n" + rows + b"SKU-3,Last wins,\n")
    assert job.created_rows == 20
    assert CreatedProducts.objects.filter(job=job).count() > 1  # one array per chunk
    assert not ProductBeforeImage.objects.filter(job=job).exists()

    undo = run_undo(job)

    assert (undo.deleted_rows, undo.restored_rows) == (20, 0)
    assert not Product.objects.exists()
    assert counts() == []


def test_a_product_changed_since_the_import_is_left_alone_and_reported_then_forced():
    seed()
    before = {row[0]: row for row in table()}
    job = run_import(FILE)
    by_hand = Product.objects.get(sku__iexact="old-1")
    by_hand.name = "Edited by hand"
    by_hand.save()
    created_then_edited = Product.objects.get(sku="new-2")
    created_then_edited.description = "kept by the user"
    created_then_edited.save()
    Product.objects.filter(sku__iexact="case").delete()  # an updated product deleted since
    later = run_import(b"sku,name,description\nON,On by a later import,x\n")
    assert later.updated_rows == 1

    undo = run_undo(job)

    assert undo.status == ImportStatus.COMPLETED
    assert (undo.deleted_rows, undo.restored_rows, undo.conflict_rows) == (1, 1, 4)
    sample = {entry["sku"]: entry for entry in undo.conflict_sample}
    assert sample["old-1"]["current"]["name"] == "Edited by hand"
    assert sample["old-1"]["would_restore"]["name"] == "Old name"
    assert sample["Case"]["current"] is None  # deleted since; would be re-created
    assert sample["new-2"]["action"] == "delete" and sample["new-2"]["would_restore"] is None
    assert Product.objects.get(pk=by_hand.pk).name == "Edited by hand"
    assert Product.objects.get(sku="new-2").description == "kept by the user"
    assert Product.objects.get(sku="ON").name == "On by a later import"
    assert not Product.objects.filter(sku__iexact="new-1").exists()
    assert Product.objects.get(sku="OFF").is_active is False  # restored: untouched since
    assert "4" in undo.message and "force" in undo.message

    # Undoing again without force is refused; the import's JSON offers the forced undo.
    with pytest.raises(UndoRefused, match="already undone.*with force"):
        import_job_undo(job=job, owner=None)
    job.refresh_from_db()
    assert import_job_payload(job)["undo"]["force_available"] is True

    forced = run_undo(job, force=True)

    assert (forced.deleted_rows, forced.restored_rows) == (1, 3)
    assert (forced.forced_rows, forced.conflict_rows) == (4, 0)
    assert {row[0]: row for row in table()} == before
    job.refresh_from_db()
    assert job.undone_by_id == forced.pk
    with pytest.raises(UndoRefused, match="already undone"):
        import_job_undo(job=job, owner=None, force=True)


def test_undoing_twice_or_while_an_undo_runs_is_refused():
    job = run_import(b"sku,name\na,A\n")
    first = import_job_undo(job=job, owner=None)
    with pytest.raises(UndoRefused, match=f"being undone \\(undo #{first.pk}\\)"):
        import_job_undo(job=job, owner=None)
    import_job_run(job_id=first.pk)
    with pytest.raises(UndoRefused, match="already undone"):
        import_job_undo(job=job, owner=None)
    with pytest.raises(UndoInvalid, match="An undo cannot be undone"):
        import_job_undo(job=first, owner=None)


def test_only_a_completed_import_that_changed_something_can_be_undone():
    preview = import_job_create(owner=None, file=ContentFile(b"sku,name\na,A\n"), filename="p.csv",
                                enqueue=False, preview=True)
    import_job_run(job_id=preview.pk)
    with pytest.raises(UndoInvalid, match="preview"):
        import_job_undo(job=preview, owner=None)
    pending = import_job_create(owner=None, file=ContentFile(b"sku,name\na,A\n"), filename="p.csv",
                                enqueue=False)
    with pytest.raises(UndoRefused, match="this one is pending"):
        import_job_undo(job=pending, owner=None)
    failed = import_job_create(owner=None, file=ContentFile(b"not a csv\x00"), filename="p.csv",
                               enqueue=False)
    import_job_run(job_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == ImportStatus.FAILED
    with pytest.raises(UndoRefused, match="this one is failed"):
        import_job_undo(job=failed, owner=None)


def test_a_cancelled_undo_releases_the_import_and_a_second_undo_finishes_the_work(settings):
    settings.IMPORT_CHUNK_SIZE = 2
    seed()
    before = table()
    job = run_import(FILE)
    undo = import_job_undo(job=job, owner=None)
    cancelled = import_job_cancel(job=undo)
    assert cancelled.status == ImportStatus.CANCELLED
    assert "can be undone again" in cancelled.message
    job.refresh_from_db()
    assert job.undone_by_id is None
    assert import_job_payload(job)["undo"]["available"] is True

    again = run_undo(job)
    assert (again.status, again.conflict_rows) == (ImportStatus.COMPLETED, 0)
    assert table() == before


def test_undo_data_expires_by_the_beat_task_after_import_undo_days(settings):
    settings.IMPORT_UNDO_DAYS = 7
    seed()
    old = run_import(b"sku,name\nKEEP,Changed\nfresh,Fresh\n")
    recent = run_import(b"sku,name\nold-1,Changed too\nnewer,Newer\n")
    ImportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=8))
    old.refresh_from_db()
    assert import_job_payload(old)["undo"]["available"] is False  # past the deadline at once

    assert expire_undo_data() == 1

    assert not ProductBeforeImage.objects.filter(job=old).exists()
    assert not CreatedProducts.objects.filter(job=old).exists()
    assert ProductBeforeImage.objects.filter(job=recent).count() == 1
    assert CreatedProducts.objects.filter(job=recent).count() == 1
    old.refresh_from_db()
    assert old.undo_discarded_at is not None
    with pytest.raises(UndoRefused, match="no longer be undone.*IMPORT_UNDO_DAYS"):
        import_job_undo(job=old, owner=None)
    assert import_job_payload(recent)["undo"]["available"] is True


def test_undo_data_of_an_undone_or_failed_import_goes_at_the_next_beat_run():
    job = run_import(b"sku,name\na,A\n")
    run_undo(job)
    assert expire_undo_data() == 1
    assert not CreatedProducts.objects.exists()


def test_delete_all_removes_the_undo_data_and_says_the_import_can_no_longer_be_undone():
    seed()
    job = run_import(FILE)
    products_bulk_delete()
    assert not ProductBeforeImage.objects.exists() and not CreatedProducts.objects.exists()
    job.refresh_from_db()
    undo = import_job_payload(job)["undo"]
    assert undo["available"] is False and "every product was deleted" in undo["reason"]
    with pytest.raises(UndoRefused, match="every product was deleted"):
        import_job_undo(job=job, owner=None)


def test_an_import_writes_no_undo_data_for_rows_it_leaves_unchanged():
    seed()
    run_import(b"sku,name,description\nKEEP,Kept,same\n")
    assert not ProductBeforeImage.objects.exists()
    assert not CreatedProducts.objects.exists()
