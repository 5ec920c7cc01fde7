"""The database's hold on description length, kept in step with ``PRODUCT_DESCRIPTION_MAX_LENGTH``.

The limit is a setting, so it cannot be a constraint in a migration file (changing the setting
would then need a new migration). Instead ``migrate`` — a migration the first time, its
``post_migrate`` signal after that — compares the check constraint's bound with the setting and
replaces it when they differ.

The bound written is never lower than the longest description already stored: lowering the
setting below existing data must neither fail ``migrate`` nor leave rows that a later UPDATE of
another column (a toggle, an import's upsert of the name) would find in breach of the constraint,
which would be a 500. Such rows keep their text; the API and the import apply the new, lower limit
to new values from then on, and ``migrate`` says how many products are longer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as default_connection

CONSTRAINT = "catalog_product_description_length"
_BOUND = re.compile(r"<= (\d+)")


@dataclass(frozen=True)
class DescriptionLimitSync:
    """What ``sync_description_limit`` found and did."""

    wanted: int
    bound: int
    previous: int | None
    longer: int = 0  # products whose description is longer than ``wanted``

    @property
    def changed(self) -> bool:
        return self.bound != self.previous


def current_description_bound(*, connection=default_connection) -> int | None:
    """The constraint's bound in characters, or None if the table has no such constraint."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'catalog_product'::regclass AND conname = %s",
            [CONSTRAINT],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    match = _BOUND.search(row[0])
    return int(match.group(1)) if match else None


def sync_description_limit(*, connection=default_connection) -> DescriptionLimitSync:
    """Make the check constraint hold descriptions to the setting (or to the longest stored)."""
    wanted = settings.PRODUCT_DESCRIPTION_MAX_LENGTH
    previous = current_description_bound(connection=connection)
    if previous == wanted:
        return DescriptionLimitSync(wanted=wanted, bound=wanted, previous=previous)
    with connection.cursor() as cursor:
        longest, longer = 0, 0
        if previous is None or wanted < previous:
            # Only lowering (or a first constraint) can meet longer rows: one scan, at migrate time.
            cursor.execute(
                "SELECT coalesce(max(char_length(description)), 0), "
                "count(*) FILTER (WHERE char_length(description) > %s) FROM catalog_product",
                [wanted],
            )
            longest, longer = cursor.fetchone()
        bound = max(wanted, longest)
        if bound != previous:
            # One statement, so there is no moment without the constraint; NOT VALID keeps the
            # table's exclusive lock short, and VALIDATE then scans it under a lock that lets
            # reads and writes go on. The bound is an int computed here, not text from outside.
            drop = f"DROP CONSTRAINT {CONSTRAINT}, " if previous is not None else ""
            cursor.execute(
                f"ALTER TABLE catalog_product {drop}ADD CONSTRAINT {CONSTRAINT} "
                f"CHECK (char_length(description) <= {int(bound)}) NOT VALID"
            )
            cursor.execute(f"ALTER TABLE catalog_product VALIDATE CONSTRAINT {CONSTRAINT}")
    return DescriptionLimitSync(wanted=wanted, bound=bound, previous=previous, longer=longer)
