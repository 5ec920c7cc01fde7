"""Word search of the catalogue: what a search box's text means, and the two tiers of its matches.

The products carry a generated ``search_vector`` (migration 0007): name and SKU at weight A, the
description at weight B, accents folded, SKUs split into their parts. A search:

- finds products that contain **every word** (in the name, SKU or description), in any case and
  with or without accents; ``"quoted words"`` must follow each other, ``-word`` must be absent
  (``websearch_to_tsquery``'s syntax, which never fails on what a user types);
- takes its **last word as a prefix** while it is being typed (``red sh`` finds "Red Shoes"),
  unless it is quoted or excluded;
- puts the **best matches first** without ranking every match: the products whose name or SKU
  holds every word (tier A), then the others, each tier in id order. Ranking would read every
  match to sort them (seconds for a common word); a tier is a filter the primary key's order
  serves, so a page reads about as many rows as it shows.

The tsquery is built by PostgreSQL from the folded text, then its text gets the prefix mark here,
on its own last lexeme, so nothing a user types can make it invalid.

**Which plan.** A page of matches in id order has two good plans and each is a disaster where the
other shines: walking the primary key and keeping the matches stops after a page for a common
word but reads the whole table for a rare one; the GIN index finds a rare word's few matches at
once but must collect and sort every match of a common one. PostgreSQL chooses from its
statistics, which cannot estimate a prefix (``wal:*``) unless the column has at least 100 common
words, and multiply the selectivities of the two conditions of a tier as if independent: measured
on a million products, it walked the whole table for ``zzqx`` (0.5 s) and sorted 95,000 rows for
``walnut`` (0.6 s). So the plan is chosen here: ``match_density`` walks the first
``DENSITY_PROBE_ROWS`` products (a few milliseconds) and counts the matches of each tier; a read
that would walk at most ``WALK_AT_MOST`` rows for its matches walks (``planned(walk=True)``),
any other uses the GIN index.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import BooleanField, Count, ExpressionWrapper, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

# Longer texts are refused (400) by the API: nobody types them, and each word costs the index a lookup.
SEARCH_MAX_LENGTH = 200
# The alias a searched queryset carries: True for tier A (every word in the name or SKU).
IN_NAMES = "search_in_names"

# The density probe walks this many products in id order (~2-5 ms at a million products).
DENSITY_PROBE_ROWS = 2_000
# A read walks the primary key (or the ordering's index) if it expects to find its rows within this
# many; otherwise it collects the matches from the GIN index and sorts them.
WALK_AT_MOST = 20_000
# Walking a row (heap, recheck) costs a few times what a bitmap pays per match it collects.
WALK_VERSUS_COLLECT = 3

# A tsquery's text as PostgreSQL writes it: quoted lexemes (quotes doubled inside, optionally
# followed by :weights and *), operators, parentheses and spaces.
_TSQUERY_TOKEN = re.compile(r"'(?:[^']|'')*'(?::[ABCD*]+)?|<->|<\d+>|[&|!()]|\s+")
_LEXEME = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class TextSearch:
    """A search box's text as a tsquery (PostgreSQL's text form); empty when the text holds no
    word, which filters nothing."""

    matches: str


def _ends_with_prefix_word(text: str) -> bool:
    """Whether the last word is still being typed: not quoted, not an exclusion, not ended."""
    if not text or not (text[-1].isalnum()) or text.count('"') % 2:
        return False
    last = text.split()[-1]
    return not last.startswith("-")


def _prefixed(tsquery: str) -> str | None:
    """``tsquery`` with ``:*`` on its last lexeme; None if its text is not what PostgreSQL writes
    (then the caller keeps it as it is)."""
    tokens = []
    position = 0
    while position < len(tsquery):
        match = _TSQUERY_TOKEN.match(tsquery, position)
        if match is None:
            return None
        tokens.append(match.group())
        position = match.end()
    lexemes = [i for i, token in enumerate(tokens) if token.startswith("'")]
    if lexemes:
        last = lexemes[-1]
        lexeme = _LEXEME.match(tokens[last]).group()
        suffix = tokens[last][len(lexeme) :].lstrip(":")
        if "*" not in suffix:
            tokens[last] = f"{lexeme}:{suffix}*"
    return "".join(tokens)


def text_search(text: str) -> TextSearch:
    """What ``text`` (a search box's content) searches for; one round trip to PostgreSQL, which
    folds and parses it exactly as it folded the products' words."""
    text = text.strip()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT websearch_to_tsquery('catalog_search', catalog_search_query_text(%s))::text", [text]
        )
        matches = cursor.fetchone()[0]
    if matches and _ends_with_prefix_word(text):
        matches = _prefixed(matches) or matches
    return TextSearch(matches=matches)


