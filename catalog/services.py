"""Writes to the product catalogue.

The unique index on ``lower(sku)`` is what keeps SKUs unique in any letter case; these services
turn its violation into a validation error on ``sku``, so a race between two requests (or a
request and an import) that slips past a serializer's check still answers 400, not 500.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from catalog import signals
from catalog.models import Product

SKU_CONSTRAINT = "catalog_product_sku_ci_unique"


def duplicate_sku_message(sku: str) -> str:
    """The one wording of a duplicate-SKU error, shared by validation and the services."""
    return f"A product with SKU '{sku}' already exists (SKUs ignore letter case)."


def _is_duplicate_sku(exc: IntegrityError) -> bool:
    diag = getattr(exc.__cause__, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    return constraint == SKU_CONSTRAINT or SKU_CONSTRAINT in str(exc)


def _save(product: Product) -> Product:
    try:
        # A savepoint, so the caller's transaction survives a duplicate and can answer 400.
        with transaction.atomic():
            product.save()
    except IntegrityError as exc:
        if _is_duplicate_sku(exc):
            raise ValidationError({"sku": [duplicate_sku_message(product.sku)]}) from exc
        raise
    return product


def _send_on_commit(signal, **kwargs) -> None:
    # After commit, so listeners (webhooks) never hear of a change that was rolled back.
    transaction.on_commit(lambda: signal.send(sender=Product, **kwargs))


def product_create(*, sku: str, name: str, description: str = "", is_active: bool = True) -> Product:
    """Add a product; raise ValidationError on ``sku`` if the SKU exists in any letter case."""
    product = _save(Product(sku=sku, name=name, description=description, is_active=is_active))
    _send_on_commit(signals.product_created, product=product)
    return product


def product_update(
    *,
    product: Product,
    sku: str | None = None,
    name: str | None = None,
    description: str | None = None,
    is_active: bool | None = None,
) -> Product:
    """Change the given fields of ``product`` (None leaves a field as it is)."""
    changes = {"sku": sku, "name": name, "description": description, "is_active": is_active}
    for field, value in changes.items():
        if value is not None:
            setattr(product, field, value)
    _save(product)
    _send_on_commit(signals.product_updated, product=product)
    return product


def product_delete(*, product: Product) -> None:
    """Remove one product."""
    product_id, sku = product.pk, product.sku
    product.delete()
    _send_on_commit(signals.product_deleted, product_id=product_id, sku=sku)


def products_delete_all() -> int:
    """Delete every product and return how many there were.

    Callers that must not interleave with imports hold the catalogue write lock around this
    (see ``importer.bulk_delete.products_bulk_delete``).
    """
    deleted, _ = Product.objects.all().delete()
    _send_on_commit(signals.catalogue_cleared, deleted=deleted)
    return deleted
