"""The word search's rules: what a search box's text finds, and in which order."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog import selectors
from catalog.models import Product
from catalog.search import text_search

pytestmark = pytest.mark.django_db


def make(*rows: tuple[str, str, str]) -> dict[str, int]:
    """Products from (sku, name, description); their ids by SKU."""
    return {
        sku: Product.objects.create(sku=sku, name=name, description=description).id
        for sku, name, description in rows
    }


def found(text: str) -> list[str]:
    """The SKUs a search lists, in the order its pages show them."""
    products = selectors.products_matching_text(selectors.product_list(), text=text)
    return [p.sku for p in selectors.product_page(products=products, start=0, stop=1000)]


@pytest.fixture
def shoes():
    return make(
        ("P-1", "Red Shoes", "leather, size 42"),
        ("P-2", "Blue shoes", "for a red carpet"),
        ("P-3", "Shoes, red", ""),
        ("P-4", "Red Ashes", "shoebox included"),
        ("P-5", "Garden hose", "green"),
    )


def test_every_word_must_be_found_in_the_name_sku_or_description(shoes):
    assert found("red shoes") == ["P-1", "P-3", "P-2"]  # SH-2: "red" only in its description
    assert found("blue carpet") == ["P-2"]
    assert found("red hose") == []


def test_words_are_found_in_any_field_together(shoes):
    assert found("p 5 green") == ["P-5"]  # SKU parts, then the description


def test_the_last_word_is_a_prefix_while_typing(shoes):
    assert found("red sh") == ["P-1", "P-3", "P-2", "P-4"]  # SH-4: "shoebox"
    assert found("garden ho") == ["P-5"]


def test_only_the_last_word_is_a_prefix(shoes):
    assert found("re shoes") == []
    assert found("red shoes ") == ["P-1", "P-3", "P-2"]


def test_a_prefix_matches_the_start_of_a_word_only(shoes):
    assert found("hoes") == []  # "shoes" does not start with it: use the sku filter for fragments


def test_case_does_not_matter(shoes):
    assert found("RED SHOES") == found("red shoes") == found("rEd sHoEs")


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("Córdoba", "cordoba"),
        ("cordoba", "CÓRDOBA"),
        ("Crème brûlée", "creme brulee"),
        ("Straße", "strasse"),
        ("Smørrebrød", "smorrebrod"),
        ("Ærø", "aero"),
        ("Œuvre", "oeuvre"),
        ("İstanbul", "istanbul"),
        ("Łódź", "lodz"),
        ("Jalapeño", "JALAPENO"),
    ],
)
def test_accents_do_not_matter(stored, typed):
    make(("ACC-1", f"Souvenir from {stored}", ""), ("ACC-2", "Something else", ""))
    assert found(typed) == ["ACC-1"]
    assert found(stored) == ["ACC-1"]


def test_accents_are_folded_by_unaccent_where_postgresql_has_it():
    # Migration 0009: unaccent (C, per word) where the server has it, the SQL fold elsewhere; the
    # products' words and the query's go through the same one, so the rules above hold on both.
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'unaccent'")
        has_unaccent = cursor.fetchone() is not None
        cursor.execute("SELECT dictionaries::text[] FROM ts_debug('catalog_search', 'Córdoba')")
        (dictionaries,) = cursor.fetchone()
        cursor.execute("SELECT catalog_search_words('Córdoba'), catalog_search_query_text('Córdoba')")
        words, query = cursor.fetchone()
    if has_unaccent:
        assert dictionaries == ["unaccent", "simple"]
        assert (words, query) == ("Córdoba", "Córdoba")  # left to the dictionary
    else:
        assert dictionaries == ["simple"]
        assert (words, query) == ("Cordoba", "Cordoba")
    assert found("cordoba") == found("CÓRDOBA") == []
    make(("ACC-9", "Córdoba guitar", ""))
    assert found("cordoba") == found("CÓRDOBA") == found("Córdo") == ["ACC-9"]


def test_text_without_accents_folding_is_found_as_written():
    make(("CJK-1", "東京 tea", ""), ("CYR-1", "Москва map", ""))
    assert found("東京") == ["CJK-1"]
    assert found("москва") == ["CYR-1"]


@pytest.mark.parametrize(
    "typed", ["lpy", "LPY", "0004321", "lpy-0004321", "LPY-0004321", "lpy-00043", "0004"]
)
def test_skus_are_split_into_searchable_parts(typed):
    make(("LPY-0004321", "Lamp", ""), ("QRS-0009999", "Rug", ""))
    assert found(typed) == ["LPY-0004321"]


@pytest.mark.parametrize("sku", ["AB_12/34.x", "AB:12+34#x", "ab@12.34"])
def test_sku_separators_split_words_on_both_sides(sku):
    make((sku, "Thing", ""))
    assert found("ab 12 34") == [sku]
    assert found(sku) == [sku]


def test_name_and_sku_matches_come_before_description_matches_each_in_id_order():
    ids = make(
        ("D-1", "Chair", "a walnut chair"),
        ("N-1", "Walnut table", ""),
        ("D-2", "Stool", "walnut legs"),
        ("N-2", "Walnut shelf", "walnut"),
        ("WALNUT-9", "Box", ""),
    )
    assert found("walnut") == ["N-1", "N-2", "WALNUT-9", "D-1", "D-2"]
    assert ids["D-1"] < ids["N-1"]  # id order alone would have put D-1 first


def test_a_product_is_in_the_first_tier_only_if_every_word_is_in_its_name_or_sku():
    make(("X-1", "Walnut table", "oak legs"), ("X-2", "Walnut oak table", ""))
    assert found("walnut oak") == ["X-2", "X-1"]


def test_an_explicit_ordering_overrides_the_tiers():
    make(("B", "Chair", "walnut"), ("A", "Walnut table", ""), ("C", "Walnut box", ""))
    products = selectors.products_matching_text(selectors.product_list(), text="walnut")
    assert [p.sku for p in selectors.products_ordered(products, ordering=["sku"])] == ["A", "B", "C"]
    assert [p.sku for p in selectors.products_ordered(products, ordering=["-name"])] == ["A", "C", "B"]


def test_a_quoted_phrase_must_appear_as_written(shoes):
    assert found('"red shoes"') == ["P-1"]
    assert found('"shoes red"') == ["P-3"]


def test_a_quoted_last_word_is_not_a_prefix(shoes):
    assert found('"red sh"') == []
    assert found('"red sh') == []  # a phrase still being typed: no prefix either


def test_a_minus_excludes_a_word(shoes):
    assert found("shoes -red") == []  # P-2 says "red" in its description
    assert found("shoes -carpet") == ["P-1", "P-3"]
    assert found("shoes -blue") == ["P-1", "P-3"]
    assert found("-red shoes") == []


def test_an_excluded_last_word_is_not_a_prefix(shoes):
    # "-re" excludes the word "re", not every word that starts with it.
    assert found("shoes -re") == ["P-1", "P-2", "P-3"]


@pytest.mark.parametrize("text", ["", "   ", "!", "&&", ":*", "''", '"', "-", "()", "<->", "\\"])
def test_text_without_words_filters_nothing(shoes, text):
    assert len(found(text)) == len(shoes)


@pytest.mark.parametrize(
    "text",
    [
        "red:*",
        "red & shoes",
        "red | blue",
        "!red",
        "red <-> shoes",
        "(red",
        "red)",
        "'red'",
        "red'':*",
        "red\\",
        "a:*b",
        "red:A",
        "shoes:*A",
        "'''",
        "\\'",
        "㈠",
        "½",
        "ﬁ",
        "red\u0301",
        "red\u200bshoes",
        "or",
        "red or",
        '-"red"',
        '""red""',
        "*",
        "red*",
        "%",
        "_",
        "red -",
        "--red",
        "red --",
    ],
)
def test_hostile_text_is_a_search_like_any_other(shoes, text):
    search = text_search(text)
    with connection.cursor() as cursor:
        if search.matches:
            cursor.execute("SELECT %s::tsquery", [search.matches])  # valid
    found(text)


def test_the_tsquery_is_built_from_postgresqls_own_parse():
    assert text_search("Red sh").matches == "'red' & 'sh':*"
    assert text_search('"red shoes" -blue').matches == "'red' <-> 'shoes' & !'blue'"
    assert text_search("it's").matches == "'it' <-> 's':*"


def test_a_search_sees_what_was_written_in_the_same_way_by_any_writer():
    # The column is PostgreSQL's: an INSERT that knows nothing of it (as the importer's) fills it.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_product (sku, name, description) VALUES ('RAW-1', 'Raw insert', 'Zebra')"
        )
    assert found("zebra") == ["RAW-1"]
    product = Product.objects.get(sku="RAW-1")
    product.name = "Renamed giraffe"
    product.save()
    assert found("giraffe") == ["RAW-1"]
    assert found("raw insert") == []


def test_pages_cross_from_the_first_tier_into_the_second():
    make(*[(f"D-{i}", "Thing", "walnut") for i in range(5)])
    make(*[(f"N-{i}", f"Walnut {i}", "") for i in range(7)])
    products = selectors.products_matching_text(selectors.product_list(), text="walnut")
    everything = [p.sku for p in selectors.product_page(products=products, start=0, stop=100)]
    assert everything == [f"N-{i}" for i in range(7)] + [f"D-{i}" for i in range(5)]
    for size in (1, 2, 3, 5, 7, 11):
        paged = []
        for start in range(0, 12, size):
            paged += [
                p.sku for p in selectors.product_page(products=products, start=start, stop=start + size)
            ]
        assert paged == everything, size


def test_the_count_counts_both_tiers():
    make(("D-1", "Thing", "walnut"), ("N-1", "Walnut", ""), ("X-1", "Other", "oak"))
    products = selectors.products_matching_text(selectors.product_list(), text="walnut")
    assert selectors.product_count(products=products) == selectors.ProductCount(2)
