"""The count blocks stay exact through every write path, and answer counts and deep pages."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from catalog import selectors
from catalog.models import COUNT_BLOCK_SIZE, Product
from catalog.services import product_create, product_delete, product_update, products_delete_all
from tests.support.staging import merge_rows

pytestmark = pytest.mark.django_db


def real_counts() -> tuple[int, int, int]:
    return (
        Product.objects.count(),
        Product.objects.filter(is_active=True).count(),
        Product.objects.filter(is_active=False).count(),
    )


def block_counts() -> tuple[int, int, int]:
    return (
        selectors.product_total(),
        selectors.product_total(is_active=True),
        selectors.product_total(is_active=False),
    )


def test_counts_follow_orm_create_update_and_delete():
    first = product_create(sku="A-1", name="First")
    product_create(sku="A-2", name="Second", is_active=False)
    assert block_counts() == (2, 1, 1)

    product_update(product=first, name="Renamed")
    assert block_counts() == (2, 1, 1)

    product_delete(product=first)
    assert block_counts() == real_counts() == (1, 0, 1)


def test_toggling_is_active_moves_a_product_between_the_counts():
    product = product_create(sku="T-1", name="Toggle")
    product_update(product=product, is_active=False)
    assert block_counts() == (1, 0, 1)
    product_update(product=product, is_active=True)
    assert block_counts() == (1, 1, 0)


def test_counts_follow_a_bulk_update_and_a_bulk_delete():
    Product.objects.bulk_create(Product(sku=f"B-{n}", name=f"Bulk {n}") for n in range(30))
    Product.objects.filter(sku__in=[f"B-{n}" for n in range(12)]).update(is_active=False)
    assert block_counts() == real_counts() == (30, 18, 12)

    Product.objects.filter(is_active=False, sku__endswith="1").delete()
    assert block_counts() == real_counts()

    remaining = real_counts()[0]
    assert products_delete_all() == remaining
    assert block_counts() == (0, 0, 0)


def test_counts_follow_an_import_chunk_that_creates_and_updates():
    product_create(sku="IMP-1", name="Old name", is_active=False)
    with transaction.atomic():
        counts = merge_rows([(2, "imp-1", "New name", ""), (3, "IMP-2", "Two", ""), (4, "Imp-2", "Two again", "")])
    # IMP-2 is written once: its first row is superseded by the later Imp-2 of the same chunk.
    assert (counts.created, counts.updated, counts.superseded) == (1, 1, 1)
    # The import rewrites names but never is_active: the existing product stays inactive.
    assert block_counts() == real_counts() == (2, 1, 1)


def test_truncate_empties_the_counts():
    Product.objects.bulk_create(Product(sku=f"T-{n}", name="x") for n in range(5))
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product")
    assert block_counts() == (0, 0, 0)
    product_create(sku="AFTER", name="After truncate")
    assert block_counts() == (1, 1, 0)


def test_a_rolled_back_write_leaves_the_counts_unchanged():
    product_create(sku="KEEP", name="Kept")
    with pytest.raises(RuntimeError), transaction.atomic():
        product_create(sku="GONE", name="Rolled back")
        assert selectors.product_total() == 2  # the writer sees its own change
        raise RuntimeError("roll back")
    assert block_counts() == (1, 1, 0)


def test_counts_of_products_in_several_id_blocks():
    ids = [1, 2, COUNT_BLOCK_SIZE + 5, 3 * COUNT_BLOCK_SIZE, 3 * COUNT_BLOCK_SIZE + 1]
    Product.objects.bulk_create(Product(id=i, sku=f"S-{i}", name="x", is_active=i % 2 == 0) for i in ids)
    assert block_counts() == real_counts() == (5, 2, 3)


def test_count_of_a_text_filter_is_exact_up_to_the_limit(monkeypatch):
    Product.objects.bulk_create(Product(sku=f"CNT-{n}", name="x") for n in range(8))
    Product.objects.bulk_create(Product(sku=f"OTHER-{n}", name="y") for n in range(3))
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 8)
    assert selectors.product_count(products=Product.objects.filter(sku__icontains="cnt")) == selectors.ProductCount(8)


def test_count_of_a_text_filter_past_the_limit_is_an_estimate_never_below_it(monkeypatch):
    Product.objects.bulk_create(Product(sku=f"CNT-{n}", name="x") for n in range(8))
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 5)
    count = selectors.product_count(products=Product.objects.filter(sku__icontains="cnt"))
    assert not count.exact
    assert count.value >= 6


def test_count_of_the_whole_catalogue_or_one_side_comes_from_the_blocks():
    Product.objects.bulk_create(Product(sku=f"C-{n}", name="x", is_active=n % 3 != 0) for n in range(9))
    with connection.cursor() as cursor:
        # A stale block would show up here: the selector must read the blocks, not count rows.
        cursor.execute("UPDATE catalog_productcountblock SET products = products + 100 WHERE is_active")
    assert selectors.product_count(products=Product.objects.all()).value == 109
    assert selectors.product_count(products=Product.objects.filter(is_active=True)).value == 106
    assert selectors.product_count(products=Product.objects.filter(is_active=False)).value == 3
    # Any other condition is counted by PostgreSQL.
    assert selectors.product_count(products=Product.objects.filter(is_active=True, name="x")).value == 6
    assert selectors.product_count(products=Product.objects.exclude(is_active=True)).value == 3


@pytest.mark.parametrize("ordering", ["id", "-id"])
@pytest.mark.parametrize("is_active", [None, True, False])
def test_pages_found_through_the_blocks_equal_offset_pages(monkeypatch, ordering, is_active):
    ids = (
        list(range(1, 24))
        + list(range(COUNT_BLOCK_SIZE + 1, COUNT_BLOCK_SIZE + 31))
        + list(range(3 * COUNT_BLOCK_SIZE + 7, 3 * COUNT_BLOCK_SIZE + 27))
    )
    Product.objects.bulk_create(Product(id=i, sku=f"P-{i}", name="x", is_active=i % 4 != 1) for i in ids)
    products = Product.objects.order_by(ordering)
    if is_active is not None:
        products = products.filter(is_active=is_active)
    expected = list(products.values_list("id", flat=True))
    # Seek through the blocks from the first page on, not only past one block's worth of rows.
    monkeypatch.setattr(selectors, "OFFSET_IS_CHEAP_BELOW", 0)
    for start in range(0, len(expected) + 7, 7):
        page = selectors.product_page(products=products, start=start, stop=start + 7)
        assert [p.id for p in page] == expected[start : start + 7], f"page from {start}"
