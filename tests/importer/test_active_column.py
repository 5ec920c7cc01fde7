"""An ``is_active`` column in the file sets each product's state; without it, nothing changes.

With the column, each row must say true or false (or yes/no, 1/0, active/inactive,
published/draft, in any case); anything else, empty included, is a row error that names the value.
Without it a new product is active and an existing one keeps its state (the README's rule).
"""

from __future__ import annotations

import pytest

from catalog.models import Product
from tests.support.pipeline import errors_by_line, import_bytes

pytestmark = pytest.mark.django_db


def states() -> dict[str, bool]:
    return dict(Product.objects.values_list("sku", "is_active"))


@pytest.mark.parametrize(
    ("cell", "active"),
    [
        ("true", True),
        ("FALSE", False),
        (" Yes ", True),
        ("no", False),
        ("1", True),
        ("0", False),
        ("Active", True),
        ("inactive", False),
        ("published", True),
        ("Draft", False),
    ],
)
def test_each_spelling_sets_the_state(cell, active):
    import_bytes(f"sku,name,is_active\nA-1,Lamp,{cell}\n".encode())
    assert states() == {"A-1": active}


def test_other_values_are_row_errors_and_the_rest_imports():
    result = import_bytes(b"sku,name,Is_Active\nA-1,Lamp,maybe\nA-2,Desk,\nA-3,Chair,false\n")
    assert errors_by_line(result) == {
        2: "is_active is 'maybe'; use true or false (also yes/no, 1/0, active/inactive, published/draft)",
        3: "is_active is empty; use true or false (also yes/no, 1/0, active/inactive, published/draft)",
    }
    assert states() == {"A-3": False}


def test_the_column_changes_existing_products_and_counts_a_state_change_as_an_update():
    Product.objects.create(sku="A-1", name="Lamp", is_active=True)
    Product.objects.create(sku="A-2", name="Desk", is_active=False)

    result = import_bytes(b"sku,name,is_active\nA-1,Lamp,false\nA-2,Desk,false\n")

    assert (result.progress.updated, result.progress.unchanged) == (1, 1)
    assert states() == {"A-1": False, "A-2": False}


def test_without_the_column_existing_products_keep_their_state_and_new_ones_are_active():
    Product.objects.create(sku="A-1", name="Lamp", is_active=False)
    import_bytes(b"sku,name\nA-1,Lamp renamed\nA-2,Desk\n")
    assert states() == {"A-1": False, "A-2": True}


def test_the_last_row_of_a_repeated_sku_decides_also_when_it_waited_for_the_end_of_the_file():
    rows = "".join(f"FILL-{index},Filler,true\n" for index in range(30))
    data = f"sku,name,is_active\nREP-1,First,false\n{rows}rep-1,Last,true\nREP-2,Only,false\n".encode()

    result = import_bytes(data, chunk_size=8)

    assert result.progress.superseded == 1
    assert Product.objects.get(sku__iexact="rep-1").is_active is True
    assert states()["REP-2"] is False
