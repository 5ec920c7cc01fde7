"""Clients for the API tests: anonymous, token-authenticated, and browser-like (session + CSRF)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.support.clients import token_client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for(db) -> Callable[..., APIClient]:
    """A client that authenticates as ``user`` with a real API token, as scripts do."""
    return token_client


@pytest.fixture
def alice_client(client_for, user) -> APIClient:
    return client_for(user)


@pytest.fixture
def bob_client(client_for, other_user) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def staff_client(client_for, staff_user) -> APIClient:
    return client_for(staff_user)


@pytest.fixture
def browser_client(db) -> APIClient:
    """A client that, like a browser, must present the CSRF token on session writes."""
    return APIClient(enforce_csrf_checks=True)


def csrf_headers(client: APIClient) -> dict[str, str]:
    """Fetch the CSRF cookie as the front end does and return the header that echoes it."""
    response = client.get("/api/auth/csrf/")
    assert response.status_code == 200
    return {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hashing each test user's password with PBKDF2 takes most of a second on a busy machine."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
