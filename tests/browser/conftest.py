"""Browser tests: headless Chromium (Debian's, driven by Playwright) against a real daphne and a
real Celery worker serving the test database.

Playwright never downloads a browser here: the tests launch /usr/bin/chromium, which
``.ci/install-chromium`` installs from Debian's packages when it is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from tests.support.processes import ROOT, start_daphne, start_worker

# Playwright's sync API runs an asyncio loop in this thread for the whole session (its browser
# fixture is session-scoped), and Django refuses ORM calls while a loop runs unless told that this
# single-threaded test process is safe. Set at import, so every later test module has it too.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Small chunks: a file of a few thousand rows takes a dozen or more committed chunks, so the
# progress bar visibly moves through intermediate values.
IMPORT_MAX_STORED_ERRORS = 150
IMPORT_CHUNK_SIZE = "200"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "wonderland-42"


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium, installed on first need by the project's own script."""
    if not CHROMIUM.exists():
        subprocess.run(["bash", str(ROOT / ".ci" / "install-chromium")], check=True)
    assert CHROMIUM.exists(), "chromium is missing and .ci/install-chromium could not install it"
    return str(CHROMIUM)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args, chromium_executable) -> dict:
    """pytest-playwright's launch options, pointed at the system chromium."""
    return {**browser_type_launch_args, "executable_path": chromium_executable, "args": CHROMIUM_ARGS,
            "headless": True}


@pytest.fixture
def browser_context_args(browser_context_args) -> dict:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 860}, "locale": "en-US"}


@pytest.fixture(scope="package")
def services(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[str]:
    """A daphne server and a Celery worker on the test database, shared by the browser tests.

    Started once for this package (a worker takes seconds to start on a busy machine) and
    stopped when its last test ends, with a queue of their own: a worker left running would
    take later tests' jobs with this package's MEDIA_ROOT. Each test's ``transactional_db``
    empties the tables afterwards; the processes just see an empty database.
    Returns daphne's base URL.
    """
    logs = tmp_path_factory.mktemp("browser-logs")
    media = str(tmp_path_factory.mktemp("browser-media"))
    env = {
        "IMPORT_CHUNK_SIZE": IMPORT_CHUNK_SIZE,
        # Small, so a test file can pass it (tests/browser/test_imports.py); others stay below.
        "IMPORT_MAX_STORED_ERRORS": str(IMPORT_MAX_STORED_ERRORS),
        "MEDIA_ROOT": media,
        "CELERY_TASK_DEFAULT_QUEUE": f"{settings.CELERY_TASK_DEFAULT_QUEUE}-browser",
        # The webhook tests' receiver listens on 127.0.0.1, which is refused by default (SSRF).
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    }
    with django_db_blocker.unblock():
        worker = start_worker(log_dir=logs, **env)
        try:
            server, url = start_daphne(log_dir=logs, **env)
        except BaseException:
            worker.stop()
            raise
    try:
        yield url
    finally:
        server.stop()
        worker.stop()


@pytest.fixture
def app_url(services, transactional_db) -> str:
    """The app's base URL; the test's data is committed so the server processes see it."""
    return services


@pytest.fixture
def staff(django_user_model, transactional_db):
    return django_user_model.objects.create_user(username="staff", password=PASSWORD, is_staff=True)


@pytest.fixture
def snap() -> Callable[..., Path]:
    """Save a screenshot of the page as a test artifact (test-artifacts/browser/<name>.png).

    ``readme=True`` marks a screenshot the README shows: with ``UPDATE_SCREENSHOTS=1`` in the
    environment it is also written to docs/screenshots/<name>.png (``make screenshots``).
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Page, name: str, *, full_page: bool = True, readme: bool = False) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        if readme and os.environ.get("UPDATE_SCREENSHOTS") == "1":
            shutil.copyfile(path, README_SCREENSHOTS / f"{name}.png")
        return path

    return save


def log_in(page: Page, app_url: str, *, username: str, password: str = PASSWORD, path: str = "/products/") -> None:
    """Open ``path`` and log in through the login form it redirects to."""
    page.goto(app_url + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


@pytest.fixture
def staff_page(page: Page, app_url: str, staff) -> Page:
    """A page logged in as a staff user, on the catalogue."""
    page.set_default_timeout(15_000)
    log_in(page, app_url, username=staff.username)
    return page
