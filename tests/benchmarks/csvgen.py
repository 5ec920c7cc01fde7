"""Realistic product CSVs for benchmarks and large tests.

About 5% of rows repeat an earlier SKU in another letter case, a tenth of descriptions are quoted
and span several lines, and names and descriptions mix in non-ASCII text. SKUs themselves are
ASCII, so a test may compute the expected catalogue with Python's ``str.lower()`` (which agrees
with PostgreSQL's ``lower()`` on ASCII).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

_WORDS = (
    "steel oak linen cotton ceramic walnut copper matte glossy compact deluxe classic "
    "ergonomic wireless vintage organic recycled premium portable modular"
).split()
_ACCENTED = ["Crème brûlée", "Müsli", "Smørrebrød", "Jalapeño", "Façade", "Ærø", "Straße", "Œuvre", "İstanbul", "東京"]


def generate_products_csv(path: Path, rows: int, *, seed: int = 7, duplicate_ratio: float = 0.05,
                          variant: str = "") -> Path:
    """Write ``rows`` data rows to ``path`` and return it.

    ``variant`` is appended to names, so the same SKUs can be written with different content
    (the update path of a benchmark).
    """
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["SKU", "Name", "Description"])
        for index in range(rows):
            if index > 100 and rng.random() < duplicate_ratio:
                earlier = rng.randrange(index)
                # Always a different spelling of an earlier SKU, so de-duplication is case-insensitive.
                sku = f"sku-{earlier:08d}-x" if rng.random() < 0.5 else f"Sku-{earlier:08d}-X"
            else:
                sku = f"SKU-{index:08d}-X"
            words = rng.sample(_WORDS, 4)
            name = f"{words[0].title()} {words[1]} {rng.choice(_ACCENTED)} {index}{variant}"
            description = " ".join(rng.choices(_WORDS, k=17)) + " " + rng.choice(_ACCENTED).lower()
            if rng.random() < 0.1:
                description = f'{description}\nSecond line, with "quotes", commas\nand a third line'
            writer.writerow([sku, name, description])
    return path
