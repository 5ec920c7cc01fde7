"""Column mapping: which column of a file is the SKU, the name, the description, ``is_active``.

A file whose header does not name ``sku`` and ``name`` itself (a shop system's export says
"Variant SKU" and "Title") is offered for mapping: each column with a few sample values and a
suggested target, from the names other systems use (``SUGGESTED_TARGETS``) or from the same user's
earlier confirmed mapping of the same headers (``RememberedMapping``), which is then applied
without asking.

Columns are named in a mapping by their **key**: the header text as the file has it (spaces
around it removed). A file may name two columns alike ("Name" twice); each of those is then keyed
``"Name (column 3)"`` with its 1-based position, and the bare "Name" is refused as ambiguous with
a message that gives both keys.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from typing import BinaryIO

from importer.pipeline.header import HeaderRow
from importer.pipeline.records import RecordReader

TARGETS = ("sku", "name", "description", "is_active")
REQUIRED_TARGETS = ("sku", "name")
SAMPLE_VALUES = 5
# Sample values come from the first records only, so offering a mapping reads a bounded part of
# any file: at most this many records (each at most MAX_RECORD_BYTES), a sample cut to its start.
SAMPLE_RECORDS = 20
SAMPLE_CHARS = 120

_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")


def normalise_header(name: str) -> str:
    """A header name compared loosely: letters and digits only, in lower case ("Body (HTML)" is
    "bodyhtml", "Variant_SKU" and "variant sku" are "variantsku")."""
    return _NOT_ALPHANUMERIC.sub("", name.casefold())


def _names(target: str, *names: str) -> dict[str, str]:
    return {normalise_header(name): target for name in names}


# What other systems' exports call our columns (Shopify, WooCommerce, Magento, BigCommerce,
# Amazon, spreadsheets kept by hand), compared after ``normalise_header``.
SUGGESTED_TARGETS: dict[str, str] = {
    **_names(
        "sku", "sku", "Variant SKU", "SKU code", "Item code", "Item number", "Item no", "Item #",
        "Product code", "Product number", "Product SKU", "Product ID", "Article number", "Article no",
        "Part number", "Part no", "MPN", "Model", "Model number", "Seller SKU", "Stock code",
        "Reference", "Ref",
    ),
    **_names(
        "name", "name", "Title", "Product name", "Product title", "Item name", "Item title",
        "Article name", "Product", "Item",
    ),
    **_names(
        "description", "description", "Body (HTML)", "Body", "Body HTML", "Long description",
        "Product description", "Item description", "Full description", "Details", "Content",
        "Post content",
    ),
    **_names(
        "is_active", "is_active", "is active", "active", "Published", "Status", "Enabled",
        "Visible", "Visibility", "Product status", "Is published",
    ),
}


@dataclass(frozen=True)
class Column:
    """One column of the file as offered for mapping."""

    key: str
    header: str
    position: int  # 0-based
    samples: list[str]
    suggested: str | None

    def as_dict(self) -> dict:
        return {
            "key": self.key, "header": self.header, "position": self.position + 1,
            "samples": self.samples, "suggested": self.suggested,
        }


class MappingInvalid(ValueError):
    """A mapping that cannot be used, with a message for the person who gave it; ``errors`` maps
    each column key (or ``columns``) to what is wrong."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {"columns": [message]}


def column_keys(names: list[str]) -> list[str]:
    """Each column's key: its header, or ``"<header> (column N)"`` if the header repeats."""
    counts = Counter(names)
    return [name if counts[name] == 1 else f"{name} (column {i + 1})" for i, name in enumerate(names)]


def header_identities(names: list[str]) -> list[str]:
    """Each column's normalised name, ``name#2`` for its second occurrence and so on: what a
    remembered mapping is keyed by, whatever the order of the columns."""
    seen: Counter[str] = Counter()
    identities = []
    for name in names:
        normal = normalise_header(name)
        seen[normal] += 1
        identities.append(normal if seen[normal] == 1 else f"{normal}#{seen[normal]}")
    return identities


def header_set_key(names: list[str]) -> str:
    """The digest that identifies a set of headers, in any order, case, spacing or punctuation."""
    return hashlib.sha256("\n".join(sorted(header_identities(names))).encode("utf-8")).hexdigest()


def suggest_targets(names: list[str]) -> list[str | None]:
    """A target per column from ``SUGGESTED_TARGETS``; each target is suggested once at most (the
    first column that has one of its names wins; an exact name such as "sku" before a synonym)."""
    suggested: list[str | None] = [None] * len(names)
    taken: set[str] = set()
    normals = [normalise_header(name) for name in names]
    for exact in (True, False):
        for i, normal in enumerate(normals):
            target = SUGGESTED_TARGETS.get(normal)
            if target is None or target in taken or suggested[i] is not None:
                continue
            if exact != (normal == normalise_header(target)):
                continue
            suggested[i] = target
            taken.add(target)
    return suggested


