"""Fuzz every API operation from its OpenAPI schema with schemathesis, in process (WSGI).

Each operation gets up to ``MAX_EXAMPLES`` generated requests (derandomized: the same ones every
run), sent as a signed-in staff user with a real API token against pytest-django's throw-away
test database. Checks: no 5xx (``not_a_server_error``), every answer's status is documented
(``status_code_conformance``) and its body matches the documented schema
(``response_schema_conformance``).

Left out, and why:
- ``GET /api/imports/{id}/events/``: a server-sent event stream that stays open until the job
  finishes; under WSGI it would never end, and its body is not JSON to check.
  tests/api/test_events.py and the access matrix cover it.
- ``/api/auth/logout/`` and ``/api/auth/token/regenerate/`` are fuzzed like the rest, but the
  token is read again before every request, since regenerating it revokes the old one.
"""

from __future__ import annotations

import socket

import pytest
import schemathesis
from django.core.files.base import ContentFile
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from catalog.models import Product
from importer.services import import_job_create
from importer.uploads import upload_create
from tests.support.processes import running_daphne
from webhooks.models import Webhook
from webhooks.services import webhook_secret_generate

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

# A tus part is raw bytes; schemathesis sends those for application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

# The schema as the API serves it at /api/schema/, generated here so that loading it needs no
# database or token at collection time.
schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))
schema.app = get_wsgi_application()
schema = schema.exclude(path_regex=r"/events/$")


@pytest.fixture
def staff_token(db, django_user_model):
    user = django_user_model.objects.create_user(username="fuzz-staff", password="x-4242-fuzz", is_staff=True)
    Token.objects.create(user=user)
    return user


@pytest.fixture
def existing(staff_token) -> dict[str, str]:
    """Objects for generated requests to hit: random ids alone would almost always be 404s."""
    product = Product.objects.create(sku="FUZZ-1", name="Fuzzed product")
    job = import_job_create(
        owner=staff_token, file=ContentFile(b"sku,name\nA-1,One\n", name="f.csv"), filename="f.csv"
    )
    upload = upload_create(owner=staff_token, length=64, filename="fuzz.csv")
    # On 127.0.0.1 with private networks refused: a fuzzed test send is refused, nothing is sent.
    webhook = Webhook.objects.create(url="http://127.0.0.1:9/fuzz", events=["product.created"],
                                     secret=webhook_secret_generate())
    return {"/api/products/": product.pk, "/api/imports/": job.pk, "/api/uploads/": upload.id.hex,
            "/api/webhooks/": webhook.pk}


def aim_at_existing(case, existing: dict) -> None:
    """Point every other generated request's path id at a real object (deterministically)."""
    params = case.path_parameters or {}
    for name in ("id", "upload_id"):
        value = params.get(name)
        if value is not None and len(str(value)) % 2 == 0:
            prefix = next(p for p in existing if case.path.startswith(p))
            params[name] = existing[prefix]


@pytest.fixture(autouse=True)
def keep_the_test_transaction():
    """Requests go through Django's real WSGI handler, which closes the database connection when
    a request ends; that would throw away the test's transaction. Django's own test client
    detaches the same signal handler while it sends a request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.slow
@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.function_scoped_fixture],
)
def test_api_operation_honours_its_schema(case, staff_token, existing):
    aim_at_existing(case, existing)
    key = Token.objects.get(user=staff_token).key
    # /healthz documents its 503 ("no worker is running", which is true here): any other 5xx
    # still fails its schema checks, since 503 is the only one documented.
    checks = CHECKS[1:] if case.path == "/healthz" else CHECKS
    case.call_and_validate(headers={"Authorization": f"Token {key}"}, checks=checks)


# --- Found while fuzzing: NUL bytes in credentials ------------------------------------------------


def _status_line(url: str, header: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /api/auth/me/ HTTP/1.1\r\nHost: 127.0.0.1\r\n" + header
                     + b"\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data.split(b"\r\n", 1)[0]


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.parametrize("header", [b"Authorization: Token ab\x00cd", b"Cookie: sessionid=abcdefgh\x00ijk"])
def test_nul_bytes_in_credentials_are_refused_by_the_server_before_django(
    header, transactional_db, process_logs
):
    # Through Django's WSGI handler a NUL in a token or session key reaches PostgreSQL, which
    # raises ("text fields cannot contain NUL") and the request fails with 500. The product is
    # served by daphne only (WSGI_APPLICATION is None), whose HTTP parser answers such a header
    # with 400 before Django runs; this pins that down.
    with running_daphne(process_logs) as (_, url):
        assert _status_line(url, header) == b"HTTP/1.1 400 Bad Request"
