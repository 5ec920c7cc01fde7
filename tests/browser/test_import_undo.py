"""Undo in the browser, through a real worker and daphne: "Undo import" on a completed import,
the confirmation that says what will happen, the undo's live progress and its conflicts, then
undoing the conflicts too; the catalogue ends exactly as it was before the import."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.models import ImportJob

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

LAMPS = (
    "sku,name,description\n"
    "LAMP-1,Desk lamp (new),Brass\n"   # updated
    "LAMP-2,Floor lamp (tall),Steel\n"  # updated, then edited by hand
    "lamp-3,Wall lamp,\n"               # created
    "lamp-4,Ceiling lamp,\n"            # created
)


def table() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_product ORDER BY id")
        return cursor.fetchall()


@pytest.fixture
def lamps(tmp_path) -> Path:
    path = tmp_path / "lamps.csv"
    path.write_text(LAMPS, encoding="utf-8")
    return path


def test_an_import_is_undone_from_its_page_with_its_conflicts_then_forced(staff_page: Page, lamps, snap):
    Product.objects.create(sku="LAMP-1", name="Desk lamp", description="Brass")
    Product.objects.create(sku="LAMP-2", name="Floor lamp", description="Steel", is_active=False)
    before = table()
    page = staff_page
    page.get_by_role("link", name="Imports").click()
    page.get_by_label("Choose a file…").set_input_files(lamps)
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Completed", timeout=60_000)
    imported = ImportJob.objects.get()
    edited = Product.objects.get(sku="LAMP-2")
    edited.name = "Floor lamp (edited by hand)"
    edited.save()

    card.get_by_role("button", name="Undo import").click()
    dialog = page.get_by_role("dialog", name=f"Undo import #{imported.pk}?")
    expect(dialog).to_contain_text("2 products the import created will be deleted and 2 products it updated")
    snap(page, "import-undo-confirm", readme=True)
    dialog.get_by_role("button", name="Undo import").click()

    # The undo's own page, live: its progress, then its counts and the conflict.
    undo = card.page.locator("import-progress")
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))
    title = re.compile(rf"Undo #\d+ of import #{imported.pk}")
    expect(undo.get_by_role("heading", name=title)).to_be_visible()
    expect(undo.locator(".badge")).to_have_text("Completed", timeout=60_000)
    counts = undo.locator(".counts")
    for term, value in (("Deleted", "2"), ("Restored", "1"), ("Conflicts", "1")):
        expect(counts.locator("div", has=page.locator("dt", has_text=term)).locator("dd")).to_have_text(value)
    conflicts = undo.locator(".undo-conflicts")
    expect(conflicts).to_contain_text("1 product was changed since the import and left as it is")
    expect(conflicts.locator("tbody tr")).to_contain_text("Floor lamp (edited by hand)")
    # Now (edited by hand) beside what the undo would restore (before the import: "Floor lamp").
    expect(conflicts.locator("tbody tr td").last).to_have_text("Floor lamp")
    snap(page, "import-undo-conflicts", readme=True)
    assert sorted(Product.objects.values_list("sku", "name")) == [
        ("LAMP-1", "Desk lamp"), ("LAMP-2", "Floor lamp (edited by hand)")
    ]

    # Undo it too: a forced undo of the import, with its own page.
    conflicts.get_by_role("button", name="Undo it too").click()
    page.get_by_role("dialog").get_by_role("button", name="Undo them too").click()
    expect(page.locator("import-progress .undo-note")).to_contain_text("forced", timeout=30_000)
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    assert table() == before

    # The import says it was undone, and by whom; it offers no undo any more.
    page.goto(page.url.rsplit("/imports/", 1)[0] + f"/imports/{imported.pk}/")
    note = page.locator("import-progress .undo-note")
    expect(note).to_contain_text(re.compile(r"Undone by undo #\d+ \(staff\)"))
    expect(page.locator("import-progress").get_by_role("button", name="Undo import")).to_have_count(0)
    expect(page.locator("import-list")).to_contain_text(f"Undo of #{imported.pk}")
