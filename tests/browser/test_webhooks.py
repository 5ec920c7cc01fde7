"""The webhook screen in a real browser, against daphne and a worker on the test database, sending
to a real HTTP receiver started by the test on 127.0.0.1 (the browser fixture's server processes
run with ``WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true`` for it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks import Webhook as SignatureCheck

from tests.browser.conftest import PASSWORD, log_in
from tests.browser.test_accessibility import VIEWPORTS, Audit
from tests.support.processes import free_port
from tests.support.webhook_receiver import Receiver, running_receiver
from webhooks.models import Delivery, Webhook
from webhooks.services import webhook_secret_generate

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]

# Not 200: a status code the page can only show if it really came from the receiver.
RECEIVER_STATUS = 202


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        running.script("/hook", then=RECEIVER_STATUS)
        yield running


def card(page: Page, url: str):
    return page.locator("article.webhook-card").filter(has=page.get_by_role("heading", name=url))


def test_staff_add_a_webhook_see_its_secret_once_test_it_disable_and_delete_it(
    staff_page: Page, app_url, receiver, snap
):
    page = staff_page
    url = receiver.url("/hook")
    page.get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()

    # Add: the server's refusal of the URL appears next to the URL field.
    page.get_by_role("button", name="Add webhook").click()
    dialog = page.get_by_role("dialog", name="Add a webhook")
    expect(dialog.get_by_label("URL")).to_be_focused()
    dialog.get_by_label("URL").fill("ftp://example.com/hook")
    dialog.get_by_label("Description").fill("ERP sync")
    dialog.get_by_role("checkbox", name="Catalogue cleared").uncheck()
    dialog.get_by_role("button", name="Add webhook").click()
    url_error = dialog.locator("[data-field=url] .field-error")
    expect(url_error).to_be_visible()
    expect(dialog.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    expect(dialog.get_by_label("URL")).to_be_focused()
    assert not Webhook.objects.exists()
    dialog.get_by_label("URL").fill(url)
    dialog.get_by_role("button", name="Add webhook").click()

    # The whole secret, once, with a copy button and the warning.
    shown = page.get_by_role("dialog", name="Webhook added: copy its secret")
    expect(shown.get_by_text("you will not see it again")).to_be_visible()
    expect(shown.get_by_role("button", name="Copy")).to_be_focused()
    secret = shown.get_by_label("Signing secret").input_value()
    audit = Audit(page)
    audit("secret shown once")
    audit.assert_clean()
    webhook = Webhook.objects.get()
    assert secret.startswith("whsec_") and secret == webhook.secret
    assert webhook.events == sorted(
        ["product.created", "product.updated", "product.deleted", "import.completed", "import.failed"]
    )
    shown.get_by_role("button", name="I have copied it").click()
    expect(shown).to_be_hidden()

    # Later only its start.
    hook = card(page, url)
    expect(hook).to_be_visible()
    expect(hook.get_by_text("5 events:")).to_be_visible()
    expect(hook.get_by_text(f"Signing secret: {webhook.secret[:12]}…")).to_be_visible()
    assert secret not in page.content()
    expect(page.get_by_text("1 webhook", exact=True)).to_be_visible()

    # Test: the receiver's status code and the time, in the card's live region, within seconds.
    hook.get_by_role("button", name="Test ERP sync").click()
    result = hook.get_by_role("status").filter(has_text="Test")
    expect(result).to_have_text(
        re.compile(rf"^Test delivered: HTTP {RECEIVER_STATUS} in \d+ ms$"), timeout=8_000
    )
    [request] = receiver.received("/hook")
    SignatureCheck(secret).verify(request.body, request.headers)
    assert json.loads(request.body)["type"] == "webhook.test"
    deliveries = hook.locator(".deliveries-table tbody tr")
    expect(deliveries).to_have_count(1)
    expect(deliveries.first).to_contain_text("webhook.test")
    expect(deliveries.first).to_contain_text(str(RECEIVER_STATUS))
    expect(deliveries.first).to_contain_text("attempt 1")
    snap(page, "webhooks-after-test")

    # Regenerate: confirmed first, then the new secret once.
    hook.get_by_role("button", name="Regenerate the secret of ERP sync").click()
    page.get_by_role("dialog", name="Regenerate the secret?").get_by_role(
        "button", name="Regenerate secret"
    ).click()
    renewed = page.get_by_role("dialog", name="New secret: copy it")
    new_secret = renewed.get_by_label("Signing secret").input_value()
    webhook.refresh_from_db()
    assert new_secret == webhook.secret != secret
    renewed.get_by_role("button", name="I have copied it").click()
    expect(hook.get_by_text(f"Signing secret: {new_secret[:12]}…")).to_be_visible()

    # Disable with the switch, keyboard only.
    switch = hook.get_by_role("switch", name="Enabled: ERP sync")
    switch.focus()
    page.keyboard.press("Enter")
    expect(hook.get_by_role("switch", name="Enabled: ERP sync")).to_have_attribute("aria-checked", "false")
    expect(page.get_by_text("ERP sync is now disabled.")).to_be_visible()
    webhook.refresh_from_db()
    assert webhook.is_active is False

    # Delete, after confirming.
    hook.get_by_role("button", name="Delete ERP sync").click()
    confirm = page.get_by_role("dialog", name="Delete this webhook?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    confirm.get_by_role("button", name="Delete webhook").click()
    expect(page.get_by_text("No webhooks yet.")).to_be_visible()
    assert not Webhook.objects.exists()


def test_test_shows_the_error_when_nothing_answers(staff_page: Page, app_url):
    # A port nothing listens on: the send fails at once, and the card says why.
    url = f"http://127.0.0.1:{free_port()}/nobody"
    Webhook.objects.create(url=url, events=["product.created"], secret=webhook_secret_generate())
    page = staff_page
    page.goto(app_url + "/webhooks/")
    hook = card(page, url)
    hook.get_by_role("button", name=f"Test {url}").click()
    expect(hook.get_by_role("status").filter(has_text="Test failed:")).to_be_visible(timeout=12_000)
    expect(hook.locator(".deliveries-table tbody tr").first).to_contain_text("Error")


def test_people_who_are_not_staff_get_no_webhook_screen(page: Page, app_url, django_user_model):
    django_user_model.objects.create_user(username="bob", password=PASSWORD)
    page.set_default_timeout(15_000)
    log_in(page, app_url, username="bob")
    expect(page.get_by_role("link", name="Imports")).to_be_visible()
    expect(page.get_by_role("link", name="Webhooks")).to_have_count(0)
    page.goto(app_url + "/webhooks/")
    expect(page.get_by_text("Webhooks are managed by staff.")).to_be_visible()
    expect(page.get_by_role("button", name="Add webhook")).to_have_count(0)


@pytest.fixture
def disabled_webhook(transactional_db) -> Webhook:
    """A webhook the server turned off after failures, with a failed and a successful delivery."""
    webhook = Webhook.objects.create(
        url="https://erp.example.com/api/v2/webhooks/product-import/incoming-events?tenant=shop-eu-west",
        description="Stock sync for the warehouse",
        events=["import.completed"],
        secret=webhook_secret_generate(),
        is_active=False,
        disabled_reason="Disabled after 3 events failed in a row (last: HTTP 503).",
    )
    common = {"webhook": webhook, "event_type": "import.completed", "payload": {}}
    Delivery.objects.create(
        **common,
        event_id="msg_1",
        attempt=1,
        status_code=200,
        duration_ms=48,
        response_excerpt="ok",
        succeeded=True,
    )
    Delivery.objects.create(
        **common, event_id="msg_2", attempt=6, duration_ms=10_000, error="No answer within 10 s."
    )
    return webhook


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_webhook_screen_and_dialogs_are_accessible_and_fit_a_phone(
    page: Page, app_url, staff, disabled_webhook, viewport, snap
):
    page.set_default_timeout(15_000)
    page.set_viewport_size(viewport)
    page.emulate_media(reduced_motion="reduce")
    log_in(page, app_url, username=staff.username, path="/webhooks/")
    audit = Audit(page)

    hook = card(page, disabled_webhook.url)
    expect(hook.get_by_text("Disabled by the server:")).to_be_visible()
    expect(hook).to_contain_text(disabled_webhook.disabled_reason)
    expect(hook.get_by_text("1 event:")).to_be_visible()
    rows = hook.locator(".deliveries-table tbody tr")
    expect(rows).to_have_count(2)
    # Newest first: the failed attempt, with its error and attempt number.
    expect(rows.first).to_contain_text("No answer within 10 s.")
    expect(rows.first).to_contain_text("attempt 6")
    expect(rows.nth(1)).to_contain_text("48 ms")
    # Nothing wider than the window: the long URL wraps inside its card.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    audit("webhooks")
    laptop = viewport["width"] > 800
    snap(page, "webhooks" if laptop else "webhooks-phone", readme=laptop)

    hook.get_by_role("button", name="Edit Stock sync for the warehouse").click()
    dialog = page.get_by_role("dialog", name="Edit webhook")
    expect(dialog.get_by_role("checkbox", name="Import completed")).to_be_checked()
    expect(dialog.get_by_role("checkbox", name="Product created")).not_to_be_checked()
    dialog.get_by_role("checkbox", name="Import completed").uncheck()
    dialog.get_by_role("button", name="Save changes").click()
    expect(dialog.locator("[data-field=events] .field-error")).to_be_visible()
    audit("edit webhook dialog, with an error")
    page.keyboard.press("Escape")
    expect(hook.get_by_role("button", name="Edit Stock sync for the warehouse")).to_be_focused()

    page.get_by_role("button", name="Add webhook").click()
    expect(page.get_by_role("dialog", name="Add a webhook")).to_be_visible()
    audit("add webhook dialog")
    page.keyboard.press("Escape")
    hook.get_by_role("button", name="Delete Stock sync for the warehouse").click()
    expect(page.get_by_role("dialog", name="Delete this webhook?")).to_be_visible()
    audit("delete webhook confirmation")
    page.get_by_role("button", name="Cancel").click()
    audit.assert_clean()
