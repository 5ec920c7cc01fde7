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

The tsquery is built by PostgreSQL from the folded text, then its text is rewritten here (prefix,
weights) token by token; only its own lexemes are touched, so nothing a user types can make it
invalid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.db.models.expressions import RawSQL

# Longer texts are refused (400) by the API: nobody types them, and each word costs the index a lookup.
SEARCH_MAX_LENGTH = 200
# The alias a searched queryset carries: True for tier A (every word in the name or SKU).
IN_NAMES = "search_in_names"

# A tsquery's text as PostgreSQL writes it: quoted lexemes (quotes doubled inside, optionally
# followed by :weights and *), operators, parentheses and spaces.
_TSQUERY_TOKEN = re.compile(r"'(?:[^']|'')*'(?::[ABCD*]+)?|<->|<\d+>|[&|!()]|\s+")
_LEXEME = re.compile(r"'(?:[^']|'')*'")


@dataclass(frozen=True)
class TextSearch:
    """A search box's text as two tsqueries (PostgreSQL's text form).

    ``matches`` selects every product that matches; ``in_names`` the same words restricted to
    weight A (name and SKU). Empty ``matches``: the text holds no word, so it filters nothing.
    """

    matches: str
    in_names: str


def _ends_with_prefix_word(text: str) -> bool:
    """Whether the last word is still being typed: not quoted, not an exclusion, not ended."""
    if not text or not (text[-1].isalnum()) or text.count('"') % 2:
        return False
    last = text.split()[-1]
    return not last.startswith("-")


def _rewrite(tsquery: str, *, prefix_last: bool, weight: str = "") -> str | None:
    """``tsquery`` with ``:*`` on its last lexeme and/or ``weight`` on every lexeme; None if its
    text is not what PostgreSQL writes (then the caller keeps it as it is)."""
    tokens = []
    position = 0
    while position < len(tsquery):
        match = _TSQUERY_TOKEN.match(tsquery, position)
        if match is None:
            return None
        tokens.append(match.group())
        position = match.end()
    lexemes = [i for i, token in enumerate(tokens) if token.startswith("'")]
    for i in lexemes:
        lexeme = _LEXEME.match(tokens[i]).group()
        suffix = tokens[i][len(lexeme) :].lstrip(":")
        if prefix_last and i == lexemes[-1] and "*" not in suffix:
            suffix += "*"
        if weight and weight not in suffix:
            suffix += weight
        tokens[i] = f"{lexeme}:{suffix}" if suffix else lexeme
    return "".join(tokens)


def text_search(text: str) -> TextSearch:
    """What ``text`` (a search box's content) searches for; one round trip to PostgreSQL, which
    folds and parses it exactly as it folded the products' words."""
    text = text.strip()
    with connection.cursor() as cursor:
        cursor.execute("SELECT websearch_to_tsquery('simple', catalog_search_query_text(%s))::text", [text])
        matches = cursor.fetchone()[0]
    if not matches:
        return TextSearch(matches="", in_names="")
    prefixed = _rewrite(matches, prefix_last=_ends_with_prefix_word(text))
    if prefixed is None:
        return TextSearch(matches=matches, in_names=matches)
    return TextSearch(matches=prefixed, in_names=_rewrite(prefixed, prefix_last=False, weight="A"))


def _matches(tsquery: str) -> ExpressionWrapper:
    # Unqualified column: the same SQL is right inside a subquery, where Django renames the table.
    return ExpressionWrapper(RawSQL("search_vector @@ %s::tsquery", [tsquery]), output_field=BooleanField())


def products_matching_words(products: QuerySet, *, text: str) -> QuerySet:
    """The products that match every word of ``text``, marked with their tier (alias ``IN_NAMES``).

    A list that keeps no ordering of its own is then read tier by tier (``search_tiers``).
    """
    search = text_search(text)
    if not search.matches:
        return products
    return products.alias(**{IN_NAMES: _matches(search.in_names)}).filter(_matches(search.matches))


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
