"""The import's two steps in the browser, through a real worker and daphne: mapping the columns
of a file whose header does not name them, and previewing changes before importing (or
discarding) them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.models import ImportJob, RememberedMapping

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

SHOPIFY = (
    "Handle,Title,Body (HTML),Vendor,Published,Variant SKU,Variant Price\n"
    "anvil,Anvil,<p>Heavy</p>,Acme,TRUE,AN-1,10.00\n"
    "bucket,Bucket,<p>Round</p>,Acme,false,BU-2,3.50\n"
    "crate,Crate,<p>Wooden</p>,Acme,true,CR-3,7.25\n"
)
CHANGES = (
    "sku,name,description\n"
    "LAMP-1,Desk lamp,Brass\n"        # unchanged
    "LAMP-2,Floor lamp (tall),Steel\n"  # renamed
    "lamp-3,Wall lamp,\n"              # new
    ",No SKU,\n"                       # a row error
)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    paths = {"shopify": tmp_path / "shopify-export.csv", "changes": tmp_path / "lamps.csv"}
    paths["shopify"].write_text(SHOPIFY, encoding="utf-8")
    paths["changes"].write_text(CHANGES, encoding="utf-8")
    return paths


def open_imports(page: Page) -> None:
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", name="Import a CSV file")).to_be_visible()


def test_a_shop_export_is_mapped_by_its_suggestions_and_imported(staff_page: Page, files, snap):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(files["shopify"])
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Needs mapping", timeout=60_000)
    expect(card.get_by_role("heading", name="Which column is which?")).to_be_visible()
    # The suggestions are filled in, and the samples shown.
    expect(card.get_by_label("Variant SKU")).to_have_value("sku")
    expect(card.get_by_label("Title")).to_have_value("name")
    expect(card.get_by_label("Body (HTML)")).to_have_value("description")
    expect(card.get_by_label("Published")).to_have_value("is_active")
    expect(card.get_by_label("Handle")).to_have_value("")
    expect(card.locator(".mapping-samples").nth(5)).to_contain_text("AN-1")
    snap(page, "import-mapping", readme=True)

    # Taking the name away says what is missing and holds the button back.
    card.get_by_label("Title").select_option("")
    expect(card.locator(".mapping-problems")).to_have_text("Choose the column that holds the name.")
    expect(card.get_by_role("button", name="Continue with this mapping")).to_be_disabled()
    card.get_by_label("Handle").select_option("name")
    card.get_by_label("Title").select_option("name")
    expect(card.locator(".mapping-problems")).to_contain_text("Name is chosen for 2 columns")
    card.get_by_label("Handle").select_option("")
    expect(card.locator(".mapping-ok")).to_be_visible()
    card.get_by_role("button", name="Continue with this mapping").click()

    expect(card.locator(".badge")).to_have_text("Completed", timeout=60_000)
    assert {p.sku: (p.name, p.is_active) for p in Product.objects.all()} == {
        "AN-1": ("Anvil", True), "BU-2": ("Bucket", False), "CR-3": ("Crate", True)
    }
    assert RememberedMapping.objects.count() == 1

    # The same headers again: mapped without asking.
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(files["shopify"])
    expect(page).not_to_have_url(re.compile(rf"/imports/{ImportJob.objects.earliest('id').id}/$"))
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    expect(page.locator("import-progress .counts")).to_contain_text("3")


def seed_lamps() -> None:
    Product.objects.create(sku="LAMP-1", name="Desk lamp", description="Brass")
    Product.objects.create(sku="LAMP-2", name="Floor lamp", description="Steel")


def test_preview_shows_the_changes_and_import_applies_them(staff_page: Page, files, snap):
    seed_lamps()
    page = staff_page
    open_imports(page)
    page.get_by_label("Preview changes before importing").check()
    page.get_by_label("Choose a file…").set_input_files(files["changes"])
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Previewed", timeout=60_000)
    counts = card.locator(".preview-counts")
    for term, value in (("Would create", "1"), ("Would update", "1"), ("Unchanged", "1"), ("Skipped", "1")):
        expect(counts.locator("div", has=page.locator("dt", has_text=term)).locator("dd")).to_have_text(value)
    changes = card.locator(".preview-changes tbody tr")
    expect(changes).to_have_count(2)
    renamed = changes.filter(has_text="LAMP-2")
    expect(renamed.locator("del")).to_have_text("Floor lamp")
    expect(renamed.locator("ins")).to_have_text("Floor lamp (tall)")
    expect(changes.filter(has_text="lamp-3")).to_contain_text("New product")
    expect(card.locator(".row-errors")).to_contain_text("SKU is empty")
    snap(page, "import-preview", readme=True)
    assert Product.objects.get(sku="LAMP-2").name == "Floor lamp"
    assert Product.objects.count() == 2

    card.get_by_role("button", name="Import").click()
    expect(card.locator(".badge")).to_have_text("Completed", timeout=60_000)
    assert Product.objects.get(sku="LAMP-2").name == "Floor lamp (tall)"
    assert Product.objects.count() == 3
    job = ImportJob.objects.get()
    assert (job.created_rows, job.updated_rows, job.unchanged_rows, job.skipped_rows) == (1, 1, 1, 1)


def test_a_discarded_preview_changes_nothing(staff_page: Page, files):
    seed_lamps()
    page = staff_page
    open_imports(page)
    page.get_by_label("Preview changes before importing").check()
    page.get_by_label("Choose a file…").set_input_files(files["changes"])
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Previewed", timeout=60_000)
    card.get_by_role("button", name="Discard").click()
    expect(card.locator(".badge")).to_have_text("Cancelled", timeout=30_000)
    assert ImportJob.objects.get().message == "Preview discarded; nothing was imported."
    assert sorted(Product.objects.values_list("sku", "name")) == [
        ("LAMP-1", "Desk lamp"), ("LAMP-2", "Floor lamp")
    ]
