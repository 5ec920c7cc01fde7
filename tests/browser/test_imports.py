"""Importing through the browser: tus upload, live progress over SSE, row errors, failures,
cancelling, and coming back to a running import."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Product
from importer.models import ImportJob
from tests.benchmarks.csvgen import generate_products_csv
from tests.browser.conftest import IMPORT_MAX_STORED_ERRORS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

# Records every value the import's progress bar shows, from the moment the page loads: installed
# as an init script, so it also runs again after a reload.
RECORD_PROGRESS = """
window.__progress = [];
new MutationObserver(() => {
  const bar = document.querySelector("import-progress [role=progressbar]");
  if (!bar) return;
  const value = Number(bar.getAttribute("aria-valuenow"));
  if (window.__progress[window.__progress.length - 1] !== value) window.__progress.push(value);
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["aria-valuenow"] });
"""

# Keeps every EventSource the page opens in window.__streams, to see which are open.
TRACK_STREAMS = """
window.__streams = [];
window.EventSource = class extends window.EventSource {
  constructor(...args) { super(...args); window.__streams.push(this); }
};
"""

# Makes the page look hidden (true) or visible (false) to the app, as switching tabs does.
SET_HIDDEN = """(hidden) => {
  Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
  const state = hidden ? "hidden" : "visible";
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser-csv")


@pytest.fixture(scope="module")
def small_csv(csv_dir) -> Path:
    return generate_products_csv(csv_dir / "products.csv", 4000)


@pytest.fixture(scope="module")
def large_csv(csv_dir) -> Path:
    return generate_products_csv(csv_dir / "many-products.csv", 20000, seed=11)


@pytest.fixture(scope="module")
def bad_rows_csv(csv_dir) -> Path:
    lines = ["sku,name,description"]
    lines += [f"GOOD-{index},Good product {index},fine" for index in range(1, 41)]
    lines += [",No SKU here,x", "NONAME-1,,x", "X" * 300 + ",SKU far too long,x"]
    path = csv_dir / "bad-rows.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def headerless_csv(csv_dir) -> Path:
    path = csv_dir / "no-header.csv"
    path.write_text("code;title\nA;B\n", encoding="utf-8")
    return path


def progress_bar(page: Page):
    return page.locator("import-progress [role=progressbar]")


def shown_count(card, term: str):
    """The value next to ``term`` in the import card's list of counts."""
    term_element = card.page.locator("dt", has_text=re.compile(rf"^{re.escape(term)}$"))
    return card.locator(".counts > div").filter(has=term_element).locator("dd")


def open_imports(page: Page) -> None:
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", name="Import a CSV file")).to_be_visible()


def test_upload_shows_live_progress_from_events_until_complete(staff_page: Page, app_url, small_csv, snap):
    page = staff_page
    page.add_init_script(RECORD_PROGRESS)
    page.reload()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    open_imports(page)

    page.get_by_label("Choose a file…").set_input_files(small_csv)
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"), timeout=30_000)
    expect(progress_bar(page)).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]|[1-9]\d)$"), timeout=30_000)
    snap(page, "import-running")
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    snap(page, "import-complete")

    values = page.evaluate("window.__progress")
    intermediate = [value for value in values if 0 < value < 100]
    assert values[-1] == 100
    assert len(intermediate) >= 3, values
    assert values == sorted(values), values
    # The file went up with tus, and the live values came over the job's event stream.
    assert any(request.startswith("POST") and "/api/uploads/" in request for request in requests)
    assert any(request.startswith("PATCH") and "/api/uploads/" in request for request in requests)
    assert any(re.search(r"GET .*/api/imports/\d+/events/", request) for request in requests)
    # The stream sends the job's current state first: the job is never re-read over HTTP.
    assert not any(re.search(r"GET .*/api/imports/\d+/$", request) for request in requests), requests

    job = ImportJob.objects.get()
    card = page.locator("import-progress")
    expect(card).to_contain_text(f"{job.total_rows:,} of {job.total_rows:,} rows")
    expect(card.locator("dd").first).to_have_text(f"{job.created_rows:,}")
    assert job.created_rows == Product.objects.count() > 0
    # Every count is shown, rows replaced by a later one for the same SKU too (the file repeats
    # some SKUs); a server that does not count those yet has none.
    counts = page.request.get(f"{app_url}/api/imports/{job.id}/").json()
    for term, key in [("Created", "created"), ("Updated", "updated"), ("Unchanged", "unchanged"),
                      ("Superseded", "superseded"), ("Skipped", "skipped")]:
        expect(shown_count(card, term)).to_have_text(f"{counts.get(key, 0):,}")
    expect(page.locator(f'import-list tr[data-job="{job.id}"]')).to_contain_text("Completed")