def _matches(tsquery: str, *, names_only: bool = False) -> ExpressionWrapper:
    # Unqualified column: the same SQL is right inside a subquery, where Django renames the table.
    # The name tier matches the vector's weight-A part, which has a GIN index of its own
    # (migration 0007): the main index holds no weights, so finding the few products with every
    # word in the name among many with them anywhere would recheck every one of those.
    vector = "ts_filter(search_vector, '{a}')" if names_only else "search_vector"
    return ExpressionWrapper(RawSQL(f"{vector} @@ %s::tsquery", [tsquery]), output_field=BooleanField())


def products_matching_words(products: QuerySet, *, text: str) -> QuerySet:
    """The products that match every word of ``text``, marked with their tier (alias ``IN_NAMES``).

    A list that keeps no ordering of its own is then read tier by tier (``search_tiers``).
    """
    search = text_search(text)
    if not search.matches:
        return products
    return products.alias(**{IN_NAMES: _matches(search.matches, names_only=True)}).filter(
        _matches(search.matches)
    )


def is_search(products: QuerySet) -> bool:
    return IN_NAMES in products.query.annotations


@dataclass(frozen=True)
class Density:
    """How many of the first ``DENSITY_PROBE_ROWS`` products (in id order) a search's list holds,
    in all and in its first tier, and about how many products there are."""

    matches: int
    in_names: int
    products: int = DENSITY_PROBE_ROWS

    def walks(self, *, rows: int, in_names: bool | None = None) -> bool:
        """Whether a read of ``rows`` matches (of the first tier, the second, or all: None) should
        walk an index in order rather than collect the matches from GIN.

        Walking costs about ``rows / density`` rows; collecting costs at least every match
        (``products * density``) and a sort. Walk when it reads at most ``WALK_AT_MOST`` rows or
        fewer than ``WALK_VERSUS_COLLECT`` times the matches a bitmap would gather.
        """
        found = {None: self.matches, True: self.in_names, False: self.matches - self.in_names}[in_names]
        if found <= 0:
            return False
        walked = rows * DENSITY_PROBE_ROWS / found
        collected = self.products * found / DENSITY_PROBE_ROWS
        return walked <= max(WALK_AT_MOST, WALK_VERSUS_COLLECT * collected)


_densities: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def match_density(products: QuerySet) -> Density:
    """The matches of a searched list among the first ``DENSITY_PROBE_ROWS`` products: one walk of
    the primary key over at most that many rows (the GIN index is kept out of it). Measured once
    per queryset object: a page and its count ask for the same list."""
    if products in _densities:
        return _densities[products]
    density = _measure_density(products)
    _densities[products] = density
    return density


def _measure_density(products: QuerySet) -> Density:
    from catalog.models import Product

    # The id of the DENSITY_PROBE_ROWS-th product; a smaller catalogue is walked whole (any plan
    # is cheap there, and its density, counted against DENSITY_PROBE_ROWS, errs towards the index).
    bound = Product.objects.order_by("id").values("id")[DENSITY_PROBE_ROWS - 1 : DENSITY_PROBE_ROWS]
    window = products.order_by().filter(id__lte=Coalesce(Subquery(bound), Value(2**62)))
    with planned(walk=True):
        counts = window.aggregate(matches=Count("id"), in_names=Count("id", filter=Q(**{IN_NAMES: True})))
    with connection.cursor() as cursor:
        # PostgreSQL's own count of the table's rows (as of its last ANALYZE): enough for a ratio.
        cursor.execute(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'catalog_product'::regclass"
        )
        products = max(int(cursor.fetchone()[0]), DENSITY_PROBE_ROWS)
    return Density(matches=counts["matches"], in_names=counts["in_names"], products=products)


@contextmanager
def planned(*, walk: bool) -> Iterator[None]:
    """Run the queries inside with one kind of plan only: walking an index in order (``walk``) or
    collecting matches through a bitmap of the GIN index. Both settings are transaction-local and
    set back before leaving, so nothing else in the request is affected.

    A disabled plan kind still exists at a huge cost (the only path a count has is a sequential
    scan), which would make PostgreSQL JIT-compile the query (~80-300 ms here) and plan parallel
    workers; these reads are short, so both are off as well.
    """
    settings = {"jit": "off", "max_parallel_workers_per_gather": "0", "enable_seqscan": "off"}
    settings["enable_bitmapscan" if walk else "enable_indexscan"] = "off"
    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        try:
            yield
        finally:
            for name in settings:
                cursor.execute(f"SET LOCAL {name} TO DEFAULT")


def search_tiers(products: QuerySet) -> tuple[QuerySet, QuerySet] | None:
    """The two tiers of a searched list in its default order (name/SKU matches, then the rest,
    each in id order), or None when ``products`` is not a search or has an explicit ordering."""
    query = products.query
    if IN_NAMES not in query.annotations or query.order_by or not query.default_ordering:
        return None
    return products.filter(Q(**{IN_NAMES: True})), products.filter(Q(**{IN_NAMES: False}))


def products_in_search_order(products: QuerySet) -> QuerySet:
    """``products`` in the order its pages show, as one query (for an export of the whole list)."""
    if search_tiers(products) is None:
        return products
    return products.order_by(f"-{IN_NAMES}", "id")
