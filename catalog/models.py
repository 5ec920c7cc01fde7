"""The product catalogue."""

from django.db import models
from django.db.models.functions import Lower, Now

SKU_MAX_LENGTH = 255
NAME_MAX_LENGTH = 255


class Product(models.Model):
    """A product of the shop's catalogue, identified by its SKU in any letter case.

    The unique index on ``lower(sku)`` is the one place where case-insensitive uniqueness is
    enforced: the importer's ``ON CONFLICT`` targets it, and every ORM write path meets it too.
    ``sku`` keeps the spelling of the row that last wrote the product.
    """

    sku = models.CharField(max_length=SKU_MAX_LENGTH)
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(blank=True, default="", db_default="")
    is_active = models.BooleanField(default=True, db_default=True)
    # db_default as well as auto_now*: the importer writes rows with set-based SQL, not the ORM.
    created_at = models.DateTimeField(auto_now_add=True, db_default=Now())
    updated_at = models.DateTimeField(auto_now=True, db_default=Now())

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                Lower("sku"),
                name="catalog_product_sku_ci_unique",
                violation_error_message="A product with this SKU already exists (SKUs ignore letter case).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"
