"""GET /api/products/export/: the products a list selects, streamed as CSV that imports back.

- The list's filters and ordering apply; every matching product is in it (no paging).
- Columns sku,name,description,is_active,created_at,updated_at; dates as the API writes them.
- Awkward values (commas, quotes, line breaks, non-Latin text, formula-like starts) survive an
  export → delete all → import of the export.
- ``excel_safe=true`` neutralises formula-like cells; a bad value is a 400.
"""

from __future__ import annotations

import csv
import io

import pytest

from catalog.models import Product
from importer import services
from importer.models import ImportJob

pytestmark = pytest.mark.django_db

AWKWARD = [
    ("AW-1", 'Comma, and "quotes"', "line one\nline two\r\nline three"),
    ("aw-2", "Ünïcødé — 日本語 — العربية", "emoji 🎉 and tabs\tinside"),
    ("=AW-3", "=SUM(A1:A2)", "+formula-like -start @too"),
    ("AW-4", "Spaces kept in a description", "   two spaces  around  "),
    ("AW-5", "Empty description", ""),
]


def exported(client, query: str = "") -> list[list[str]]:
    response = client.get(f"/api/products/export/{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="products-')
    body = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(body, newline="")))


def test_every_matching_product_in_the_lists_order_with_its_columns(alice_client):
    for index in range(1, 8):
        Product.objects.create(sku=f"EX-{index}", name=f"Lamp {index}", is_active=index % 2 == 1)
    Product.objects.create(sku="OTHER-1", name="Chair")

    rows = exported(alice_client, "?search=lamp&is_active=true&ordering=-sku")

    assert rows[0] == ["sku", "name", "description", "is_active", "created_at", "updated_at"]
    assert [row[0] for row in rows[1:]] == ["EX-7", "EX-5", "EX-3", "EX-1"]
    assert {row[3] for row in rows[1:]} == {"true"}
    listed = alice_client.get("/api/products/?sku=EX-7").json()["results"][0]
    assert rows[1][4:] == [listed["created_at"], listed["updated_at"]]
    assert len(exported(alice_client)) == 1 + 8


def test_an_export_imports_back_exactly(alice_client, staff_client):
    for index, (sku, name, description) in enumerate(AWKWARD):
        Product.objects.create(sku=sku, name=name, description=description, is_active=index % 2 == 0)
    before = sorted(Product.objects.values_list("sku", "name", "description", "is_active"))
    body = b"".join(alice_client.get("/api/products/export/").streaming_content)

    assert (
        staff_client.post("/api/products/bulk-delete/", {"confirm": True}, format="json").status_code == 200
    )
    started = alice_client.post("/api/imports/", {"file": io.BytesIO(body)}, format="multipart")
    services.import_job_run(job_id=started.json()["id"])

    job = ImportJob.objects.get(pk=started.json()["id"])
    assert (job.status, job.created_rows, job.skipped_rows) == ("completed", len(AWKWARD), 0), job.message
    assert sorted(Product.objects.values_list("sku", "name", "description", "is_active")) == before


def test_excel_safe_neutralises_formula_like_cells(alice_client):
    Product.objects.create(sku="=HYPERLINK(1)", name="@name", description="-1+2")
    Product.objects.create(sku="PLAIN", name="Plain", description="a=b")

    rows = {row[0]: row for row in exported(alice_client, "?excel_safe=true")[1:]}

    assert rows["'=HYPERLINK(1)"][1:3] == ["'@name", "'-1+2"]
    assert rows["PLAIN"][1:3] == ["Plain", "a=b"]


def test_a_bad_excel_safe_or_filter_value_is_a_400_in_the_error_shape(alice_client):
    for query in ("?excel_safe=perhaps", "?is_active=maybe"):
        response = alice_client.get(f"/api/products/export/{query}")
        assert response.status_code == 400, (query, response.content)


def test_anonymous_clients_get_401(anonymous):
    assert anonymous.get("/api/products/export/").status_code == 401