def test_a_file_with_bad_rows_shows_them_and_offers_all_as_csv(staff_page: Page, bad_rows_csv, snap):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(bad_rows_csv)
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Completed", timeout=60_000)
    errors = card.get_by_role("region", name="3 rows were skipped")
    expect(errors.locator("tbody tr")).to_have_count(3)
    expect(errors.locator("tbody tr").nth(1)).to_contain_text("NONAME-1")
    expect(shown_count(card, "Skipped")).to_have_text("3")
    snap(page, "import-row-errors")

    with page.expect_download() as download_info:
        errors.get_by_role("link", name=re.compile("Download")).click()
    content = Path(download_info.value.path()).read_text(encoding="utf-8")
    lines = content.strip().splitlines()
    assert lines[0] == "line,sku,reason"
    assert len(lines) == 4
    assert Product.objects.count() == 40


def test_more_bad_rows_than_are_stored_says_the_list_is_cut(staff_page: Page, csv_dir):
    path = csv_dir / "many-bad-rows.csv"
    cap = IMPORT_MAX_STORED_ERRORS
    path.write_text("sku,name\n" + "".join(f"BAD-{i},\n" for i in range(cap + 50)) + "OK-1,Fine\n")
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(path)
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Completed", timeout=60_000)
    errors = card.get_by_role("region", name="200 rows were skipped")
    expect(errors).to_contain_text(
        "The list is cut: only the first 150 row errors are kept, and 50 more were counted but not stored."
    )
    link = errors.get_by_role("link", name="Download the first 150 row errors (CSV)")
    with page.expect_download() as download_info:
        link.click()
    rows = list(csv.reader(io.StringIO(Path(download_info.value.path()).read_text(encoding="utf-8"))))
    assert len(rows) == 1 + cap + 1
    assert rows[-1][:2] == ["", ""] and rows[-1][2].startswith("… and 50 more skipped rows, counted but not listed")


def test_a_failed_import_says_why_and_retry_sends_the_file_again(staff_page: Page, headerless_csv):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(headerless_csv)
    card = page.locator("import-progress")
    expect(card.locator(".badge")).to_have_text("Failed", timeout=60_000)
    failure = card.get_by_role("alert")
    expect(failure).to_contain_text("The import failed.")
    first = ImportJob.objects.get()
    assert first.message
    expect(failure).to_contain_text(first.message[:40])
    expect(card.locator(".import-phase")).to_have_text(re.compile(r"^Failed: "))

    failure.get_by_role("button", name="Retry").click()
    expect(page).not_to_have_url(re.compile(rf"/imports/{first.id}/$"), timeout=30_000)
    expect(page.locator("import-progress .badge")).to_have_text("Failed", timeout=60_000)
    assert ImportJob.objects.count() == 2


def test_reload_mid_import_shows_the_current_state_and_continues_live(staff_page: Page, large_csv, snap):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(large_csv)
    expect(progress_bar(page)).to_have_attribute("aria-valuenow", re.compile(r"^([1-9]|[1-5]\d)$"), timeout=60_000)
    before = int(progress_bar(page).get_attribute("aria-valuenow"))
    url = page.url

    page.add_init_script(RECORD_PROGRESS)
    page.reload()
    assert page.url == url
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=120_000)
    after = page.evaluate("window.__progress")
    assert after[0] >= before, (before, after)
    assert after[-1] == 100
    # Progress went on moving after the reload, not only jumped to the end.
    assert len([value for value in after if before <= value < 100]) >= 2, (before, after)


def test_coming_back_to_imports_follows_the_running_import(staff_page: Page, large_csv):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(large_csv)
    expect(progress_bar(page)).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d?$"), timeout=60_000)
    page.get_by_role("link", name="Catalogue").click()
    expect(page.get_by_role("heading", name="Catalogue")).to_be_visible()
    # Leaving the view closed its event stream; coming back to /imports/ opens the running one.
    page.get_by_role("link", name="Imports").click()
    expect(page.locator("import-progress .badge")).to_have_text(re.compile("Running|Completed"))
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=120_000)


