"""Reads of the product catalogue."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import connection
from django.db.models import QuerySet, Sum, Value
from django.db.models.expressions import Col
from django.db.models.functions import Coalesce, Lower
from django.db.models.lookups import Exact
from django.db.models.sql.where import AND

from catalog import search
from catalog.models import COUNT_BLOCK_SIZE, Product, ProductCountBlock

# A text filter (sku, search) is counted exactly up to this many matches; past it the count is
# PostgreSQL's estimate. Counting 600,000 substring matches takes seconds at any index; a person
# reading "about 600,000" loses nothing that an exact figure would give.
EXACT_COUNT_LIMIT = 10_000
# Below this position OFFSET walks fewer rows than one count block holds: seeking gains nothing.
OFFSET_IS_CHEAP_BELOW = COUNT_BLOCK_SIZE
# From this position on, a page of an ordered list finds its ids first (see product_page).
IDS_FIRST_FROM = 1_000


def product_list() -> QuerySet[Product]:
    """Every product, in id order; the API narrows, orders and pages it.

    Products have no relations, so a page is one simple query plus its count.
    """
    return Product.objects.all()


# Orderings a list may ask for; ties are always broken by id, so pages never overlap.
PRODUCT_ORDERING_FIELDS = ("sku", "name", "created_at", "updated_at", "id")


def products_with_sku_fragment(products: QuerySet[Product], *, fragment: str) -> QuerySet[Product]:
    """The products whose SKU contains ``fragment`` in any letter case."""
    return products.filter(sku__icontains=fragment) if fragment else products


def products_matching_text(products: QuerySet[Product], *, text: str) -> QuerySet[Product]:
    """The products that hold every word of ``text`` (the last one as a prefix) in their name, SKU
    or description, in any case and with or without accents; see ``catalog.search``.

    Without an explicit ordering, pages list the name/SKU matches first, then the others.
    """
    return search.products_matching_words(products, text=text)


def products_ordered(products: QuerySet[Product], *, ordering: list[str]) -> QuerySet[Product]:
    """``products`` in the order of ``ordering`` (fields of PRODUCT_ORDERING_FIELDS, ``-`` for
    descending), then by id in the same direction as the last field."""
    if not ordering:
        return products
    if not any(field.lstrip("-") == "id" for field in ordering):
        ordering = [*ordering, "-id" if ordering[-1].startswith("-") else "id"]
    return products.order_by(*ordering)


def product_sku_taken(*, sku: str, exclude_id: int | None = None) -> bool:
    """Whether another product already has ``sku`` in any letter case.

    Compares ``lower(sku)`` with PostgreSQL's own ``lower()``, the very expression of the unique
    index, so the answer agrees with the index and the lookup can use it.
    """
    products = Product.objects.filter(Exact(Lower("sku"), Lower(Value(sku))))
    if exclude_id is not None:
        products = products.exclude(pk=exclude_id)
    return products.exists()


@dataclass(frozen=True)
class ProductCount:
    """How many products a list holds; ``exact`` is False when ``value`` is PostgreSQL's estimate."""

    value: int
    exact: bool = True


@dataclass(frozen=True)
class _BlockShape:
    """A list the count blocks can answer: all products, or one side of ``is_active``."""

    is_active: bool | None
    descending: bool | None  # id order of the list; None when ordered by something else


_ANY = object()


def _block_shape(products: QuerySet[Product]) -> _BlockShape | None:
    """Recognise a list of products that the count blocks describe exactly, else None.

    Only an unsliced, plain query of ``Product`` with no condition or a single
    ``is_active = <bool>`` qualifies; anything else (text filters, distinct, unions…) is counted
    by PostgreSQL.
    """
    query = products.query
    if (
        query.model is not Product
        or query.combinator
        or query.distinct
        or query.is_sliced
        or query.extra
        or query.annotation_select
        or query.where.negated
        or query.where.connector != AND
    ):
        return None
    is_active: object = _ANY
    children = query.where.children
    if len(children) > 1:
        return None
    if children:
        lookup = children[0]
        if not (
            isinstance(lookup, Exact)
            and isinstance(lookup.lhs, Col)
            and lookup.lhs.target.name == "is_active"
            and isinstance(lookup.rhs, bool)
        ):
            return None
        is_active = lookup.rhs
    ordering = tuple(query.order_by) or (tuple(Product._meta.ordering) if query.default_ordering else ())
    descending = {("id",): False, ("pk",): False, ("-id",): True, ("-pk",): True}.get(ordering)
    return _BlockShape(is_active=None if is_active is _ANY else is_active, descending=descending)


def _blocks(is_active: bool | None) -> QuerySet[ProductCountBlock]:
    blocks = ProductCountBlock.objects.all()
    return blocks if is_active is None else blocks.filter(is_active=is_active)


def product_total(*, is_active: bool | None = None) -> int:
    """Exact number of products (only active or inactive ones if ``is_active`` is given).

    Reads the count blocks that triggers keep in step with every write, instead of counting a
    million rows (~100-400 ms each time on this machine).
    """
    return _blocks(is_active).aggregate(total=Coalesce(Sum("products"), 0))["total"]


