"""Reading the catalogue out as CSV: the products of any list (its filters and ordering), streamed.

PostgreSQL writes the CSV itself (``COPY (SELECT …) TO STDOUT WITH (FORMAT csv)``), so quoting of
commas, quotes and line breaks is the server's, the rows never become Python objects, and the cost
stays close to a bare COPY of the same rows. The pieces are gathered into blocks of about
``BLOCK_BYTES`` so a client gets few, large writes.

The columns are the import's (``sku,name,description``) followed by ``is_active``, ``created_at``
and ``updated_at``: an export imports back as it is (the import ignores columns it does not use).
Dates are ISO 8601 in UTC, the API's format; ``is_active`` is ``true``/``false``.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, F, Func, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Concat

from catalog.search import products_in_search_order

EXPORT_COLUMNS = ("sku", "name", "description", "is_active", "created_at", "updated_at")
BLOCK_BYTES = 256 * 1024
# The characters that make a spreadsheet run a cell as a formula ("CSV injection").
FORMULA_START = r"^[=+\-@\t\r]"


class _UtcIso(Func):
    """A timestamp as the API writes it: ``2026-12-02T15:28:42.123456Z``."""

    template = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
    output_field = TextField()


def _cell(field: str, *, excel_safe: bool):
    if not excel_safe:
        return F(field)
    return Case(
        When(Q(**{f"{field}__regex": FORMULA_START}), then=Concat(Value("'"), F(field))),
        default=F(field),
        output_field=TextField(),
    )


def export_query(products: QuerySet, *, excel_safe: bool = False) -> tuple[str, tuple]:
    """The SQL (and its parameters) of the rows to export: the list's rows, in the list's order
    (a search's name/SKU matches first, as its pages show them)."""
    rows = products_in_search_order(products).annotate(
        _sku=_cell("sku", excel_safe=excel_safe),
        _name=_cell("name", excel_safe=excel_safe),
        _description=_cell("description", excel_safe=excel_safe),
        _is_active=Case(
            When(is_active=True, then=Value("true")), default=Value("false"), output_field=TextField()
        ),
        _created_at=_UtcIso("created_at"),
        _updated_at=_UtcIso("updated_at"),
    ).values_list("_sku", "_name", "_description", "_is_active", "_created_at", "_updated_at")
    return rows.query.sql_with_params()


def products_export_csv(
    products: QuerySet, *, excel_safe: bool = False, header: bool = True
) -> Iterator[bytes]:
    """The CSV of ``products`` (a filtered, ordered product queryset), in blocks of bytes.

    Runs in a transaction of its own, with ``EXPORT_STATEMENT_TIMEOUT_MS`` as its statement
    limit: the COPY lasts as long as the client takes to read it, longer than a web request's limit.
    """
    sql, params = export_query(products, excel_safe=excel_safe)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('statement_timeout', %s, true)", [str(settings.EXPORT_STATEMENT_TIMEOUT_MS)]
        )
        if header:
            yield (",".join(EXPORT_COLUMNS) + "\n").encode()
        block: list[bytes] = []
        size = 0
        # The psycopg cursor's own copy() (Django's debug wrapper takes no parameters), wrapped so
        # a lost connection raises Django's error like every other query.
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
        ):
            for piece in copy:
                block.append(bytes(piece))
                size += len(piece)
                if size >= BLOCK_BYTES:
                    yield b"".join(block)
                    block, size = [], 0
        if block:
            yield b"".join(block)
