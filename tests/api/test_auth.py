"""Session login for the browser_client, tokens for scripts, and CSRF on session writes."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.conftest import csrf_headers

pytestmark = pytest.mark.django_db

ALICE = {"username": "alice", "password": "wonderland-42"}


def test_csrf_endpoint_sets_the_cookie_without_login(browser_client):
    response = browser_client.get("/api/auth/csrf/")
    assert response.status_code == 200
    assert response.data["csrf_token"]
    assert browser_client.cookies["csrftoken"].value


def test_login_starts_a_session_and_returns_the_user(browser_client, user):
    response = browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    assert response.status_code == 200
    assert response.data == {
        "id": user.pk, "username": "alice", "email": "", "first_name": "", "last_name": "",
        "is_staff": False,
    }
    me = browser_client.get("/api/auth/me/")
    assert me.status_code == 200 and me.data["username"] == "alice"


def test_login_without_csrf_token_is_refused(browser_client, user):
    response = browser_client.post("/api/auth/login/", ALICE)
    assert response.status_code == 403
    assert response.data["code"] == "permission_denied"
    assert "CSRF" in response.data["detail"]
    assert browser_client.get("/api/auth/me/").status_code == 401


def test_wrong_password_is_400_with_one_message_for_any_username(browser_client, user):
    headers = csrf_headers(browser_client)
    wrong_password = browser_client.post("/api/auth/login/", {**ALICE, "password": "nope"}, **headers)
    unknown_user = browser_client.post(
        "/api/auth/login/", {"username": "mallory", "password": "x"}, **headers
    )
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.data == unknown_user.data
    assert wrong_password.data["detail"] == "The username or password is not correct."
    assert wrong_password.data["code"] == "invalid"


def test_inactive_user_cannot_log_in(browser_client, user):
    user.is_active = False
    user.save()
    response = browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    assert response.status_code == 400


def test_me_shows_staff_flag(staff_client):
    assert staff_client.get("/api/auth/me/").data["is_staff"] is True


def test_session_writes_need_the_csrf_token_after_login(browser_client, user):
    browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    product = {"sku": "A-1", "name": "Anvil"}

    refused = browser_client.post("/api/products/", product)
    assert refused.status_code == 403
    assert "CSRF" in refused.data["detail"]

    # Login rotated the token: the browser_client sends the cookie's new value.
    token = browser_client.cookies["csrftoken"].value
    accepted = browser_client.post("/api/products/", product, HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 201


def test_session_reads_need_no_csrf_token(browser_client, user):
    browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    assert browser_client.get("/api/products/").status_code == 200


def test_logout_ends_the_session(browser_client, user):
    browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    token = browser_client.cookies["csrftoken"].value
    assert browser_client.post("/api/auth/logout/", HTTP_X_CSRFTOKEN=token).status_code == 204
    assert browser_client.get("/api/auth/me/").status_code == 401


def test_logout_needs_the_csrf_token(browser_client, user):
    browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    assert browser_client.post("/api/auth/logout/").status_code == 403
    assert browser_client.get("/api/auth/me/").status_code == 200


def test_token_exchange_returns_a_token_that_authenticates_without_csrf(user):
    script = APIClient(enforce_csrf_checks=True)
    response = script.post("/api/auth/token/", ALICE)
    assert response.status_code == 200
    key = response.data["token"]
    assert key == Token.objects.get(user=user).key
    # The same token on every exchange, so several scripts can share one account.
    assert script.post("/api/auth/token/", ALICE).data["token"] == key

    script.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert script.get("/api/auth/me/").data["username"] == "alice"
    assert script.post("/api/products/", {"sku": "T-1", "name": "Tool"}).status_code == 201


def test_token_exchange_with_wrong_password_is_400(anonymous, user):
    response = anonymous.post("/api/auth/token/", {**ALICE, "password": "wrong"})
    assert response.status_code == 400
    assert "token" not in response.data


def test_invalid_token_is_401(anonymous, user):
    anonymous.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anonymous.get("/api/auth/me/")
    assert response.status_code == 401
    assert response.data == {"detail": "Invalid token.", "code": "authentication_failed"}


def test_regenerate_replaces_the_token(browser_client, user):
    old = Token.objects.create(user=user).key
    browser_client.post("/api/auth/login/", ALICE, **csrf_headers(browser_client))
    response = browser_client.post(
        "/api/auth/token/regenerate/", HTTP_X_CSRFTOKEN=browser_client.cookies["csrftoken"].value
    )
    assert response.status_code == 200
    assert response.data["token"] != old

    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    assert script.get("/api/auth/me/").status_code == 401
    script.credentials(HTTP_AUTHORIZATION=f"Token {response.data['token']}")
    assert script.get("/api/auth/me/").status_code == 200


def test_drf_create_token_command_makes_a_working_token(user):
    from django.core.management import call_command

    call_command("drf_create_token", "alice")
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get(user=user).key}")
    assert script.get("/api/auth/me/").status_code == 200
