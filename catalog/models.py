"""The product catalogue."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Now

SKU_MAX_LENGTH = 255
NAME_MAX_LENGTH = 255


def description_max_length() -> int:
    """The longest description allowed, in characters (a setting; see catalog/constraints.py)."""
    return settings.PRODUCT_DESCRIPTION_MAX_LENGTH


# Products are counted per block of this many consecutive ids (see ProductCountBlock).
COUNT_BLOCK_SIZE = 10_000


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
        indexes = [
            # The SKU substring filter has a trigram index where PostgreSQL has pg_trgm (migration
            # 0003, not declared here because it is conditional); it costs imports ~1.4x.
            # The word search reads a generated tsvector column, ``search_vector``, through a GIN
            # index (migration 0007; catalog/search.py). Neither is declared here: the column is
            # PostgreSQL's to write, and the ORM never needs to read it (it would add a few hundred
            # bytes to every row a page fetches).
            # The active filter: only inactive products are indexed. An import creates active
            # products and keeps the flag of those it updates, so it never writes this index,
            # where an (is_active, id) index cost it an entry per new product (migration 0005).
            # The active side is the primary key's id order with a filter: a page of it is a
            # short scan while inactive products are a minority, and still cheap when they are not.
            models.Index(fields=["id"], condition=Q(is_active=False), name="catalog_product_inactive_id"),
            # The list's orderings (catalog.selectors.products_ordered adds id as the tie-breaker):
            # each is read from its index in either direction, and a deep page reads the index
            # alone (an index-only scan) to find its ids.
            models.Index(fields=["name", "id"], name="catalog_product_name_id"),
            models.Index(fields=["sku", "id"], name="catalog_product_sku_id"),
            models.Index(fields=["created_at", "id"], name="catalog_product_created_id"),
            models.Index(fields=["updated_at", "id"], name="catalog_product_updated_id"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} — {self.name}"


class ProductCountBlock(models.Model):
    """How many products, active or not, have an id in one block of ``COUNT_BLOCK_SIZE`` ids.

    Maintained only by triggers on ``catalog_product`` (migration 0002): statement-level ones with
    transition tables for INSERT and DELETE (one upsert per statement, however many rows), a
    row-level one for the rare UPDATE that flips ``is_active``, and one that empties it on
    TRUNCATE. Counts change in the same transaction as the products, so they are exact and
    MVCC-consistent. Reading a total is a sum over a few hundred rows instead of a scan of the
    catalogue, and the running sum over blocks finds where any page of the id order starts.
    Never write it from Python.
    """

    pk = models.CompositePrimaryKey("block", "is_active")
    block = models.BigIntegerField()
    is_active = models.BooleanField()
    products = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["block", "is_active"]

    def __str__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"block {self.block}: {self.products} {state}"
