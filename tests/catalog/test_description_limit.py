"""One description limit, PRODUCT_DESCRIPTION_MAX_LENGTH (20,000 by default), held in three places.

- The API answers 400 with the field's error on create and edit (``tests/api`` clients).
- The import skips the row with a row error that gives the limit and the length.
- The database refuses a longer one with its check constraint, whatever writes it (raw SQL here),
  and ``migrate`` keeps the constraint's bound in step with the setting — never below the longest
  description already stored, so no existing row can make a later UPDATE fail.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from catalog.constraints import current_description_bound, sync_description_limit
from catalog.models import Product
from importer import services
from importer.models import ImportJob, ImportRowError
from tests.support.clients import token_client
from tests.support.database import test_database_url
from tests.support.jobs import create_job

pytestmark = pytest.mark.django_db

LIMIT = 20_000


@pytest.fixture
def alice(user) -> APIClient:
    return token_client(user)


def test_the_default_limit_is_twenty_thousand_characters_and_the_database_holds_it():
    assert settings.PRODUCT_DESCRIPTION_MAX_LENGTH == LIMIT
    # The test database was built by `migrate`, which created the constraint from the setting.
    assert current_description_bound() == LIMIT


def test_the_api_refuses_a_longer_description_with_the_fields_error(alice):
    created = alice.post(
        "/api/products/", {"sku": "D-1", "name": "Desk", "description": "x" * LIMIT}, format="json"
    )
    assert created.status_code == 201, created.content

    too_long = alice.post(
        "/api/products/", {"sku": "D-2", "name": "Desk", "description": "é" * (LIMIT + 1)}, format="json"
    )
    assert too_long.status_code == 400
    assert too_long.json()["errors"]["description"] == [
        "Ensure this field has no more than 20,000 characters (it has 20,001)."
    ]
    edited = alice.patch(
        f"/api/products/{created.json()['id']}/", {"description": "y" * (LIMIT + 5)}, format="json"
    )
    assert edited.status_code == 400
    assert "20,000 characters" in edited.json()["errors"]["description"][0]
    assert Product.objects.get(sku="D-1").description == "x" * LIMIT
    assert not Product.objects.filter(sku="D-2").exists()


def test_the_api_follows_a_changed_setting(alice, settings):
    settings.PRODUCT_DESCRIPTION_MAX_LENGTH = 10
    refused = alice.post(
        "/api/products/", {"sku": "D-3", "name": "Desk", "description": "x" * 11}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["errors"]["description"] == [
        "Ensure this field has no more than 10 characters (it has 11)."
    ]


def test_an_import_skips_a_row_whose_description_is_too_long_and_keeps_the_others():
    data = (
        "sku,name,description\n"
        f"OK-1,Fits,{'a' * LIMIT}\n"
        f"LONG-1,Too long,{'b' * (LIMIT + 1)}\n"
        "OK-2,Short,fine\n"
    ).encode()
    job = create_job(data)

    services.import_job_run(job_id=job.pk)

    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.created_rows, job.skipped_rows) == ("completed", 2, 1)
    error = ImportRowError.objects.get(job=job)
    assert (error.line, error.sku) == (3, "LONG-1")
    assert error.reason == "description is longer than 20,000 characters (20,001)"
    assert set(Product.objects.values_list("sku", flat=True)) == {"OK-1", "OK-2"}


def test_the_database_refuses_a_longer_description_from_any_writer():
    with pytest.raises(IntegrityError, match="catalog_product_description_length"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO catalog_product (sku, name, description) VALUES ('RAW-1', 'Raw', %s)",
                ["z" * (LIMIT + 1)],
            )
    assert not Product.objects.filter(sku="RAW-1").exists()


def test_a_changed_setting_moves_the_constraint(settings):
    settings.PRODUCT_DESCRIPTION_MAX_LENGTH = 30_000
    raised = sync_description_limit()
    assert (raised.previous, raised.bound, raised.changed) == (LIMIT, 30_000, True)
    assert current_description_bound() == 30_000
    Product.objects.create(sku="L-1", name="Long", description="q" * 25_000)

    settings.PRODUCT_DESCRIPTION_MAX_LENGTH = LIMIT
    lowered = sync_description_limit()
    assert (lowered.previous, lowered.bound, lowered.longer) == (30_000, 25_000, 1)


def test_lowering_below_stored_data_keeps_the_longest_and_says_how_many(settings):
    Product.objects.create(sku="L-2", name="Long", description="q" * 500)
    Product.objects.create(sku="L-3", name="Long", description="q" * 300)
    Product.objects.create(sku="S-1", name="Short", description="q" * 10)

    settings.PRODUCT_DESCRIPTION_MAX_LENGTH = 100
    lowered = sync_description_limit()

    assert (lowered.wanted, lowered.bound, lowered.longer) == (100, 500, 2)
    assert current_description_bound() == 500
    # The long rows stay writable (a toggle rewrites the whole row): no check violation, no 500.
    product = Product.objects.get(sku="L-2")
    product.is_active = False
    product.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku="L-4", name="Longer", description="q" * 501)


def migrate(*, url: str, description_limit: int) -> str:
    """Run `manage.py migrate` in a process of its own; return what it printed."""
    env = {**os.environ, "DATABASE_URL": url, "PRODUCT_DESCRIPTION_MAX_LENGTH": str(description_limit)}
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.django_db(transaction=True)
def test_migrate_reports_products_longer_than_a_lowered_limit():
    """`migrate` itself runs the sync (post_migrate) and says what it did, in a real process."""
    # A committed row is needed for the subprocess to see: use a separate connection and clean up.
    url = test_database_url()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO catalog_product (sku, name, description) VALUES ('MIG-1', 'M', %s)", ["m" * 40]
        )
        try:
            printed = migrate(url=url, description_limit=25)
            assert "held to 40 characters" in printed
            assert "1 product has a description longer than PRODUCT_DESCRIPTION_MAX_LENGTH (25)" in printed
        finally:
            conn.execute("DELETE FROM catalog_product WHERE sku = 'MIG-1'")
            migrate(url=url, description_limit=LIMIT)
    assert current_description_bound() == LIMIT
