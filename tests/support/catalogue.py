"""The catalogue as tests read it, and the catalogue a file must leave (the oracle).

SKUs are compared the way the unique index compares them: by PostgreSQL's ``lower()``, which
differs from Python's ``str.lower()`` outside ASCII, so the mapping is always asked of the database.
"""

from __future__ import annotations

import csv
from pathlib import Path

from django.db import connection

from catalog.models import Product

# {lower(sku): (sku, name, description)}
Catalogue = dict[str, tuple[str, str, str]]


def catalogue() -> dict[str, tuple[str, str]]:
    """The whole catalogue as {sku: (name, description)}; SKUs keep their stored spelling."""
    return {p.sku: (p.name, p.description) for p in Product.objects.all()}


def pg_lower(values: list[str]) -> list[str]:
    """PostgreSQL's ``lower()`` of each value: the case mapping of the unique SKU index."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lower(v) FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n", [values]
        )
        return [row[0] for row in cursor.fetchall()]


def stored_catalogue() -> Catalogue:
    """The catalogue as the database holds it, keyed by PostgreSQL's lower(sku)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT lower(sku), sku, name, description FROM catalog_product")
        return {key: (sku, name, description) for key, sku, name, description in cursor.fetchall()}


def oracle(*paths: Path) -> Catalogue:
    """The catalogue that importing ``paths`` one after another, uninterrupted, must leave.

    For each SKU (in the index's sense) the last row of the files wins. A test of an import that
    was interrupted compares the final catalogue with this, so "nothing lost, nothing duplicated"
    is checked, not assumed.
    """
    rows: list[tuple[str, str, str]] = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            rows.extend((sku.strip(), name.strip(), description) for sku, name, description in reader)
    keys = pg_lower([sku for sku, _, _ in rows])
    return dict(zip(keys, rows, strict=True))


def assert_catalogue_is(expected: Catalogue) -> None:
    """The stored catalogue equals ``expected``; on failure, say what is missing, extra or wrong."""
    stored = stored_catalogue()
    missing = expected.keys() - stored.keys()
    extra = stored.keys() - expected.keys()
    wrong = [key for key in expected.keys() & stored.keys() if stored[key] != expected[key]]
    assert not (missing or extra or wrong), (
        f"catalogue differs from the oracle: {len(missing)} missing (e.g. {sorted(missing)[:3]}), "
        f"{len(extra)} extra (e.g. {sorted(extra)[:3]}), {len(wrong)} with other values "
        f"(e.g. {wrong[:1]} stored {[stored[k] for k in wrong[:1]]}, "
        f"expected {[expected[k] for k in wrong[:1]]})"
    )
