"""Reads of the product catalogue."""

from __future__ import annotations

from django.db.models import QuerySet, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from catalog.models import Product


def product_list() -> QuerySet[Product]:
    """Every product, in id order; the API narrows, orders and pages it.

    Products have no relations, so a page is one simple query plus its count.
    """
    return Product.objects.all()


def product_sku_taken(*, sku: str, exclude_id: int | None = None) -> bool:
    """Whether another product already has ``sku`` in any letter case.

    Compares ``lower(sku)`` with PostgreSQL's own ``lower()``, the very expression of the unique
    index, so the answer agrees with the index and the lookup can use it.
    """
    products = Product.objects.filter(Exact(Lower("sku"), Lower(Value(sku))))
    if exclude_id is not None:
        products = products.exclude(pk=exclude_id)
    return products.exists()
