"""The catalogue view: searching, filtering, paging, editing and deleting products."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Product

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture
def catalogue(transactional_db) -> list[Product]:
    products = [
        Product(sku=f"SHOE-{index:03d}", name=f"Running shoe {index}", description="Light and fast",
                is_active=index % 5 != 0)
        for index in range(1, 31)
    ]
    products += [
        Product(sku="Hat-Red-01", name="Red hat", description="Wool, warm for winter"),
        Product(sku="Hat-Blue-02", name="Blue hat", description="Cotton cap", is_active=False),
    ]
    return Product.objects.bulk_create(products)


def rows(page: Page):
    return page.locator("table.products-table tbody tr")


def test_sku_search_finds_products_in_another_letter_case_as_you_type(catalogue, staff_page: Page, snap):
    page = staff_page
    expect(page.get_by_text("32 products")).to_be_visible()
    snap(page, "catalogue", full_page=False)
    page.get_by_label("SKU", exact=True).press_sequentially("hat-r", delay=40)
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Hat-Red-01")
    expect(page).to_have_url(re.compile(r"[?&]sku=hat-r"))
    # Typing refined one search: one Back leaves it entirely.
    page.go_back()
    expect(page.get_by_text("32 products")).to_be_visible()
    expect(page.get_by_label("SKU", exact=True)).to_have_value("")


def test_inactive_filter_and_text_search_combine_and_survive_a_reload(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_label("Status").select_option("inactive")
    expect(page.get_by_text("7 products match")).to_be_visible()
    page.get_by_label("Name or description").fill("cotton")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Hat-Blue-02")
    expect(page).to_have_url(re.compile(r"status=inactive"))
    page.reload()
    expect(rows(page)).to_have_count(1)
    expect(page.get_by_label("Status")).to_have_value("inactive")
    expect(page.get_by_label("Name or description")).to_have_value("cotton")


def test_pages_and_page_size_are_in_the_url_so_back_and_reload_work(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_label("Rows per page").select_option("10")
    expect(page.get_by_text("1–10 of 32")).to_be_visible()
    page.get_by_role("button", name="Next ›").click()
    expect(page.get_by_text("11–20 of 32")).to_be_visible()
    expect(page.get_by_text("Page 2 of 4")).to_be_visible()
    expect(page).to_have_url(re.compile(r"page=2"))
    page.get_by_role("button", name="Last page").click()
    expect(page.get_by_text("31–32 of 32")).to_be_visible()
    page.go_back()
    expect(page.get_by_text("11–20 of 32")).to_be_visible()
    page.reload()
    expect(page.get_by_text("11–20 of 32")).to_be_visible()
    expect(page.get_by_label("Rows per page")).to_have_value("10")


def test_download_csv_exports_what_the_filters_select(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_label("Status").select_option("inactive")
    page.get_by_label("Name or description").fill("shoe")
    expect(page.get_by_text("6 products match")).to_be_visible()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    download = download_info.value
    assert re.fullmatch(r"products-\d{8}-\d{6}\.csv", download.suggested_filename)
    rows_ = list(csv.reader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert rows_[0] == ["sku", "name", "description", "is_active", "created_at", "updated_at"]
    assert [row[0] for row in rows_[1:]] == [f"SHOE-{index:03d}" for index in (5, 10, 15, 20, 25, 30)]
    assert {row[3] for row in rows_[1:]} == {"false"}


def test_toggle_active_inline_saves_at_once(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_label("SKU", exact=True).fill("Hat-Red-01")
    switch = page.get_by_role("switch", name="Active: Hat-Red-01")
    expect(switch).to_have_attribute("aria-checked", "true")
    switch.click()
    expect(switch).to_have_attribute("aria-checked", "false")
    expect(page.get_by_text("Hat-Red-01 is now inactive.")).to_be_visible()
    assert Product.objects.get(sku="Hat-Red-01").is_active is False
    # Keyboard too: the switch is a button.
    switch.focus()
    page.keyboard.press("Space")
    expect(page.get_by_text("Hat-Red-01 is now active.")).to_be_visible()
    assert Product.objects.get(sku="Hat-Red-01").is_active is True


def test_create_edit_and_delete_a_product_with_server_side_errors_next_to_fields(catalogue, staff_page: Page, snap):
    page = staff_page
    page.get_by_role("button", name="New product").click()
    dialog = page.get_by_role("dialog", name="New product")
    expect(dialog.get_by_label("SKU")).to_be_focused()
    dialog.get_by_label("SKU").fill("hat-red-01")
    dialog.get_by_label("Name").fill("Another red hat")
    dialog.get_by_role("button", name="Create product").click()
    sku_error = dialog.locator("[data-field=sku] .field-error")
    expect(sku_error).to_contain_text("already exists")
    expect(dialog.get_by_label("SKU")).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("SKU")).to_be_focused()
    snap(page, "product-dialog-error", full_page=False)

    dialog.get_by_label("SKU").fill("SCARF-1")
    dialog.get_by_label("Description").fill("Soft and long")
    dialog.get_by_role("button", name="Create product").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("Created SCARF-1.")).to_be_visible()
    assert Product.objects.filter(sku="SCARF-1", name="Another red hat").exists()

    page.get_by_label("SKU", exact=True).fill("scarf")
    expect(rows(page)).to_have_count(1)
    page.get_by_role("button", name="Edit SCARF-1").click()
    dialog = page.get_by_role("dialog", name="Edit product")
    expect(dialog.get_by_label("Name")).to_have_value("Another red hat")
    dialog.get_by_label("Name").fill("Striped scarf")
    dialog.get_by_role("button", name="Save changes").click()
    expect(rows(page).first).to_contain_text("Striped scarf")
    # Focus goes back to the button that opened the dialog.
    expect(page.get_by_role("button", name="Edit SCARF-1")).to_be_focused()
    assert Product.objects.get(sku="SCARF-1").name == "Striped scarf"

    page.get_by_role("button", name="Delete SCARF-1").click()
    confirm = page.get_by_role("dialog", name="Delete this product?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Delete product").click()
    expect(page.get_by_text("Deleted SCARF-1.")).to_be_visible()
    expect(page.get_by_text("No products match these filters.")).to_be_visible()
    assert not Product.objects.filter(sku__iexact="scarf-1").exists()


def test_escape_closes_a_dialog_without_saving(catalogue, staff_page: Page):
    page = staff_page
    page.get_by_role("button", name="New product").click()
    dialog = page.get_by_role("dialog", name="New product")
    dialog.get_by_label("SKU").fill("NEVER-SAVED")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("button", name="New product")).to_be_focused()
    assert not Product.objects.filter(sku="NEVER-SAVED").exists()


def test_delete_all_asks_for_confirmation_then_reports_the_count(catalogue, staff_page: Page, snap):
    page = staff_page
    page.get_by_role("button", name="Delete all…").click()
    dialog = page.get_by_role("dialog", name="Delete all products?")
    expect(dialog).to_contain_text("Are you sure? This cannot be undone.")
    snap(page, "delete-all-dialog", full_page=False)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Product.objects.count() == 32

    page.get_by_role("button", name="Delete all…").click()
    page.get_by_role("dialog", name="Delete all products?").get_by_role("button", name="Delete all products").click()
    expect(page.get_by_text("Deleted all 32 products.")).to_be_visible()
    expect(page.get_by_text("No products yet.")).to_be_visible()
    assert Product.objects.count() == 0


def test_delete_all_is_not_offered_to_non_staff(page: Page, app_url, django_user_model, catalogue):
    from tests.browser.conftest import PASSWORD, log_in

    django_user_model.objects.create_user(username="clerk", password=PASSWORD)
    log_in(page, app_url, username="clerk")
    expect(page.get_by_text("32 products")).to_be_visible()
    expect(page.get_by_role("button", name="Delete all…")).to_have_count(0)


def test_a_product_name_with_markup_is_shown_as_text(staff_page: Page, transactional_db):
    Product.objects.create(sku="XSS-1", name=XSS_NAME, description="<b>not bold</b>")
    page = staff_page
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.reload()
    expect(rows(page).first.locator(".cell-name")).to_have_text(XSS_NAME)
    expect(rows(page).first.locator(".col-description")).to_have_text("<b>not bold</b>")
    assert page.locator("table img").count() == 0
    assert page.locator("table b").count() == 0
    assert dialogs == []


def test_views_fit_a_phone_screen_without_sideways_scrolling(catalogue, staff_page: Page, app_url, snap):
    page = staff_page
    page.set_viewport_size({"width": 390, "height": 844})
    for path, ready in [("/imports/", "Import a CSV file"), ("/account/", "Try it with curl"), ("/products/", "32 products")]:
        page.goto(app_url + path)
        expect(page.get_by_text(ready)).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone screen"
    snap(page, "catalogue-phone", full_page=False)
