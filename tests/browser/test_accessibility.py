"""axe-core audits of every screen and dialog, at laptop and phone widths.

axe-core is bundled by the ``axe-playwright-python`` package (nothing is fetched at run time) and
injected into the page through Playwright, which the Content-Security-Policy does not apply to.
A test fails on any violation axe rates *serious* or *critical*, and lists them all, screen by
screen, with the elements concerned and how to fix them. Moderate and minor findings are left to
review (axe rates, for instance, content outside landmarks as moderate).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.locks import job_lock
from importer.models import ImportJob
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

BLOCKING_IMPACTS = {"serious", "critical"}
VIEWPORTS = [
    pytest.param({"width": 1280, "height": 860}, id="laptop"),
    pytest.param({"width": 390, "height": 844}, id="phone"),
]

axe = Axe()


class Audit:
    """Runs axe on the page as it is now and keeps the blocking violations, per screen."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.findings: list[str] = []
        self.screens: list[str] = []

    def __call__(self, screen: str) -> None:
        self.screens.append(screen)
        results = axe.run(self.page)
        for violation in results.response["violations"]:
            if violation["impact"] not in BLOCKING_IMPACTS:
                continue
            nodes = "\n".join(
                f"      {', '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}"
                for node in violation["nodes"][:5]
            )
            more = len(violation["nodes"]) - 5
            self.findings.append(
                f"[{screen}] {violation['id']} ({violation['impact']}): {violation['help']}\n"
                f"    {violation['helpUrl']}\n{nodes}" + (f"\n      … and {more} more" if more > 0 else "")
            )

    def assert_clean(self) -> None:
        assert self.findings == [], (
            f"{len(self.findings)} serious or critical accessibility violation(s) "
            f"on {len(self.screens)} screens:\n\n" + "\n\n".join(self.findings)
        )


@pytest.fixture
def audited_page(page: Page, app_url, staff, viewport) -> Page:
    page.set_default_timeout(15_000)
    page.set_viewport_size(viewport)
    # No slide-in or fade half-way through: contrast is measured on the final colours.
    page.emulate_media(reduced_motion="reduce")
    return page


@pytest.fixture
def shop(transactional_db) -> None:
    Product.objects.bulk_create(
        [
            Product(
                sku=f"LAMP-{index:02d}",
                name=f"Desk lamp {index}",
                description="Warm light",
                is_active=index % 3 != 0,
            )
            for index in range(1, 31)
        ]
        + [Product(sku="Hat-Red-01", name="Red hat", description="Wool, warm for winter")]
    )


@pytest.fixture
def imports(staff) -> Iterator[dict[str, ImportJob]]:
    """A finished import with a skipped row, a failed one, and one running. This test process
    holds the running one's job lock, as its worker would, so the reaper leaves it alone."""
    now = timezone.now()
    common = {"owner": staff, "size_bytes": 4096, "filename": "products.csv"}
    jobs = {
        "completed": ImportJob.objects.create(
            **common,
            status="completed",
            total_rows=41,
            processed_rows=41,
            progress=100,
            created_rows=40,
            skipped_rows=1,
            stored_errors=1,
            errors=[{"line": 42, "sku": "", "reason": "sku is required"}],
            started_at=now,
            finished_at=now,
        ),
        "failed": ImportJob.objects.create(
            **common,
            status="failed",
            message="The file has no header row with a sku column.",
            finished_at=now,
        ),
        "running": ImportJob.objects.create(
            **common,
            status="processing",
            phase="importing",
            total_rows=10_000,
            processed_rows=2_500,
            progress=25,
            created_rows=2_500,
            started_at=now,
            heartbeat_at=now,
        ),
    }
    with job_lock(jobs["running"].pk) as acquired:
        assert acquired
        yield jobs


def open_dialog(page: Page, button: str, dialog: str):
    page.get_by_role("button", name=button).click()
    shown = page.get_by_role("dialog", name=dialog)
    expect(shown).to_be_visible()
    return shown


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_every_screen_and_dialog_has_no_serious_accessibility_violation(
    audited_page: Page, app_url, staff, shop, imports, viewport
):
    page = audited_page
    audit = Audit(page)

    page.goto(app_url + "/products/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    audit("login")
    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    audit("login, wrong password")
    log_in(page, app_url, username=staff.username)

    expect(page.get_by_text("31 products")).to_be_visible()
    audit("catalogue")
    page.get_by_label("SKU", exact=True).fill("lamp-1")
    expect(page.locator("table.products-table tbody tr")).to_have_count(10)
    audit("catalogue with a search")

    open_dialog(page, "New product", "New product").get_by_role("button", name="Create product").click()
    expect(page.get_by_role("dialog", name="New product").locator(".field-error").first).to_be_visible()
    audit("create dialog, with errors")
    page.keyboard.press("Escape")
    open_dialog(page, "Edit LAMP-10", "Edit product")
    audit("edit dialog")
    page.keyboard.press("Escape")
    open_dialog(page, "Delete LAMP-10", "Delete this product?")
    audit("delete confirmation")
    page.get_by_role("button", name="Cancel").click()
    open_dialog(page, "Delete all…", "Delete all products?")
    audit("delete-all confirmation")
    page.get_by_role("button", name="Cancel").click()

    page.get_by_role("link", name="Imports").click()
    # The running import is followed live at the top; the list shows all three.
    expect(
        page.locator("import-progress").get_by_role("heading", name=f"Import #{imports['running'].id}")
    ).to_be_visible()
    expect(page.locator("import-list tbody tr")).to_have_count(3)
    audit("imports, one running")
    page.goto(app_url + f"/imports/{imports['failed'].id}/")
    expect(page.locator("import-progress .failure")).to_be_visible()
    audit("a failed import")
    page.goto(app_url + f"/imports/{imports['completed'].id}/")
    expect(page.locator("import-progress").get_by_role("heading", name="1 row was skipped")).to_be_visible()
    audit("a finished import with a row error")

    page.get_by_role("link", name="API token").click()
    expect(page.get_by_text("Try it with curl")).to_be_visible()
    audit("account")

    audit.assert_clean()
