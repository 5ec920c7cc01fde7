"""The product list's count and pages agree with the catalogue, whatever the filter."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from catalog import selectors
from catalog.models import Product

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    Product.objects.bulk_create(
        Product(sku=f"SKU-{n:04d}", name=f"Walnut table {n}" if n % 5 == 0 else f"Oak chair {n}",
                description="solid wood" if n % 7 == 0 else "", is_active=n % 3 != 0)
        for n in range(1, 121)
    )


def all_ids(client, query: str) -> tuple[int, list[int]]:
    body = client.get(f"/api/products/?page_size=25&{query}").json()
    count, ids = body["count"], [p["id"] for p in body["results"]]
    while body["next"]:
        body = client.get(body["next"]).json()
        ids += [p["id"] for p in body["results"]]
    return count, ids


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {}),
        ("is_active=true", {"is_active": True}),
        ("is_active=false", {"is_active": False}),
        ("sku=sku-00", {"sku__icontains": "SKU-00"}),
        ("search=WALNUT", {"name__icontains": "walnut"}),
        ("search=solid", {"description__icontains": "solid"}),
        ("is_active=false&search=walnut", {"is_active": False, "name__icontains": "walnut"}),
    ],
)
def test_count_and_pages_equal_the_matching_products(alice_client, catalogue, query, expected):
    matching = list(Product.objects.filter(**expected).order_by("id").values_list("id", flat=True))
    count, ids = all_ids(alice_client, query)
    assert count == len(matching)
    assert ids == matching


def test_count_says_it_is_exact(alice_client, catalogue):
    body = alice_client.get("/api/products/?search=walnut").json()
    assert body["count_exact"] is True


def test_a_text_filter_with_very_many_matches_reports_an_estimate(alice_client, catalogue, monkeypatch):
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 10)
    body = alice_client.get("/api/products/?sku=sku").json()
    assert body["count_exact"] is False
    assert body["count"] > 10
    assert len(body["results"]) == 50


def test_the_last_page_in_descending_order_ends_with_the_first_product(alice_client, catalogue, monkeypatch):
    monkeypatch.setattr(selectors, "OFFSET_IS_CHEAP_BELOW", 0)
    body = alice_client.get("/api/products/?ordering=-id&page=last&page_size=50").json()
    first = Product.objects.order_by("id").first()
    assert body["results"][-1]["id"] == first.id
    assert len(body["results"]) == 120 - 2 * 50


@pytest.mark.parametrize("value", ["k", "U-", "-0"])
def test_one_and_two_character_sku_filters_match_in_any_case(alice_client, catalogue, value):
    Product.objects.create(sku="x.k+1", name="Dots and plus")
    expected = sorted(p.id for p in Product.objects.all() if value.lower() in p.sku.lower())
    count, ids = all_ids(alice_client, f"sku={quote(value)}")
    assert (count, ids) == (len(expected), expected)


def test_a_filter_that_ends_on_its_first_page_is_counted_from_the_page_alone(alice_client, catalogue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        body = alice_client.get("/api/products/?search=walnut table 10&page_size=25").json()
    assert (body["count"], body["count_exact"]) == (len(body["results"]), True)
    assert body["count"] == Product.objects.filter(name__icontains="walnut table 10").count() == 3
    products_queries = [q["sql"] for q in queries.captured_queries if "catalog_product" in q["sql"]]
    # The page's two tiers (name matches, then description matches) and the search's density
    # probe over the first products (catalog.search.match_density); no COUNT of the list.
    assert not any("COUNT(*)" in sql.upper() for sql in products_queries), products_queries
    rows = [sql for sql in products_queries if sql.startswith('SELECT "catalog_product"."id", "catalog_product"."sku"')]
    assert len(rows) == 2, products_queries


@pytest.mark.parametrize("page", ["6", "99", "last"])
def test_pages_past_the_end_or_named_last_behave_as_before(alice_client, catalogue, page):
    # 120 products, 25 per page: page 5 is the last (20 products); 6 and 99 do not exist.
    response = alice_client.get(f"/api/products/?page_size=25&page={page}")
    if page == "last":
        assert response.status_code == 200
        assert len(response.json()["results"]) == 20
        assert response.json()["count"] == 120
    else:
        assert response.status_code == 404


@pytest.fixture
def estimate_far_below_the_truth(monkeypatch):
    """A count capped at 10 matches, and an estimate (11) far below the 120 real ones.

    PostgreSQL's estimate of a small table is noise; fixing it makes the test say what it means:
    the estimate of a large catalogue is just as free to miss (22,000 reported as 10,001).
    """
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 10)
    monkeypatch.setattr(selectors, "_estimated_rows", lambda products: 11)


def test_next_walks_every_match_past_an_estimate_that_falls_short(
    alice_client, catalogue, estimate_far_below_the_truth
):
    first = alice_client.get("/api/products/?page_size=25&sku=sku").json()
    assert first["count_exact"] is False
    assert first["count"] == 26  # the estimate (11), raised to the 25 rows shown and one more
    assert first["next"]

    count, ids = all_ids(alice_client, "sku=sku")
    assert ids == list(Product.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == 120


@pytest.mark.parametrize("page_size", [7, 25, 40])
def test_next_walks_every_match_whatever_postgresql_estimates(
    alice_client, catalogue, monkeypatch, page_size
):
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 10)
    body = alice_client.get(f"/api/products/?page_size={page_size}&search=s").json()
    assert body["count_exact"] is False
    ids = [p["id"] for p in body["results"]]
    while body["next"]:
        body = alice_client.get(body["next"]).json()
        ids += [p["id"] for p in body["results"]]

    def has_word_starting_with_s(text: str) -> bool:
        return any(word.startswith("s") for word in text.lower().replace("-", " ").split())

    everything = Product.objects.order_by("id")
    # Every SKU starts with "sku": all in the first tier (name/SKU), in id order.
    expected = [p.id for p in everything if has_word_starting_with_s(f"{p.sku} {p.name}")]
    expected += [p.id for p in everything if p.id not in expected and has_word_starting_with_s(p.description)]
    assert len(expected) > 10
    assert ids == expected


@pytest.mark.parametrize(("page", "rows"), [(2, 25), (4, 25), (5, 20)])
def test_pages_past_the_estimate_that_have_rows_are_answered(
    alice_client, catalogue, estimate_far_below_the_truth, page, rows
):
    response = alice_client.get(f"/api/products/?page_size=25&sku=sku&page={page}")
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == rows
    # Never fewer than the rows already known to exist; exact once the page shows the end.
    if page == 5:
        assert (body["count"], body["count_exact"], body["next"]) == (120, True, None)
    else:
        assert body["count"] > page * 25
        assert body["count_exact"] is False
        assert f"page={page + 1}" in body["next"]


def test_a_page_past_the_real_end_is_404_whatever_the_estimate(alice_client, catalogue, monkeypatch):
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 10)
    monkeypatch.setattr(selectors, "_estimated_rows", lambda products: 100_000)
    assert alice_client.get("/api/products/?page_size=25&sku=sku&page=5").status_code == 200
    response = alice_client.get("/api/products/?page_size=25&sku=sku&page=6")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_next_stops_at_the_real_end_when_the_estimate_overshoots(alice_client, catalogue, monkeypatch):
    monkeypatch.setattr(selectors, "EXACT_COUNT_LIMIT", 10)
    monkeypatch.setattr(selectors, "_estimated_rows", lambda products: 100_000)
    body = alice_client.get("/api/products/?page_size=25&sku=sku").json()
    assert (body["count"], body["count_exact"]) == (100_000, False)
    pages = 1
    while body["next"]:
        body = alice_client.get(body["next"]).json()
        pages += 1
    assert pages == 5
    # The last page showed where the list ends, so the count it reports is exact.
    assert (body["count"], body["count_exact"]) == (120, True)


def test_last_page_of_an_estimated_list_is_its_real_last_page(
    alice_client, catalogue, estimate_far_below_the_truth
):
    body = alice_client.get("/api/products/?page_size=25&sku=sku&page=last").json()
    assert (body["count"], body["count_exact"], body["next"]) == (120, True, None)
    assert len(body["results"]) == 20


def test_a_later_page_that_ends_the_list_is_counted_from_the_page_alone(alice_client, catalogue):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        body = alice_client.get("/api/products/?sku=sku-00&page_size=50&page=2").json()
    # SKU-0001..SKU-0099: 99 matches, page 2 holds 49.
    assert (body["count"], body["next"], len(body["results"])) == (99, None, 49)
    products_queries = [q["sql"] for q in queries.captured_queries if "catalog_product" in q["sql"]]
    assert len(products_queries) == 1, products_queries
