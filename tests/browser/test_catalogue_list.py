"""The catalogue list tells the truth while it loads: honest counts, only the newest answer,
and dialogs that keep their focus and their data when the list behind them reloads.

Slow answers are made slow at the browser's edge: a Playwright route holds the request and later
lets it go on to the real daphne server (``route.continue_()``); nothing in the page is mocked.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.db import connection
from playwright.sync_api import Page, Request, Route, expect

from catalog import selectors
from catalog.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]


@pytest.fixture
def catalogue(transactional_db) -> list[Product]:
    products = [
        Product(sku=f"SHOE-{index:03d}", name=f"Running shoe {index}", description="Light and fast")
        for index in range(1, 31)
    ]
    products += [
        Product(sku="Hat-Red-01", name="Red hat", description="Wool, warm for winter"),
        Product(sku="Hat-Blue-02", name="Blue hat", description="Cotton cap", is_active=False),
    ]
    return Product.objects.bulk_create(products)


def rows(page: Page):
    return page.locator("table.products-table tbody tr")


class HeldRequests:
    """List requests whose URL matches ``wanted``, held until ``release()`` sends them on."""

    def __init__(self, page: Page, wanted: Callable[[str], bool]) -> None:
        self.routes: list[Route] = []
        self.page = page
        self.wanted = wanted
        page.route(lambda url: "/api/products/?" in url and wanted(url), self.hold)

    def hold(self, route: Route) -> None:
        self.routes.append(route)

    def release(self) -> None:
        routes, self.routes = self.routes, []
        for route in routes:
            try:
                route.continue_()
            except Exception:  # noqa: BLE001 - the page aborted it meanwhile: nothing to send on
                pass

    def stop(self) -> None:
        self.page.unroute_all(behavior="ignoreErrors")
        self.release()


def test_a_slow_answer_for_an_older_query_is_aborted_and_never_shown(catalogue, staff_page: Page):
    page = staff_page
    expect(page.get_by_text("32 products")).to_be_visible()
    failed: list[Request] = []
    page.on("requestfailed", lambda request: failed.append(request))
    held = HeldRequests(page, lambda url: "search=running" in url)

    with page.expect_request(lambda request: "search=running" in request.url) as first:
        page.get_by_label("Name or description").fill("running")
    # While the first search is out the screen says so; rows and count are still the old ones.
    expect(page.get_by_role("status").filter(has_text="Searching…")).to_be_visible()
    expect(page.locator("product-table")).to_have_attribute("aria-busy", "true")
    expect(page.locator("[data-ref=count]")).to_have_text("32 products")

    page.get_by_label("Name or description").fill("hat")
    expect(rows(page)).to_have_count(2)
    expect(page.locator("[data-ref=count]")).to_have_text("2 products match")
    expect(page.locator("product-table")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(".list-status")).to_have_text("")

    # The older request was aborted by the page; sending it on now changes nothing on screen.
    assert first.value in failed
    held.release()
    page.wait_for_timeout(1000)
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first).to_contain_text("Hat-Red-01")
    expect(page.locator("[data-ref=count]")).to_have_text("2 products match")
    held.stop()


def test_counts_say_one_product_or_many(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_label("Name or description").fill("red hat")
    expect(page.locator("[data-ref=count]")).to_have_text("1 product matches")
    expect(page.get_by_text("1–1 of 1")).to_be_visible()
    page.get_by_label("Name or description").fill("hat")
    expect(page.locator("[data-ref=count]")).to_have_text("2 products match")


@pytest.fixture
def umbrellas(transactional_db) -> int:
    """21,000 umbrellas that PostgreSQL believes are almost none: far past the exact-count limit.

    The statistics are gathered while the catalogue holds only chairs, so the planner's estimate
    for "umbrella" stays tiny (the API reports it as just over ``EXACT_COUNT_LIMIT``), as with a
    real catalogue whose statistics lag behind an import.
    """
    Product.objects.bulk_create(
        (Product(sku=f"CHAIR-{n:05d}", name=f"Oak chair {n}") for n in range(5_000)), batch_size=5_000
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Product._meta.db_table}")
    total = 21_000
    Product.objects.bulk_create(
        (Product(sku=f"UMB-{n:05d}", name=f"Umbrella {n}") for n in range(total)), batch_size=5_000
    )
    assert total > 2 * selectors.EXACT_COUNT_LIMIT
    return total


def test_an_estimated_count_is_shown_as_one_and_next_pages_to_the_real_end(
    umbrellas, staff_page: Page, app_url
):
    page = staff_page
    last_row = page.locator("table.products-table tbody tr").last
    page.goto(app_url + "/products/?search=umbrella&page_size=100")
    expect(rows(page)).to_have_count(100)
    count = page.locator("[data-ref=count]")
    expect(count).to_have_text(re.compile(r"^about [\d,]+ products match$"))
    estimate = int(re.sub(r"\D", "", count.inner_text()))
    assert estimate < umbrellas / 2, (
        "the estimate should be far from the truth for this test to mean anything"
    )
    expect(page.get_by_text(re.compile(r"^1–100 of about [\d,]+$"))).to_be_visible()
    expect(page.locator(".pagination-current")).to_have_text("Page 1")
    expect(page.get_by_role("button", name="Last page")).to_be_hidden()

    # Far past the estimate's last page (it would be page ~101): the rows are there.
    page.goto(app_url + "/products/?search=umbrella&page_size=100&page=206")
    expect(last_row).to_contain_text("UMB-20599")
    expect(page.locator(".pagination-current")).to_have_text("Page 206")
    expect(count).to_have_text("more than 20,600 products match")
    expect(page.get_by_text("20,501–20,600", exact=True)).to_be_visible()
    for expected_page in range(207, 211):
        page.get_by_role("button", name="Next ›").click()
        expect(page.locator(".pagination-current")).to_contain_text(f"Page {expected_page}")
    # The real end: the last page knows the exact count, and there is no page after it.
    expect(last_row).to_contain_text("UMB-20999")
    expect(count).to_have_text("21,000 products match")
    expect(page.get_by_text("20,901–21,000 of 21,000")).to_be_visible()
    expect(page.locator(".pagination-current")).to_have_text("Page 210 of 210")
    expect(page.get_by_role("button", name="Next ›")).to_be_disabled()


def test_escape_in_a_dialog_whose_row_was_redrawn_keeps_the_focus(catalogue, staff_page: Page):
    page = staff_page
    held = HeldRequests(page, lambda url: "search=" in url)
    search = page.get_by_label("Name or description")
    search.fill("running shoe 1")
    expect(page.locator(".list-status")).to_have_text("Searching…")
    # The old rows are still there: open a product from them while the search is out.
    page.get_by_role("button", name="Edit SHOE-010").click()
    dialog = page.get_by_role("dialog", name="Edit product")
    expect(dialog.get_by_label("SKU")).to_be_focused()
    held.release()
    expect(page.locator("[data-ref=count]")).to_have_text("11 products match")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    # The button that opened the dialog was redrawn: focus goes to the same product's new one.
    expect(page.get_by_role("button", name="Edit SHOE-010")).to_be_focused()

    # A product that the new answer no longer shows: focus goes back to the search field.
    search.fill("running shoe 2")
    expect(page.locator(".list-status")).to_have_text("Searching…")
    page.get_by_role("button", name="Delete SHOE-011").click()
    confirm = page.get_by_role("dialog", name="Delete this product?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    held.release()
    expect(page.locator("[data-ref=count]")).to_have_text("11 products match")
    expect(rows(page).first).to_contain_text("SHOE-002")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(search).to_be_focused()
    held.stop()
    assert Product.objects.filter(sku="SHOE-011").exists()


def test_the_delete_confirmation_names_the_product_as_just_edited(catalogue, staff_page: Page):
    page = staff_page
    held = HeldRequests(page, lambda url: "search=" in url)
    page.get_by_label("Name or description").fill("running shoe 3")
    expect(page.locator(".list-status")).to_have_text("Searching…")
    page.get_by_role("button", name="Edit SHOE-003").click()
    dialog = page.get_by_role("dialog", name="Edit product")
    # The slow search answers behind the dialog, with the product as it was before the edit.
    held.release()
    expect(page.locator("[data-ref=count]")).to_have_text("2 products match")
    dialog.get_by_label("Name").fill("Trail shoe 3")
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog).to_be_hidden()
    # The reload after the save is held: the row already shows what was saved...
    expect(page.get_by_role("button", name="Edit SHOE-003")).to_be_focused()
    expect(rows(page).filter(has_text="SHOE-003")).to_contain_text("Trail shoe 3")
    assert held.routes, "the reload after saving should still be out"
    # ...and so does the delete confirmation.
    page.get_by_role("button", name="Delete SHOE-003").click()
    confirm = page.get_by_role("dialog", name="Delete this product?")
    expect(confirm).to_contain_text("SHOE-003 — Trail shoe 3 will be deleted.")
    confirm.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Delete SHOE-003")).to_be_focused()
    held.stop()
    assert Product.objects.get(sku="SHOE-003").name == "Trail shoe 3"
