"""The OpenAPI schema and its docs page, served locally for signed-in users."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

API_PATHS = {
    "/api/auth/csrf/": {"get"},
    "/api/auth/login/": {"post"},
    "/api/auth/logout/": {"post"},
    "/api/auth/me/": {"get"},
    "/api/auth/token/": {"post"},
    "/api/auth/token/regenerate/": {"post"},
    "/api/products/": {"get", "post"},
    "/api/products/{id}/": {"get", "put", "patch", "delete"},
    "/api/products/bulk-delete/": {"post"},
    "/api/imports/": {"get", "post"},
    "/api/imports/{id}/": {"get"},
    "/api/imports/{id}/cancel/": {"post"},
    "/api/imports/{id}/errors/": {"get"},
    "/healthz": {"get"},
}


def test_schema_documents_every_endpoint_with_its_methods(alice_client):
    response = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in API_PATHS.items():
        assert methods <= set(paths.get(path, {})), path


def test_import_create_documents_both_request_forms_and_the_413(alice_client):
    schema = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    create = schema["paths"]["/api/imports/"]["post"]
    assert set(create["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
    assert {"201", "400", "413"} <= set(create["responses"])
    errors = schema["paths"]["/api/imports/{id}/errors/"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in errors


def test_public_endpoints_need_no_credentials_in_the_schema(alice_client):
    schema = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in ("/api/auth/login/", "/api/auth/token/", "/healthz"):
        (operation,) = schema["paths"][path].values()
        assert operation.get("security") in ([], [{}], None), path
    assert {"tokenAuth": []} in schema["paths"]["/api/products/"]["get"]["security"]


def test_docs_page_uses_locally_served_assets(alice_client):
    response = alice_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
