"""Small helpers shared by the importer's tests: run the pipeline on bytes, read the catalogue."""

from __future__ import annotations

import io

from django.db import connection

from catalog.models import Product
from importer.pipeline import ImportResult, import_csv


def import_bytes(data: bytes, **options) -> ImportResult:
    """Run the real pipeline on an in-memory CSV file."""
    return import_csv(file=io.BytesIO(data), size_bytes=len(data), **options)


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


def errors_by_line(result: ImportResult) -> dict[int, str]:
    """The row errors of a result as {line: reason}."""
    return {error.line: error.reason for error in result.errors}
