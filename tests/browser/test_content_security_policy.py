"""The Content-Security-Policy holds in a real browser: the app, the API docs, the browsable API
and the admin all run with no violation and no console error.

Chromium reports each violation as a ``securitypolicyviolation`` event (and a console error);
both are collected from before the first page loads, across navigations.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.models import ImportJob
from tests.benchmarks.csvgen import generate_products_csv
from tests.browser.conftest import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__reportCsp(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} (${event.sample}) `
    + `at ${event.sourceFile || document.location.href}:${event.lineNumber}`);
});
"""


# Chromium logs every failed load as a console error without its address; those are checked
# from the responses themselves instead, where the address is known.
FAILED_LOAD = re.compile(r"^Failed to load resource: ")


class Problems:
    """CSP violations and console errors seen by one page."""

    def __init__(self, page: Page) -> None:
        self.violations: list[str] = []
        self.console_errors: list[str] = []
        self.failed_loads: list[str] = []
        page.expose_function("__reportCsp", lambda text: self.violations.append(text))
        page.add_init_script(REPORT_VIOLATIONS)
        page.on("console", self._console)
        page.on("response", self._response)
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))

    def _console(self, message) -> None:
        if message.type == "error" and not FAILED_LOAD.search(message.text):
            self.console_errors.append(message.text)

    def _response(self, response) -> None:
        # The app asks who is signed in before anyone is: that 401 is expected.
        if response.status >= 400 and not (response.status == 401 and "/api/auth/me/" in response.url):
            self.failed_loads.append(f"{response.status} {response.url}")

    def assert_none(self) -> None:
        assert self.violations == [], self.violations
        assert self.console_errors == [], self.console_errors
        assert self.failed_loads == [], self.failed_loads


@pytest.fixture
def watched_page(page: Page) -> Iterator[tuple[Page, Problems]]:
    page.set_default_timeout(20_000)
    problems = Problems(page)
    yield page, problems


def test_the_app_signs_in_edits_the_catalogue_and_imports_with_no_csp_violation(
    watched_page, app_url, staff, tmp_path, snap
):
    page, problems = watched_page
    Product.objects.create(sku="HAT-1", name="Red hat", description="Wool")
    response = page.goto(app_url + "/products/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy and "unsafe-inline" not in policy
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["referrer-policy"] == "same-origin"

    page.get_by_label("Username").fill(staff.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    page.get_by_label("SKU", exact=True).fill("hat")
    expect(page.locator("table.products-table tbody tr")).to_have_count(1)
    page.get_by_role("button", name="New product").click()
    dialog = page.get_by_role("dialog", name="New product")
    dialog.get_by_label("SKU").fill("SCARF-1")
    dialog.get_by_label("Name").fill("Striped scarf")
    dialog.get_by_role("button", name="Create product").click()
    expect(page.get_by_text("Created SCARF-1.")).to_be_visible()

    page.get_by_role("link", name="Imports").click()
    page.get_by_label("Choose a file…").set_input_files(generate_products_csv(tmp_path / "p.csv", 1500))
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    job = ImportJob.objects.get()
    # The list's progress bars are drawn without style attributes (set through the CSSOM).
    fill = page.locator(f'import-list tr[data-job="{job.id}"] .progress-fill')
    expect(fill).to_have_attribute("style", re.compile(r"width: 100%"))
    page.reload()
    expect(fill).to_have_attribute("style", re.compile(r"width: 100%"))
    snap(page, "csp-imports")
    problems.assert_none()


def test_api_docs_browsable_api_and_admin_render_under_their_policies(watched_page, app_url, staff):
    page, problems = watched_page
    staff.is_superuser = True
    staff.save()
    Product.objects.create(sku="HAT-1", name="Red hat", description="Wool")
    log_in(page, app_url, username=staff.username)

    response = page.goto(app_url + "/api/docs/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("product-import API")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    page.locator(".opblock-summary").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()

    page.goto(app_url + "/api/products/")
    expect(page.locator(".response-info")).to_contain_text("HTTP 200")

    page.goto(app_url + "/admin/catalog/product/")
    expect(page.locator("#result_list")).to_be_visible()
    problems.assert_none()
