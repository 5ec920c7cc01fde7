"""Every endpoint but login, token, csrf and /healthz needs a signed-in user."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

PROTECTED = [
    ("get", "/api/auth/me/"),
    ("post", "/api/auth/logout/"),
    ("post", "/api/auth/token/regenerate/"),
    ("get", "/api/products/"),
    ("post", "/api/products/"),
    ("get", "/api/products/1/"),
    ("put", "/api/products/1/"),
    ("patch", "/api/products/1/"),
    ("delete", "/api/products/1/"),
    ("post", "/api/products/bulk-delete/"),
    ("get", "/api/imports/"),
    ("post", "/api/imports/"),
    ("get", "/api/imports/1/"),
    ("post", "/api/imports/1/cancel/"),
    ("get", "/api/imports/1/errors/"),
    ("get", "/api/schema/"),
    ("get", "/api/docs/"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_anonymous_request_is_401_with_a_token_challenge(anonymous, method, path):
    response = getattr(anonymous, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.data["detail"] == "Authentication credentials were not provided."
    assert response.data["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/auth/csrf/"), ("post", "/api/auth/token/")]
)
def test_public_endpoints_answer_anonymous_requests(anonymous, method, path):
    assert getattr(anonymous, method)(path).status_code in {200, 400}
