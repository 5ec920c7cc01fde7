"""``?search=`` over HTTP: word search, best matches first, hostile text, and the plans behind it."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Product
from catalog.search import SEARCH_MAX_LENGTH

pytestmark = pytest.mark.django_db


def skus(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [p["sku"] for p in response.json()["results"]]


@pytest.fixture
def shoes():
    for sku, name, description in [
        ("P-1", "Blue sandal", "goes with red shoes"),
        ("P-2", "Red Shoes", "leather"),
        ("P-3", "Córdoba boots", "red"),
        ("P-4", "Red shoelaces", ""),
    ]:
        Product.objects.create(sku=sku, name=name, description=description)


def test_a_search_finds_every_word_best_matches_first(alice_client, shoes):
    response = alice_client.get("/api/products/", {"search": "red shoes"})
    assert skus(response) == ["P-2", "P-1"]
    assert (response.json()["count"], response.json()["count_exact"]) == (2, True)


def test_results_while_typing(alice_client, shoes):
    assert skus(alice_client.get("/api/products/", {"search": "red sh"})) == ["P-2", "P-4", "P-1"]
    assert skus(alice_client.get("/api/products/", {"search": "CORDOBA"})) == ["P-3"]


def test_an_ordering_replaces_the_best_first_order(alice_client, shoes):
    response = alice_client.get("/api/products/", {"search": "red sh", "ordering": "-sku"})
    assert skus(response) == ["P-4", "P-2", "P-1"]


def test_pages_of_a_search_walk_both_tiers_once(alice_client):
    for i in range(30):
        # Every third product has the word in its name; the others in the description only.
        Product.objects.create(
            sku=f"W-{i:02d}", name="Walnut" if i % 3 == 0 else "Table", description="walnut"
        )
    names = [f"W-{i:02d}" for i in range(30) if i % 3 == 0]
    others = [f"W-{i:02d}" for i in range(30) if i % 3]
    seen = []
    body = alice_client.get("/api/products/?search=walnut&page_size=7").json()
    assert body["count"] == 30
    seen += [p["sku"] for p in body["results"]]
    while body["next"]:
        body = alice_client.get(body["next"]).json()
        seen += [p["sku"] for p in body["results"]]
    assert seen == names + others
    last = alice_client.get("/api/products/?search=walnut&page_size=7&page=last").json()
    assert [p["sku"] for p in last["results"]] == seen[28:]


def test_an_export_of_a_search_lists_its_rows_in_the_pages_order(alice_client, shoes):
    response = alice_client.get("/api/products/export/", {"search": "red"})
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert [row[0] for row in rows[1:]] == ["P-2", "P-4", "P-1", "P-3"]


@pytest.mark.parametrize(
    "text",
    [
        ":",
        "&",
        "!",
        "|",
        "(",
        ")",
        "'",
        '"',
        "\\",
        "*",
        ":*",
        "a:*",
        "a & b",
        "!a",
        "a <-> b",
        "<2>",
        "a:A",
        "'a'",
        "a''",
        "\\'",
        "'\\",
        "%",
        "_",
        "--",
        "-",
        "—",
        "💥",
        "㈠",
        "ﬁ½",
        "a\u0301",
        "\u200b",
        "\ufeff",
        "or",
        "and",
        "a or",
        "'); DROP TABLE catalog_product; --",
        "\t\n",
        "%00",
    ],
)
def test_hostile_searches_answer_200(alice_client, shoes, text):
    response = alice_client.get("/api/products/", {"search": text})
    assert response.status_code == 200, (text, response.content)
    assert "results" in response.json()


def test_a_search_with_a_nul_character_is_a_400_not_a_500(alice_client, shoes):
    response = alice_client.get("/api/products/?search=red%00shoes")
    assert response.status_code == 400
    assert "search" in json.dumps(response.json())


def test_an_overlong_search_is_a_400(alice_client, shoes):
    response = alice_client.get("/api/products/", {"search": "red " * SEARCH_MAX_LENGTH})
    assert response.status_code == 400
    assert "search" in response.json().get("errors", response.json())


def test_a_search_of_no_words_lists_everything(alice_client, shoes):
    assert len(skus(alice_client.get("/api/products/", {"search": "!!!"}))) == 4


# --- Plans: served by an index, never a sort of the table --------------------------------------


@pytest.fixture
def big_catalogue():
    """20,000 products (enough that a sort of the table costs more than an index), analysed."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO catalog_product (sku, name, description, is_active, created_at, updated_at)
            SELECT 'SKU-' || n, 'Product ' || md5(n::text), CASE WHEN n % 10 = 0 THEN 'walnut' ELSE 'oak' END,
                   n % 7 <> 0, now() - n * interval '1 minute', now() - (n % 997) * interval '1 second'
            FROM generate_series(1, 20000) AS n
            """
        )
        cursor.execute("ANALYZE catalog_product")


def _plan_of_the_page(client, query: str) -> list[dict]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"/api/products/?{query}")
    assert response.status_code == 200
    pages = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "catalog_product"' in q["sql"] and "LIMIT" in q["sql"] and "COUNT(" not in q["sql"].upper()
    ]
    assert pages, queries.captured_queries
    plans = []
    with connection.cursor() as cursor:
        for sql in pages:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            plans.append((json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"])
    return plans


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _sorted_rows(plans: list[dict]) -> list[float]:
    """How many rows each Sort node of the plans expects to sort."""
    return [
        node["Plan Rows"]
        for plan in plans
        for node in _nodes(plan)
        if node["Node Type"] in ("Sort", "Incremental Sort")
    ]


@pytest.mark.parametrize(
    "field", ["name", "-name", "sku", "-sku", "created_at", "-created_at", "updated_at", "-updated_at"]
)
def test_each_ordering_is_read_from_an_index(alice_client, big_catalogue, field):
    plans = _plan_of_the_page(alice_client, f"ordering={field}")
    assert _sorted_rows(plans) == []
    bare = field.lstrip("-")
    index = {"name": "name_id", "sku": "sku_id", "created_at": "created_id", "updated_at": "updated_id"}[bare]
    assert any(
        node.get("Index Name") == f"catalog_product_{index}" for plan in plans for node in _nodes(plan)
    )


@pytest.mark.parametrize("field", ["name", "-sku", "updated_at"])
def test_a_deep_ordered_page_sorts_only_its_own_rows(alice_client, big_catalogue, field):
    plans = _plan_of_the_page(alice_client, f"ordering={field}&page=40")  # rows 1,951-2,000: ids first
    assert all(rows <= 51 for rows in _sorted_rows(plans)), plans
    assert not any(node["Node Type"] == "Seq Scan" for plan in plans for node in _nodes(plan)), plans


def test_a_common_word_is_read_in_id_order_without_sorting_its_matches(alice_client, big_catalogue):
    # "oak" is in 90% of descriptions and no name: the name tier is (expected to be) nearly empty,
    # the description tier is a walk of the primary key that stops after a page of matches.
    plans = _plan_of_the_page(alice_client, "search=oak")
    assert all(rows <= 51 for rows in _sorted_rows(plans)), plans
    assert any(node.get("Index Name") == "catalog_product_pkey" for plan in plans for node in _nodes(plan))


def test_a_rare_word_is_found_through_the_search_index(alice_client, big_catalogue):
    plans = _plan_of_the_page(alice_client, "search=sku 12345")
    used = {node.get("Index Name") for plan in plans for node in _nodes(plan)}
    assert "catalog_product_search" in used
    assert not any(node["Node Type"] == "Seq Scan" for plan in plans for node in _nodes(plan))
