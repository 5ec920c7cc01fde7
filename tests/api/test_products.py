"""The product catalogue over HTTP: CRUD, case-insensitive SKUs, filters, ordering, paging."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product

pytestmark = pytest.mark.django_db


def make(*rows: tuple[str, str], **fields) -> list[Product]:
    return [Product.objects.create(sku=sku, name=name, **fields) for sku, name in rows]


def skus(response) -> list[str]:
    assert response.status_code == 200, response.data
    return [row["sku"] for row in response.data["results"]]


def test_create_trims_sku_and_name_and_answers_201(alice_client):
    response = alice_client.post(
        "/api/products/", {"sku": "  AB-1 ", "name": " Anvil  ", "description": " heavy "}
    )
    assert response.status_code == 201
    assert {k: response.data[k] for k in ("sku", "name", "description", "is_active")} == {
        "sku": "AB-1", "name": "Anvil", "description": " heavy ", "is_active": True,
    }
    assert Product.objects.get(pk=response.data["id"]).sku == "AB-1"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "No SKU"}, "sku"),
        ({"sku": "   ", "name": "Blank SKU"}, "sku"),
        ({"sku": "X" * 256, "name": "Long SKU"}, "sku"),
        ({"sku": "N-1"}, "name"),
        ({"sku": "N-1", "name": "N" * 256}, "name"),
    ],
)
def test_missing_blank_or_too_long_sku_or_name_is_400_on_that_field(alice_client, payload, field):
    response = alice_client.post("/api/products/", payload)
    assert response.status_code == 400
    assert response.data["code"] == "invalid"
    assert list(response.data["errors"]) == [field]
    assert response.data["detail"] == response.data["errors"][field][0]


@pytest.mark.parametrize("spelling", ["abc-1", "ABC-1", "Abc-1"])
def test_duplicate_sku_in_any_letter_case_is_400_with_a_clear_message(alice_client, spelling):
    make(("aBc-1", "Existing"))
    response = alice_client.post("/api/products/", {"sku": spelling, "name": "New"})
    assert response.status_code == 400
    message = f"A product with SKU '{spelling}' already exists (SKUs ignore letter case)."
    assert response.data == {"detail": message, "code": "invalid", "errors": {"sku": [message]}}
    assert Product.objects.count() == 1


def test_renaming_a_sku_onto_another_products_sku_is_400(alice_client):
    first, second = make(("ONE", "One"), ("TWO", "Two"))
    response = alice_client.patch(f"/api/products/{second.pk}/", {"sku": "one"})
    assert response.status_code == 400
    assert "already exists" in response.data["errors"]["sku"][0]
    second.refresh_from_db()
    assert second.sku == "TWO"


def test_changing_only_the_letter_case_of_its_own_sku_is_allowed(alice_client):
    (product,) = make(("abc", "Thing"))
    response = alice_client.patch(f"/api/products/{product.pk}/", {"sku": "ABC"})
    assert response.status_code == 200
    assert response.data["sku"] == "ABC"


def test_duplicate_that_slips_past_validation_is_still_400_not_500(alice_client, monkeypatch):
    # Another request (or an import) can insert the SKU between the serializer's check and the
    # INSERT; the unique index then decides, and the service turns that into the same 400.
    make(("RACE-1", "First"))
    monkeypatch.setattr("api.serializers.product_sku_taken", lambda **kwargs: False)
    response = alice_client.post("/api/products/", {"sku": "race-1", "name": "Second"})
    assert response.status_code == 400
    assert response.data["errors"] == {
        "sku": ["A product with SKU 'race-1' already exists (SKUs ignore letter case)."]
    }


def test_retrieve_put_patch_toggle_and_delete(alice_client):
    (product,) = make(("P-1", "Pen"))
    url = f"/api/products/{product.pk}/"
    assert alice_client.get(url).data["name"] == "Pen"

    put = alice_client.put(url, {"sku": "P-1", "name": "Pencil", "description": "HB"})
    assert put.status_code == 200
    assert (put.data["name"], put.data["description"]) == ("Pencil", "HB")

    off = alice_client.patch(url, {"is_active": False})
    assert off.status_code == 200 and off.data["is_active"] is False
    assert Product.objects.get(pk=product.pk).is_active is False
    assert alice_client.patch(url, {"is_active": True}).data["is_active"] is True

    assert alice_client.delete(url).status_code == 204
    assert alice_client.get(url).status_code == 404
    assert not Product.objects.exists()


def test_put_without_required_fields_is_400(alice_client):
    (product,) = make(("P-1", "Pen"))
    response = alice_client.put(f"/api/products/{product.pk}/", {"description": "only"})
    assert response.status_code == 400
    assert set(response.data["errors"]) == {"sku", "name"}


def test_unknown_product_is_404_in_the_error_shape(alice_client):
    response = alice_client.get("/api/products/999999/")
    assert response.status_code == 404
    assert response.data == {"detail": "Not found.", "code": "not_found"}


def test_sku_filter_is_a_case_insensitive_substring(alice_client):
    make(("ABC-100", "a"), ("xabc-2", "b"), ("ZZZ", "c"))
    assert sorted(skus(alice_client.get("/api/products/", {"sku": "aBc"}))) == ["ABC-100", "xabc-2"]


def test_sku_filter_treats_like_wildcards_literally(alice_client):
    make(("50%_OFF", "a"), ("500FF", "b"))
    assert skus(alice_client.get("/api/products/", {"sku": "0%_"})) == ["50%_OFF"]


def test_search_matches_sku_name_or_description_in_any_case(alice_client):
    Product.objects.create(sku="HAM-1", name="Claw", description="")
    Product.objects.create(sku="X-2", name="Sledge HAMMER", description="")
    Product.objects.create(sku="X-3", name="Tongs", description="for the hammersmith")
    Product.objects.create(sku="X-4", name="Saw", description="wood")
    assert sorted(skus(alice_client.get("/api/products/", {"search": "ham"}))) == ["HAM-1", "X-2", "X-3"]


def test_is_active_filter(alice_client):
    make(("ON", "a"))
    make(("OFF", "b"), is_active=False)
    assert skus(alice_client.get("/api/products/", {"is_active": "true"})) == ["ON"]
    assert skus(alice_client.get("/api/products/", {"is_active": "false"})) == ["OFF"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("sku", ["A", "B", "C"]),
        ("-sku", ["C", "B", "A"]),
        ("name", ["C", "A", "B"]),
        ("-name", ["B", "A", "C"]),
        ("id", ["B", "C", "A"]),
        ("-id", ["A", "C", "B"]),
    ],
)
def test_ordering(alice_client, ordering, expected):
    make(("B", "zebra"), ("C", "aardvark"), ("A", "monkey"))
    assert skus(alice_client.get("/api/products/", {"ordering": ordering})) == expected


def test_ordering_by_timestamps(alice_client):
    first, second = make(("OLD", "a"), ("NEW", "b"))
    first.save()  # now the most recently updated
    assert skus(alice_client.get("/api/products/", {"ordering": "-created_at"})) == ["NEW", "OLD"]
    assert skus(alice_client.get("/api/products/", {"ordering": "-updated_at"})) == ["OLD", "NEW"]


def test_equal_sort_keys_are_ordered_by_id_so_pages_never_overlap(alice_client):
    make(*[(f"S-{i}", "same name") for i in range(7)])
    seen = []
    for page in (1, 2, 3):
        seen += skus(alice_client.get("/api/products/", {"ordering": "name", "page_size": 3, "page": page}))
    assert seen == [f"S-{i}" for i in range(7)]


def test_unknown_ordering_is_400(alice_client):
    response = alice_client.get("/api/products/", {"ordering": "description"})
    assert response.status_code == 400
    assert "ordering" in response.data["errors"]


def test_pagination_shape_page_and_page_size(alice_client):
    make(*[(f"P-{i:03}", "x") for i in range(60)])
    first = alice_client.get("/api/products/")
    assert set(first.data) == {"count", "count_exact", "next", "previous", "results"}
    assert first.data["count"] == 60
    assert len(first.data["results"]) == 50
    assert first.data["previous"] is None
    assert "page=2" in first.data["next"]

    page = alice_client.get("/api/products/", {"page_size": 7, "page": 3, "ordering": "sku"})
    assert skus(page) == [f"P-{i:03}" for i in range(14, 21)]
    assert page.data["count"] == 60


def test_page_size_is_capped_at_1000(alice_client):
    Product.objects.bulk_create(Product(sku=f"P-{i:04}", name="x") for i in range(1005))
    response = alice_client.get("/api/products/", {"page_size": 5000})
    assert len(response.data["results"]) == 1000


def test_page_past_the_end_is_404(alice_client):
    make(("ONLY", "one"))
    response = alice_client.get("/api/products/", {"page": 5})
    assert response.status_code == 404
    assert response.data["code"] == "not_found"


def test_filters_are_counted_and_paged_together(alice_client):
    make(*[(f"KEEP-{i}", "x") for i in range(5)])
    make(*[(f"DROP-{i}", "x") for i in range(5)])
    response = alice_client.get("/api/products/", {"sku": "keep", "page_size": 2})
    assert response.data["count"] == 5
    assert len(response.data["results"]) == 2


def test_a_page_is_two_queries_however_many_rows(alice_client):
    # More matches than a page (50): the page, then the count (a shorter list needs no count).
    make(*[(f"Q-{i}", "x") for i in range(60)])
    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get("/api/products/", {"search": "q", "ordering": "-updated_at"})
    assert response.status_code == 200
    product_queries = [q["sql"] for q in queries.captured_queries if "catalog_product" in q["sql"]]
    # The count and the page; a search also probes the density of its matches among the first
    # products, to choose their plans (catalog.search.match_density).
    probes = [sql for sql in product_queries if 'AS "matches"' in sql or "FROM pg_class" in sql]
    assert len(probes) == 2
    product_queries = [sql for sql in product_queries if sql not in probes]
    assert len(product_queries) == 2
    count_sql = next(sql for sql in product_queries if "COUNT(" in sql.upper())
    assert "ORDER BY" not in count_sql.upper()


def test_browsable_api_renders_the_product_list_with_its_filters(client, user):
    make(("HTML-1", "Shown"))
    client.force_login(user)
    response = client.get("/api/products/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    html = response.content.decode()
    assert "HTML-1" in html and 'name="search"' in html


@pytest.mark.django_db
@pytest.mark.parametrize("time_zone", ["UTC", "Europe/Paris"])
def test_product_json_equals_what_drfs_generic_serializer_gives(settings, time_zone):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from rest_framework import serializers

    from api.serializers import ProductSerializer

    settings.TIME_ZONE = time_zone
    whole_second = Product.objects.create(sku="Ab-1", name="Crème <b>", description="x\ny")
    Product.objects.filter(pk=whole_second.pk).update(
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("UTC")), is_active=False
    )
    fractional = Product.objects.create(sku="ab-2", name="n", description="")
    for product in Product.objects.filter(pk__in=[whole_second.pk, fractional.pk]):
        fast = ProductSerializer(product).data
        generic = serializers.ModelSerializer.to_representation(ProductSerializer(), product)
        assert fast == dict(generic)
        assert list(fast) == list(generic)