def sample_values(file: BinaryIO, *, header: HeaderRow, encoding: str) -> list[list[str]]:
    """Up to ``SAMPLE_VALUES`` non-empty values per column from the first ``SAMPLE_RECORDS``
    records after the header (bounded by the reader's own record limit)."""
    samples: list[list[str]] = [[] for _ in header.names]
    reader = RecordReader(
        file, encoding=encoding, start_offset=header.data_offset, start_line=header.data_line
    )
    for count, (fields, _line, _last, problem, _damage) in enumerate(reader, start=1):
        if problem is None and fields:
            for i, value in enumerate(fields[: len(samples)]):
                value = value.strip()
                if len(value) > SAMPLE_CHARS:
                    value = value[: SAMPLE_CHARS - 1] + "…"
                if value and len(samples[i]) < SAMPLE_VALUES:
                    samples[i].append(value)
        if count >= SAMPLE_RECORDS or all(len(s) >= SAMPLE_VALUES for s in samples):
            reader.stop()
            break
    return samples


def columns_for_mapping(file: BinaryIO, *, header: HeaderRow, encoding: str) -> list[Column]:
    """The file's columns as offered to a person: key, header, samples and a suggestion."""
    samples = sample_values(file, header=header, encoding=encoding)
    return [
        Column(key=key, header=name, position=i, samples=samples[i], suggested=suggested)
        for i, (key, name, suggested) in enumerate(
            zip(column_keys(header.names), header.names, suggest_targets(header.names), strict=True)
        )
    ]


def resolve_mapping(columns: dict, *, names: list[str]) -> tuple[dict[str, str], dict[str, int]]:
    """Check ``columns`` ({column key: target or None}) against the header ``names``.

    Returns the mapping as confirmed ({key: target}, ignored columns left out) and the positions
    the reader uses ({target: index}). Raises ``MappingInvalid`` naming every problem.
    """
    if not isinstance(columns, dict) or not columns:
        raise MappingInvalid(
            'Give the mapping as an object of column headers to targets, e.g. {"Variant SKU": '
            '"sku", "Title": "name"}.'
        )
    keys = column_keys(names)
    by_key = {key: i for i, key in enumerate(keys)}
    # A key may also be given in another letter case, when that is unambiguous.
    by_folded: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        by_folded.setdefault(key.casefold(), []).append(i)
    repeated = {name for name, n in Counter(names).items() if n > 1}

    errors: dict[str, list[str]] = {}
    positions: dict[str, int] = {}
    confirmed: dict[str, str] = {}
    for given, target in columns.items():
        key = str(given).strip()
        if key in by_key:
            index = by_key[key]
        elif key in repeated:
            options = " or ".join(f"'{k}'" for k, n in zip(keys, names, strict=True) if n == key)
            errors[str(given)] = [f"The file has more than one column '{key}': name it {options}."]
            continue
        elif len(by_folded.get(key.casefold(), ())) == 1:
            index = by_folded[key.casefold()][0]
        else:
            shown = ", ".join(f"'{k}'" for k in keys[:30])
            errors[str(given)] = [f"The file has no column '{key[:100]}'. Its columns are {shown}."]
            continue
        if target is None or target == "":
            continue
        if target not in TARGETS:
            errors[str(given)] = [
                f"'{str(target)[:40]}' is not a target: use one of {', '.join(TARGETS)}, or null to "
                "ignore the column."
            ]
            continue
        if target in positions and positions[target] != index:
            errors.setdefault("columns", []).append(
                f"'{target}' is given to more than one column ('{keys[positions[target]]}' and "
                f"'{keys[index]}'): choose one."
            )
            continue
        positions[target] = index
        confirmed[keys[index]] = target
    missing = [t for t in REQUIRED_TARGETS if t not in positions]
    if missing and not errors.get("columns"):
        wanted = " and the ".join("SKU" if m == "sku" else m for m in missing)
        errors.setdefault("columns", []).append(
            f"Choose the column that holds the {wanted}: sku and name are required."
        )
    if errors:
        first = next(iter(errors.values()))[0]
        raise MappingInvalid(first, errors)
    return confirmed, positions


def remembered_targets(names: list[str], confirmed: dict[str, str]) -> dict[str, str]:
    """``confirmed`` ({key: target}) re-keyed by header identity, to be remembered."""
    keys = column_keys(names)
    identities = header_identities(names)
    by_key = dict(zip(keys, identities, strict=True))
    return {by_key[key]: target for key, target in confirmed.items()}


def apply_remembered(names: list[str], targets: dict[str, str]) -> dict[str, str]:
    """A remembered mapping ({identity: target}) as a mapping of this file's column keys."""
    by_identity = dict(zip(header_identities(names), column_keys(names), strict=True))
    return {by_identity[identity]: target for identity, target in targets.items() if identity in by_identity}


def parse_cli_mapping(items: list[str]) -> dict[str, str | None]:
    """``--map "Variant SKU=sku"`` options as a mapping; ``"Header="`` ignores a column."""
    columns: dict[str, str | None] = {}
    for item in items:
        header, sep, target = item.rpartition("=")
        if not sep or not header.strip():
            raise MappingInvalid(f"--map takes HEADER=TARGET (such as \"Variant SKU=sku\"), not '{item}'.")
        columns[header.strip()] = target.strip() or None
    return columns
