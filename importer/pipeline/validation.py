"""Validating: the rules a record must meet to become a product row.

``validate_record`` is the one place where they are written down. It gives a ``Row`` to import,
a ``RowError`` (the row is skipped and reported with its line), or None for a blank line, which is
no row at all.
"""

from __future__ import annotations

from catalog.models import NAME_MAX_LENGTH, SKU_MAX_LENGTH
from importer.pipeline.header import CsvLayout
from importer.pipeline.records import Record
from importer.pipeline.results import RowError

# A valid product row: ``(line, sku, name, description, is_active)``, its first line in the file
# and its cleaned values (a plain tuple for the reason given for ``Record``); ``is_active`` is None
# when the file has no such column.
Row = tuple[int, str, str, str, bool | None]

# What an ``is_active`` cell may say, in any letter case and spacing: the words of other systems'
# exports as well as this product's own export (true/false).
ACTIVE_VALUES = {
    "true": True,
    "yes": True,
    "1": True,
    "active": True,
    "published": True,
    "y": True,
    "t": True,
    "false": False,
    "no": False,
    "0": False,
    "inactive": False,
    "draft": False,
    "n": False,
    "f": False,
}


def validate_record(record: Record, layout: CsvLayout, description_limit: int) -> Row | RowError | None:
    """The row ``record`` stands for, the reason it must be skipped, or None if it is blank.

    ``description_limit`` is ``catalog.models.description_max_length()``, read once per import.
    """
    fields, line, last_line, problem, damage = record
    if problem is not None:
        return RowError(line, _sku_of(fields, layout), problem)
    if len(fields) != layout.field_count:
        if not any(value.strip() for value in fields):
            return None  # a blank line, or one of only commas: nothing to import
        reason = f"expected {layout.field_count} fields, found {len(fields)}"
        if last_line > line:
            reason += (
                f" (the record runs from line {line} to line {last_line}; check for an unbalanced quote)"
            )
        return RowError(line, _sku_of(fields, layout), reason)

    sku = fields[layout.sku_index].strip()
    name = fields[layout.name_index].strip()
    description = fields[layout.description_index] if layout.description_index is not None else ""
    if damage is not None:
        reason = damage
    elif not sku:
        if not name and not any(value.strip() for value in fields):
            return None
        reason = "SKU is empty"
    elif not name:
        reason = "name is empty"
    elif len(sku) > SKU_MAX_LENGTH:
        reason = f"SKU is longer than {SKU_MAX_LENGTH} characters ({len(sku)})"
    elif len(name) > NAME_MAX_LENGTH:
        reason = f"name is longer than {NAME_MAX_LENGTH} characters ({len(name)})"
    elif len(description) > description_limit:
        reason = f"description is longer than {description_limit:,} characters ({len(description):,})"
    elif layout.is_active_index is None:
        return line, sku, name, description, None
    elif (active := ACTIVE_VALUES.get(fields[layout.is_active_index].strip().lower())) is not None:
        return line, sku, name, description, active
    else:
        shown = fields[layout.is_active_index].strip()[:40]
        said = f"'{shown}'" if shown else "empty"
        reason = (
            f"is_active is {said}; use true or false (also yes/no, 1/0, active/inactive, published/draft)"
        )
    return RowError(line, sku[:SKU_MAX_LENGTH], reason)


def _sku_of(fields: list[str] | None, layout: CsvLayout) -> str:
    if fields is None or len(fields) <= layout.sku_index:
        return ""
    return fields[layout.sku_index].strip()[:SKU_MAX_LENGTH]
