"""Logging in and out, the API token page, and what an expired session does."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import Page, expect
from rest_framework.authtoken.models import Token

from tests.browser.conftest import PASSWORD, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.e2e]


def test_login_lands_on_the_page_that_was_asked_for(page: Page, app_url, staff, snap):
    page.goto(app_url + "/imports/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    snap(page, "login")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_url + "/imports/")
    expect(page.get_by_role("heading", name="Imports", level=1)).to_be_visible()


def test_wrong_password_shows_a_clear_error_and_stays_on_login(page: Page, app_url, staff):
    page.goto(app_url + "/login/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("username or password is not correct")
    expect(page).to_have_url(re.compile(r"/login/"))


def test_logout_returns_to_login_and_protects_the_app(page: Page, app_url, staff):
    log_in(page, app_url, username="staff")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.goto(app_url + "/products/")
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fproducts%2F"))


def test_expired_session_sends_back_to_login_then_back_to_the_view(page: Page, app_url, staff):
    log_in(page, app_url, username="staff", path="/products/?status=inactive")
    Session.objects.all().delete()
    page.get_by_label("Status").select_option("active")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_text("Your session has expired")).to_be_visible()
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(app_url + "/products/?status=active")


def test_token_is_shown_copied_and_regenerated_with_a_curl_example(page: Page, app_url, staff, snap):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, app_url, username="staff")
    page.get_by_role("link", name="API token").click()
    page.get_by_placeholder("Password").fill(PASSWORD)
    page.get_by_role("button", name="Show token").click()
    expect(page.get_by_label("Token", exact=True)).to_have_value(re.compile(r"^[0-9a-f]{40}$"))
    old_key = Token.objects.get(user=staff).key
    expect(page.get_by_label("Token", exact=True)).to_have_value(old_key)
    expect(page.locator("pre").first).to_contain_text(f'curl -H "Authorization: Token {old_key}" "{app_url}/api/products/')
    page.get_by_role("button", name="Copy", exact=True).first.click()
    expect(page.get_by_text("Token copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == old_key
    snap(page, "api-token")

    page.get_by_role("button", name="Regenerate token…").click()
    dialog = page.get_by_role("dialog", name="Regenerate your API token?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Regenerate token").click()
    expect(page.get_by_text("A new token was created")).to_be_visible()
    expect(page.get_by_label("Token", exact=True)).not_to_have_value(old_key)
    new_key = Token.objects.get(user=staff).key
    assert new_key != old_key
    expect(page.get_by_label("Token", exact=True)).to_have_value(new_key)
