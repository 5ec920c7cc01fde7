"""POST /api/products/bulk-delete/: staff only, explicit confirmation, never during an import."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction

from catalog.models import Product
from importer.locks import lock_catalog_for_write
from importer.models import ImportJob
from importer.states import ImportStatus

URL = "/api/products/bulk-delete/"


def make_products(count: int) -> None:
    Product.objects.bulk_create(Product(sku=f"D-{i}", name="x") for i in range(count))


@pytest.mark.django_db
def test_staff_with_confirmation_deletes_every_product(staff_client):
    make_products(12)
    response = staff_client.post(URL, {"confirm": True})
    assert response.status_code == 200
    assert response.data == {"deleted": 12}
    assert not Product.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{}, {"confirm": False}, {"confirm": "no"}])
def test_without_confirmation_is_400_and_deletes_nothing(staff_client, body):
    make_products(3)
    response = staff_client.post(URL, body)
    assert response.status_code == 400
    assert "confirm" in response.data["errors"]
    assert Product.objects.count() == 3


@pytest.mark.django_db
def test_non_staff_is_403_even_with_confirmation(alice_client):
    make_products(3)
    response = alice_client.post(URL, {"confirm": True})
    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert Product.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ImportStatus.PENDING, ImportStatus.PROCESSING])
def test_pending_or_running_import_makes_it_409_naming_the_import(staff_client, user, status):
    make_products(3)
    job = ImportJob.objects.create(owner=user, filename="big.csv", status=status)
    response = staff_client.post(URL, {"confirm": True})
    assert response.status_code == 409
    assert response.data["code"] == "import_running"
    assert f"Import #{job.pk} (big.csv) is {status}" in response.data["detail"]
    assert Product.objects.count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize("status", [ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.CANCELLED])
def test_finished_imports_do_not_block_it(staff_client, user, status):
    make_products(2)
    ImportJob.objects.create(owner=user, filename="old.csv", status=status)
    assert staff_client.post(URL, {"confirm": True}).data == {"deleted": 2}


@pytest.mark.django_db(transaction=True)
def test_delete_waits_for_a_chunk_holding_the_catalogue_lock(staff_client):
    """A chunk being written holds the catalogue write lock; the delete waits until it commits."""
    make_products(2)
    locked, release = threading.Event(), threading.Event()

    def chunk_in_flight() -> None:
        try:
            with transaction.atomic():
                lock_catalog_for_write()
                Product.objects.create(sku="FROM-CHUNK", name="x")
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=chunk_in_flight)
    writer.start()
    assert locked.wait(10)
    result: dict = {}
    deleter = threading.Thread(
        target=lambda: (result.update(response=staff_client.post(URL, {"confirm": True})),
                        connections.close_all())
    )
    deleter.start()
    deleter.join(0.5)
    assert deleter.is_alive(), "the delete should wait for the chunk's lock"
    release.set()
    writer.join(10)
    deleter.join(10)
    # The chunk's row committed first, so the delete saw (and removed) it as well.
    assert result["response"].data == {"deleted": 3}
    assert not Product.objects.exists()
    connection.close()
