"""Every endpoint but login, token, csrf, the API root and /healthz needs a signed-in user."""

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
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_anonymous_request_is_401_with_a_token_challenge(anonymous, method, path):
    response = getattr(anonymous, method)(path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.data["detail"] == "Authentication credentials were not provided."
    assert response.data["code"] == "not_authenticated"


@pytest.mark.parametrize(("method", "path"), [("get", "/api/auth/csrf/"), ("post", "/api/auth/token/")])
def test_public_endpoints_answer_anonymous_requests(anonymous, method, path):
    assert getattr(anonymous, method)(path).status_code in {200, 400}


def test_the_api_root_is_public_and_links_the_endpoints_and_the_login(anonymous):
    response = anonymous.get("/api/")
    assert response.status_code == 200
    assert {"products", "imports", "uploads", "schema", "docs"} <= set(response.json())
    page = anonymous.get("/api/", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"href='/api-auth/login/?next=/api/'>Log in</a>" in page.content


def test_the_docs_page_sends_an_anonymous_visitor_to_log_in_and_back(anonymous, user, client):
    response = anonymous.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"] == "/api-auth/login/?next=/api/docs/"
    # Logging in there comes back to the docs, which then load the (login-only) schema.
    login = client.post(
        "/api-auth/login/?next=/api/docs/",
        {"username": "alice", "password": "wonderland-42", "next": "/api/docs/"},
    )
    assert login.status_code == 302 and login["Location"] == "/api/docs/"
    assert client.get("/api/docs/").status_code == 200
    assert client.get("/api/schema/").status_code == 200
