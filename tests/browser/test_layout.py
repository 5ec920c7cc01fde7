"""Layout in Chromium: notices that cover no control, the phone layout of the catalogue and of past
imports, past imports that can be told apart, and counts in the right singular or plural."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.models import ImportJob

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
VIEWPORTS = [pytest.param(LAPTOP, id="laptop"), pytest.param(PHONE, id="phone")]
# "About two screens long": the old phone layout made 25 rows about 4,000 px (4.7 screens).
MAX_SCREENS_FOR_A_PAGE = 2.5

# Names like a shop's: several words, some long, which the old phone layout broke mid-word.
NAMES = [
    "Garden bench",
    "Desk lamp with dimmer",
    "Stainless steel kitchen scale",
    "Waterproof hiking jacket",
    "Bamboo cutting board",
    "Ergonomic office chair",
    "Cordless vacuum cleaner",
    "Children's umbrella",
    "Extendable dining table",
    "Thermal insulated bottle",
]

# The words of every element matching the selector that the browser laid out on more than one
# line: a word broken inside. A word's text range has one box per line it occupies.
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const element of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const boxes = [...range.getClientRects()].filter((r) => r.width > 0);
        const tops = new Set(boxes.map((r) => Math.round(r.top)));
        if (tops.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""

# The boxes of the buttons and switches of the product table, and of the notices.
BOXES = """(selector) => [...document.querySelectorAll(selector)].map((element) => {
  const r = element.getBoundingClientRect();
  return { label: element.getAttribute("aria-label") || element.textContent.trim(),
           left: r.left, top: r.top, right: r.right, bottom: r.bottom };
})"""
TABLE_CONTROLS = "product-table button"
NOTICES = "#notices .notice"


def overlaps(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and b["top"] < a["bottom"]
    )


def in_view(box: dict, viewport: dict) -> bool:
    return box["top"] >= 0 and box["bottom"] <= viewport["height"]


@pytest.fixture
def shop(transactional_db) -> list[Product]:
    """60 products with realistic names, one with a long SKU; more than two pages of 25."""
    products = [
        Product(
            sku=f"HOME-{index:04d}",
            name=f"{NAMES[index % len(NAMES)]} {index}",
            description="Sturdy, well made, and a customer favourite for years",
            is_active=index % 4 != 0,
        )
        for index in range(1, 60)
    ]
    products.append(
        Product(
            sku="WAREHOUSE-NORTH-AISLE-12-SHELF-4-BIN-0007",
            name="Oak garden bench",
            description="Seats three",
        )
    )
    return Product.objects.bulk_create(products)


def notices_clear_of_controls(page: Page, viewport: dict, controls_before: list[dict]) -> None:
    """Every table control that was fully in view before the notice showed is not under it."""
    expect(page.locator(NOTICES).first).to_be_visible()
    notices = page.evaluate(BOXES, NOTICES)
    labels = {box["label"] for box in controls_before if in_view(box, viewport)}
    assert labels, "no control of the table was in view"
    after = [box for box in page.evaluate(BOXES, TABLE_CONTROLS) if box["label"] in labels]
    covered = [
        (control["label"], notice["label"])
        for control in after
        for notice in notices
        if overlaps(control, notice)
    ]
    assert covered == [], f"notices cover controls of the table: {covered}"


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_notices_never_cover_the_controls_of_the_table(shop, staff_page: Page, viewport, snap):
    page = staff_page
    page.set_viewport_size(viewport)
    page.reload()
    expect(page.get_by_text("60 products")).to_be_visible()

    # At the top of the page, the table filling the window below.
    before = page.evaluate(BOXES, TABLE_CONTROLS)
    page.get_by_role("switch", name="Active: HOME-0001").click()
    expect(page.get_by_text("HOME-0001 is now inactive.")).to_be_visible()
    notices_clear_of_controls(page, viewport, before)

    # Scrolled to the end of the page, acting on the last row.
    page.get_by_role("button", name="Dismiss notice").click()
    expect(page.locator(NOTICES)).to_have_count(0)
    last = page.get_by_role("switch", name="Active: HOME-0025")
    last.scroll_into_view_if_needed()
    page.mouse.wheel(0, 5000)
    page.wait_for_function("window.scrollY > 0")
    before = page.evaluate(BOXES, TABLE_CONTROLS)
    last.click()
    expect(page.get_by_text("HOME-0025 is now inactive.")).to_be_visible()
    notices_clear_of_controls(page, viewport, before)
    snap(page, f"notice-{'phone' if viewport is PHONE else 'laptop'}", full_page=False)


def test_at_most_three_notices_stack(shop, staff_page: Page):
    page = staff_page
    expect(page.get_by_text("60 products")).to_be_visible()
    for index in range(2, 7):
        switch = page.get_by_role("switch", name=f"Active: HOME-{index:04d}")
        switch.click()
        expect(switch).to_be_enabled()
    expect(page.get_by_text("HOME-0006 is now")).to_be_visible()
    expect(page.locator(NOTICES)).to_have_count(3)
    # The newest stay.
    expect(page.locator(NOTICES).first).to_contain_text("HOME-0004")


def test_on_a_phone_each_product_is_a_card_and_a_page_is_about_two_screens(shop, staff_page: Page, snap):
    page = staff_page
    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.get_by_text("60 products")).to_be_visible()
    rows = page.locator("table.products-table tbody tr")
    expect(rows).to_have_count(25)

    height = page.evaluate("document.documentElement.scrollHeight")
    assert height <= MAX_SCREENS_FOR_A_PAGE * PHONE["height"], (
        f"25 products make a {height}px page, {height / PHONE['height']:.1f} screens"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(BROKEN_WORDS, "product-table .cell-name") == []

    # A unit: each row's name, SKU, switch and buttons lie inside the row's own box, and the
    # next row starts below it.
    boxes = page.evaluate("""() => [...document.querySelectorAll("product-table tbody tr")].map((row) => {
      const box = (element) => {
        const r = element.getBoundingClientRect();
        return [r.left, r.top, r.right, r.bottom];
      };
      const parts = row.querySelectorAll(".cell-name, .cell-sku, .switch, .button");
      return { row: box(row), parts: [...parts].map(box) };
    })""")
    for index, entry in enumerate(boxes):
        left, top, right, bottom = entry["row"]
        assert len(entry["parts"]) == 5
        for part in entry["parts"]:
            assert left <= part[0] and top <= part[1] and part[2] <= right and part[3] <= bottom, (
                index,
                part,
            )
        if index:
            assert top >= boxes[index - 1]["row"][3] - 1
    # Still a table to screen readers: Chromium's own accessibility tree (not Playwright's reading
    # of the markup) keeps a row per product and the headers of the four columns a phone shows
    # (description and last change are hidden there, headers and cells alike).
    cdp = page.context.new_cdp_session(page)
    roles = [node.get("role", {}).get("value") for node in cdp.send("Accessibility.getFullAXTree")["nodes"]]
    assert roles.count("row") == 26 and roles.count("columnheader") == 4, sorted(set(roles))
    # The long SKU wraps, at its hyphens, inside its card.
    sku = page.get_by_text("WAREHOUSE-NORTH-AISLE-12-SHELF-4-BIN-0007")
    page.get_by_label("SKU", exact=True).fill("warehouse")
    expect(rows).to_have_count(1)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    expect(sku).to_be_visible()
    snap(page, "catalogue-phone-search", full_page=False)


def test_plural_writes_one_in_the_singular_and_formats_the_number(staff_page: Page):
    # The module the screens use, as the server serves it.
    shown = staff_page.evaluate("""async () => {
      const { plural } = await import("/static/spa/lib/format.js");
      return [0, 1, 2, 1234567].map((count) => plural(count, "row was", "rows were"));
    }""")
    assert shown == ["0 rows were", "1 row was", "2 rows were", "1,234,567 rows were"]


@pytest.fixture
def past_imports(staff) -> dict[str, ImportJob]:
    """Two runs of one file (the second changed nothing), a failed run and a cancelled one."""
    now = timezone.now()
    name = "Spring catalogue for the warehouse, final version.csv"

    def job(status: str, minutes_ago: int, **fields) -> ImportJob:
        created = ImportJob.objects.create(
            owner=staff, filename=fields.pop("filename", name), status=status, size_bytes=2048, **fields
        )
        # created_at is auto_now_add; move it back to give each run its own time.
        ImportJob.objects.filter(pk=created.pk).update(
            created_at=now - timedelta(minutes=minutes_ago),
            finished_at=now - timedelta(minutes=minutes_ago - 1),
        )
        return created

    return {
        "first": job(
            "completed",
            30,
            total_rows=1201,
            processed_rows=1201,
            progress=100,
            created_rows=1200,
            skipped_rows=1,
        ),
        "second": job(
            "completed",
            20,
            total_rows=1201,
            processed_rows=1201,
            progress=100,
            unchanged_rows=1200,
            skipped_rows=1,
        ),
        "failed": job(
            "failed", 10, filename="products.csv", message="The file has no header row with a sku column."
        ),
        "cancelled": job(
            "cancelled",
            5,
            filename="products.csv",
            total_rows=5000,
            processed_rows=1,
            progress=0,
            created_rows=1,
        ),
    }


def import_row(page: Page, job: ImportJob):
    return page.locator(f'import-list tr[data-job="{job.id}"]')


def test_past_imports_show_number_outcome_and_counts_in_the_right_number(
    past_imports, staff_page: Page, app_url, snap
):
    page = staff_page
    page.goto(app_url + "/imports/")
    first, second = past_imports["first"], past_imports["second"]
    expect(import_row(page, first)).to_be_visible()
    expect(import_row(page, first).get_by_role("link")).to_have_text(
        re.compile(rf"^Import #{first.id} Spring catalogue")
    )
    expect(import_row(page, first)).to_contain_text(f"#{first.id}")
    expect(import_row(page, second)).to_contain_text(f"#{second.id}")
    expect(import_row(page, first)).to_contain_text("1,201 rows: 1,200 created · 1 skipped")
    expect(import_row(page, second)).to_contain_text("1,201 rows: 1,200 unchanged · 1 skipped")
    expect(import_row(page, first)).to_contain_text("Completed")
    failed = import_row(page, past_imports["failed"])
    expect(failed).to_contain_text("Failed")
    expect(failed).to_contain_text("The file has no header row with a sku column.")
    expect(failed).to_contain_text("0 rows")
    cancelled = import_row(page, past_imports["cancelled"])
    expect(cancelled).to_contain_text("Cancelled")
    expect(cancelled).to_contain_text("1 of 5,000 rows: 1 created")
    expect(page.get_by_text("4 imports")).to_be_visible()
    snap(page, "past-imports")

    # One row skipped: singular everywhere the import's card counts it.
    import_row(page, first).get_by_role("link").click()
    card = page.locator("import-progress")
    expect(card.get_by_role("heading", name="1 row was skipped")).to_be_visible()
    expect(card).to_contain_text("1,201 of 1,201 rows")


def test_on_a_phone_past_imports_are_cards_with_no_word_broken(past_imports, staff_page: Page, app_url, snap):
    page = staff_page
    page.set_viewport_size(PHONE)
    page.goto(app_url + "/imports/")
    expect(import_row(page, past_imports["first"])).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate(BROKEN_WORDS, "import-list .cell-file, import-list .import-reason") == []
    # A card each: the number, outcome and counts of one import inside its own box.
    for job in past_imports.values():
        row = import_row(page, job).bounding_box()
        for part in [".import-number", ".badge", ".cell-rows"]:
            box = import_row(page, job).locator(part).bounding_box()
            assert row["x"] <= box["x"] and box["x"] + box["width"] <= row["x"] + row["width"] + 0.5
            assert row["y"] <= box["y"] and box["y"] + box["height"] <= row["y"] + row["height"] + 0.5
    snap(page, "past-imports-phone")


def test_readme_screenshots_of_the_catalogue(shop, staff_page: Page, snap):
    """The README's pictures of the catalogue (``make screenshots`` writes them to docs/)."""
    page = staff_page
    page.emulate_media(reduced_motion="reduce")
    expect(page.get_by_text("60 products")).to_be_visible()
    page.get_by_role("switch", name="Active: HOME-0004").click()
    expect(page.get_by_text("HOME-0004 is now active.")).to_be_visible()
    snap(page, "catalogue-laptop", full_page=False, readme=True)
    page.get_by_role("button", name="Dismiss notice").click()

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.get_by_text("60 products")).to_be_visible()
    snap(page, "catalogue-phone", full_page=False, readme=True)