def product_count(*, products: QuerySet[Product]) -> ProductCount:
    """How many products ``products`` holds, answered as cheaply as exactness allows.

    The whole catalogue, or one side of ``is_active``: exact, from the count blocks. Any other
    list (a SKU or text filter): an exact ``COUNT`` of at most ``EXACT_COUNT_LIMIT + 1`` matches;
    when there are more, PostgreSQL's row estimate (never below the limit) with ``exact=False``.
    """
    shape = _block_shape(products)
    if shape is not None:
        return ProductCount(product_total(is_active=shape.is_active))
    unordered = products.order_by()
    if search.is_search(products):
        walk = search.match_density(products).walks(rows=EXACT_COUNT_LIMIT + 1)
        with search.planned(walk=walk):
            bounded = unordered[: EXACT_COUNT_LIMIT + 1].count()
    else:
        bounded = unordered[: EXACT_COUNT_LIMIT + 1].count()
    if bounded <= EXACT_COUNT_LIMIT:
        return ProductCount(bounded)
    return ProductCount(max(_estimated_rows(unordered), EXACT_COUNT_LIMIT + 1), exact=False)


def product_count_exact(*, products: QuerySet[Product]) -> int:
    """Exactly how many products ``products`` holds, however many: a full ``COUNT`` if need be.

    For a client that asked for the end of a list whose ``product_count`` is only an estimate.
    """
    shape = _block_shape(products)
    if shape is not None:
        return product_total(is_active=shape.is_active)
    return products.order_by().count()


def _estimated_rows(products: QuerySet[Product]) -> int:
    sql, params = products.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    # EXPLAIN's output column is text, not json: psycopg hands it over undecoded.
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def product_page(*, products: QuerySet[Product], start: int, stop: int) -> QuerySet[Product] | list[Product]:
    """The products at positions ``start``..``stop`` (exclusive) of ``products``.

    ``OFFSET n`` makes PostgreSQL walk past n rows: ~1 s at the middle of a million. For lists
    in id order that the count blocks describe, the running sum of the blocks says in which
    block position ``start`` lies, so the page is read from that block's first id onward and
    skips at most one block's rows. A search in its default order is read tier by tier
    (``_tiered_page``). Deep pages of other ordered lists find their ids first
    (``_page_by_ids``); the rest use ``OFFSET``.
    """
    if search.is_search(products):
        return _search_page(products, start=start, stop=stop)
    shape = _block_shape(products)
    if shape is None or shape.descending is None:
        if start >= IDS_FIRST_FROM:
            return _page_by_ids(products, start=start, stop=stop)
        return products[start:stop]
    if start < OFFSET_IS_CHEAP_BELOW:
        return products[start:stop]
    found = _block_before(is_active=shape.is_active, position=start, descending=shape.descending)
    if found is None:
        return products[start:stop]
    block, before = found
    skip = start - before
    if shape.descending:
        products = products.filter(id__lt=(block + 1) * COUNT_BLOCK_SIZE)
    else:
        products = products.filter(id__gte=block * COUNT_BLOCK_SIZE)
    return products[skip : skip + (stop - start)]


def _search_page(products: QuerySet[Product], *, start: int, stop: int) -> list[Product]:
    """A page of a searched list, each read with the plan its density calls for (catalog.search)."""
    density = search.match_density(products)
    tiers = search.search_tiers(products)
    if tiers is not None:
        return _tiered_page(tiers, start=start, stop=stop, density=density)
    with search.planned(walk=density.walks(rows=stop)):
        if start >= IDS_FIRST_FROM:
            return list(_page_by_ids(products, start=start, stop=stop))
        return list(products[start:stop])


def _tiered_page(
    tiers: tuple[QuerySet[Product], QuerySet[Product]], *, start: int, stop: int, density: search.Density
) -> list[Product]:
    """Positions ``start``..``stop`` of a search's tiers read one after the other.

    Each tier is a filter in id order, which PostgreSQL serves from the primary key (a common
    word: walk the ids, keep the matches) or the GIN index (a rare one: the few matches, sorted).
    The second tier is read only when the page reaches past the first; a page that starts past
    the first tier's end counts that tier up to the page's start.
    """
    names, others = tiers
    with search.planned(walk=density.walks(rows=stop, in_names=True)):
        rows = list(names[start:stop])
    if len(rows) == stop - start:
        return rows
    if rows or start == 0:
        in_names = start + len(rows)
    else:
        with search.planned(walk=density.walks(rows=start, in_names=True)):
            in_names = names.order_by()[:start].count()
    skip = max(0, start - in_names)
    wanted = stop - start - len(rows)
    with search.planned(walk=density.walks(rows=skip + wanted, in_names=False)):
        return rows + list(others[skip : skip + wanted])


def _page_by_ids(products: QuerySet[Product], *, start: int, stop: int) -> QuerySet[Product]:
    """A deep page of an ordered list: its ids first, then its rows.

    ``OFFSET`` must walk every row before the page; asked for ids only, PostgreSQL walks the
    ordering's (field, id) index alone (an index-only scan) instead of the table, then reads the
    page's rows by id: ``ordering=name&page=1000`` reads 50 rows of the table, not 50,000.
    """
    return products.filter(pk__in=products.values("pk")[start:stop])


def _block_before(*, is_active: bool | None, position: int, descending: bool) -> tuple[int, int] | None:
    """The block holding the product at ``position`` of the id order, and how many come before it."""
    direction = "DESC" if descending else "ASC"
    where, params = ("", []) if is_active is None else ("WHERE is_active = %s", [is_active])
    sql = f"""
        SELECT block, before FROM (
            SELECT block, products,
                   sum(products) OVER (ORDER BY block {direction}) - products AS before
            FROM (
                SELECT block, sum(products) AS products
                FROM {ProductCountBlock._meta.db_table} {where}
                GROUP BY block
            ) per_block
        ) running
        WHERE before + products > %s
        ORDER BY block {direction}
        LIMIT 1
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, position])
        row = cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else None