def test_a_running_import_can_be_cancelled(staff_page: Page, large_csv):
    page = staff_page
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(large_csv)
    expect(progress_bar(page)).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d?$"), timeout=60_000)
    page.get_by_role("button", name="Cancel import").click()
    expect(page.locator("import-progress .badge")).to_have_text("Cancelled", timeout=30_000)
    expect(page.get_by_text(re.compile(r"Import #\d+ was cancelled"))).to_be_visible()
    job = ImportJob.objects.get()
    assert job.status == "cancelled"
    assert job.processed_rows < 20000


def test_upload_resumes_after_a_dropped_connection(staff_page: Page, bad_rows_csv):
    page = staff_page
    dropped: list[str] = []

    def drop_first_part(route):
        # The first part's connection breaks mid-request, as on a flaky network.
        if route.request.method == "PATCH" and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route(re.compile(r"/api/uploads/[^/]+$"), drop_first_part)
    patches: list[str] = []
    page.on("request", lambda request: patches.append(request.method) if "/api/uploads/" in request.url else None)
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(bad_rows_csv)
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    assert dropped, "the first part was never sent"
    # tus asked the server where to carry on (HEAD) and sent the part again.
    assert "HEAD" in patches and patches.count("PATCH") >= 2, patches
    assert Product.objects.count() == 40


def test_upload_parts_are_the_size_the_server_advertises(staff_page: Page, small_csv):
    page = staff_page
    part_size = 64 * 1024

    def advertise_small_parts(route):
        # The server's OPTIONS answer names its part size in Tus-Max-Chunk-Size; make it small.
        if route.request.method == "OPTIONS":
            response = route.fetch()
            headers = {**response.headers, "tus-max-chunk-size": str(part_size)}
            route.fulfill(response=response, headers=headers)
        else:
            route.continue_()

    page.route(re.compile(r"/api/uploads/$"), advertise_small_parts)
    offsets: list[int] = []
    page.on("request", lambda request: offsets.append(int(request.headers["upload-offset"]))
            if request.method == "PATCH" else None)
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(small_csv)
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=60_000)
    size = small_csv.stat().st_size
    assert size > 3 * part_size
    assert offsets == list(range(0, size, part_size)), (size, offsets)


def test_live_updates_stop_while_the_page_is_hidden_and_come_back_after_a_dropped_stream(
        staff_page: Page, large_csv):
    page = staff_page
    page.add_init_script(TRACK_STREAMS)
    page.reload()
    open_imports(page)
    page.get_by_label("Choose a file…").set_input_files(large_csv)
    expect(progress_bar(page)).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d?$"), timeout=60_000)
    open_streams = "window.__streams.filter((stream) => stream.readyState !== EventSource.CLOSED).length"
    assert page.evaluate(open_streams) > 0

    page.evaluate(SET_HIDDEN, True)
    assert page.evaluate(open_streams) == 0

    def end_at_once(route):
        # The streams opened on coming back end at once, as when the server restarts: EventSource
        # reconnects by itself (2 s later, as this answer asks).
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"},
                      body="retry: 2000\nevent: stream-open\ndata:\n\n")

    streams = re.compile(r"/api/imports/\d+/events/$")
    page.route(streams, end_at_once)
    page.evaluate(SET_HIDDEN, False)
    note = page.locator("import-progress .connection-note")
    expect(note).to_have_text("Live updates interrupted — reconnecting…")
    page.unroute(streams, end_at_once)
    expect(note).to_be_hidden(timeout=20_000)
    expect(page.locator("import-progress .badge")).to_have_text("Completed", timeout=120_000)
    # The finished job's stream-end closed every stream, so none reconnects.
    page.wait_for_function(f"({open_streams}) === 0")


def test_an_import_that_does_not_exist_says_so(staff_page: Page, app_url):
    page = staff_page
    # Its event stream is refused (404), so EventSource gives up; one read of the job says why.
    page.goto(app_url + "/imports/999999/")
    alert = page.locator("import-progress [role=alert]")
    expect(alert).to_have_text("Couldn't load import #999999. Not found.")
