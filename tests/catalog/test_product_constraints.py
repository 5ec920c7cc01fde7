"""The catalogue's invariants, enforced by the database for every write path."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog.models import Product

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("first", "second"), [("ABC-1", "abc-1"), ("Straße-É", "straße-é"), ("\u212a-1", "k-1")]
)
def test_orm_cannot_create_two_products_whose_skus_differ_only_in_case(first, second):
    Product.objects.create(sku=first, name="First")
    with pytest.raises(IntegrityError), transaction.atomic():
        Product.objects.create(sku=second, name="Second")
    assert Product.objects.count() == 1


def test_orm_cannot_rename_a_sku_onto_another_in_a_different_case():
    Product.objects.create(sku="ABC-1", name="First")
    other = Product.objects.create(sku="XYZ-2", name="Second")
    other.sku = "Abc-1"
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


def test_model_validation_reports_a_case_insensitive_duplicate_sku():
    Product.objects.create(sku="ABC-1", name="First")
    with pytest.raises(ValidationError, match="SKUs ignore letter case"):
        Product(sku="abc-1", name="Second").full_clean()


def test_stored_sku_keeps_its_spelling():
    Product.objects.create(sku="AbC-1é", name="Mixed")
    assert Product.objects.get().sku == "AbC-1é"


def test_new_product_is_active_with_an_empty_description_by_default():
    product = Product.objects.create(sku="A1", name="Bolt")
    product.refresh_from_db()
    assert product.is_active is True
    assert product.description == ""
