"""Searching the catalogue as you type: best matches first, the matched words marked in the rows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

from catalog.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def catalogue(transactional_db) -> None:
    Product.objects.bulk_create(
        [
            Product(sku="BS-1", name="Blue sandal", description="Goes with red shoes"),
            Product(sku="RS-2", name="Red Shoes", description="Leather"),
            Product(sku="CB-3", name="Córdoba boots", description="Hand made"),
            Product(sku="RL-4", name="Red shoelaces", description=""),
            Product(sku="XSS-5", name='<img src=x onerror="window.hacked=1"> red shoe', description=""),
            *(Product(sku=f"F-{n:02d}", name=f"Filler {n}", description="nothing to see") for n in range(20)),
        ]
    )


def rows(page: Page):
    return page.locator("table.products-table tbody tr")


def test_typing_shows_the_best_matches_first_with_the_words_marked(catalogue, staff_page: Page):
    page = staff_page
    expect(page.get_by_text("25 products")).to_be_visible()
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request) if "search=" in request.url else None)

    page.get_by_label("Name or description").press_sequentially("red sh", delay=30)

    expect(page.locator("[data-ref=count]")).to_have_text("4 products match")
    # Name matches first (in id order), then the product that says it in its description only.
    expect(rows(page).locator(".cell-sku")).to_have_text(["RS-2", "RL-4", "XSS-5", "BS-1"])
    expect(rows(page).nth(0).locator("mark")).to_have_text(["Red", "Shoes"])
    expect(rows(page).nth(1).locator("mark")).to_have_text(["Red", "shoelaces"])
    expect(rows(page).nth(3).locator(".col-description mark")).to_have_text(["red", "shoes"])
    expect(page).to_have_url(re.compile(r"[?&]search=red(\+|%20)sh"))
    # Debounced: far fewer requests than keystrokes, and the last one asked for what was typed.
    assert 1 <= len(requests) < len("red sh")
    assert re.search(r"search=red(\+|%20)sh$", requests[-1].url)

    # The row's own text is escaped: the mark is the only markup added.
    expect(rows(page).nth(2).locator(".cell-name")).to_contain_text('<img src=x onerror="window.hacked=1">')
    assert page.locator("table.products-table img").count() == 0
    assert page.evaluate("window.hacked") is None


def test_accents_and_case_are_folded_on_both_sides(catalogue, staff_page: Page):
    page = staff_page
    expect(page.get_by_text("25 products")).to_be_visible()
    page.get_by_label("Name or description").fill("CORDOBA")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator("mark")).to_have_text(["Córdoba"])


def test_excluded_and_quoted_words(catalogue, staff_page: Page):
    page = staff_page
    expect(page.get_by_text("25 products")).to_be_visible()
    search = page.get_by_label("Name or description")
    search.fill('"red shoes"')
    expect(rows(page).locator(".cell-sku")).to_have_text(["RS-2", "BS-1"])
    search.fill("red shoes -blue")
    expect(rows(page).locator(".cell-sku")).to_have_text(["RS-2"])  # BS-1 says "blue"
    expect(rows(page).first.locator("mark")).to_have_text(["Red", "Shoes"])
