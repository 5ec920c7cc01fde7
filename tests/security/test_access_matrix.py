"""Who may do what: every route of the URL conf, every method, four roles, in one table.

Roles: ``anonymous``; ``owner`` (alice, who owns the import job and the upload in the table's
world); ``other`` (bob, a plain user); ``staff``. Each signed-in role sends its API token (as
scripts do) and also has a session, which only the admin site uses.

The table is checked against the resolver and the OpenAPI schema: a new route or method without
a row fails ``test_the_table_covers_every_route_and_method``. Each cell runs in a fresh database
with the same world (one product, alice's pending import job, alice's started upload), and a
refused request must leave that world exactly as it was.

Webhooks are staff only: everyone else gets 403 (anonymous 401), whichever webhook they name.

Products have no owner: the catalogue is shared, so every signed-in user may read and edit any
product; only deleting *all* products is staff-only (issue 4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.views import View
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.views import APIView

from catalog.models import Product
from importer.models import ImportJob, Upload
from importer.services import import_job_create
from importer.uploads import upload_create
from tests.support.clients import token_client
from webhooks.models import Webhook
from webhooks.services import webhook_secret_generate

ROLES = ("anonymous", "owner", "other", "staff")
TUS = {"Tus-Resumable": "1.0.0"}
ALICE = {"username": "alice", "password": "wonderland-42"}
# /healthz answers 503 when no worker consumes this test session's queue; either way it answers.
HEALTH = frozenset({200, 503})


@dataclass(frozen=True)
class Row:
    """One (method, route) and the status each role gets. A cell may be a set of accepted statuses."""

    method: str
    route: str
    path: str
    anonymous: Any
    owner: Any
    other: Any
    staff: Any
    data: Any = None
    format: str | None = None
    headers: dict = field(default_factory=dict)

    def expected(self, role: str) -> frozenset[int]:
        cell = getattr(self, role)
        return cell if isinstance(cell, frozenset) else frozenset({cell})


def row(method, route, path, anonymous, owner, other, staff, **kwargs) -> Row:
    return Row(method, route, path, anonymous, owner, other, staff, **kwargs)


def all_(status) -> tuple:
    return (status,) * 4


def signed_in(status) -> tuple:
    return (401, status, status, status)


# owner / other / staff on alice's job: staff see every job, another user gets 404 (not 403),
# so the job's existence is not revealed.
def owner_or_staff(status) -> tuple:
    return (401, status, 404, status)


def csv_file() -> SimpleUploadedFile:
    return SimpleUploadedFile("products.csv", b"sku,name\nNEW-1,New product\n", content_type="text/csv")


PRODUCT = {"sku": "NEW-1", "name": "New product", "description": "", "is_active": True}
# A public address literal: saving it needs no DNS, and nothing is sent to it by these rows.
WEBHOOK = {"url": "https://93.184.216.34/hooks", "events": ["product.created"], "description": "ERP",
           "is_active": True}
PART = dict(data=b"0123456789", format=None, headers={**TUS, "Upload-Offset": "0",
                                                      "Content-Type": "application/offset+octet-stream"})

TABLE: list[Row] = [
    # --- Public -------------------------------------------------------------------------------
    row("GET", "healthz", "/healthz", *all_(HEALTH)),
    row("GET", "api/auth/csrf/", "/api/auth/csrf/", *all_(200)),
    row("POST", "api/auth/login/", "/api/auth/login/", *all_(200), data=ALICE),
    row("POST", "api/auth/token/", "/api/auth/token/", *all_(200), data=ALICE),
    # DRF's browsable-API sign-in pages (plain Django views).
    row("GET", "api-auth/login/", "/api-auth/login/", *all_(200)),
    row("POST", "api-auth/login/", "/api-auth/login/", *all_(302), data=ALICE, format="multipart"),
    row("PUT", "api-auth/login/", "/api-auth/login/", *all_(200)),
    row("POST", "api-auth/logout/", "/api-auth/logout/", *all_(200)),
    # The front end's HTML shell: public, it holds no data (the API calls behind it are checked).
    *(row("GET", route, path, *all_(200)) for route, path in [
        ("", "/"), ("login/", "/login/"), ("products/", "/products/"), ("imports/", "/imports/"),
        ("imports/<int:pk>/", "/imports/{job}/"), ("account/", "/account/"), ("webhooks/", "/webhooks/"),
    ]),
    # The browsable API's front door: the endpoints and a sign-in link.
    row("GET", "api/", "/api/", *all_(200)),
    # Any other path under /api/: a JSON 404 for everyone (checked for the error shape below).
    row("GET", "api/<path:unknown>", "/api/no-such-endpoint/", *all_(404)),
    # tus capability discovery (and a browser's CORS preflight) reveals nothing about anyone.
    row("OPTIONS", "api/uploads/", "/api/uploads/", *all_(204)),
    row("OPTIONS", "api/uploads/<str:upload_id>", "/api/uploads/{upload}", *all_(204)),
    # --- Any signed-in user ----------------------------------------------------------------------
    row("POST", "api/auth/logout/", "/api/auth/logout/", *signed_in(204)),
    row("GET", "api/auth/me/", "/api/auth/me/", *signed_in(200)),
    row("POST", "api/auth/token/regenerate/", "/api/auth/token/regenerate/", *signed_in(200)),
    row("GET", "api/schema/", "/api/schema/", *signed_in(200)),
    # The docs page sends an anonymous visitor to the sign-in form (the schema it shows is login-only).
    row("GET", "api/docs/", "/api/docs/", 302, 200, 200, 200),
    row("GET", "api/products/", "/api/products/", *signed_in(200)),
    row("POST", "api/products/", "/api/products/", *signed_in(201), data=PRODUCT),
    row("GET", "api/products/export/", "/api/products/export/", *signed_in(200)),
    row("GET", "api/products/<pk>/", "/api/products/{product}/", *signed_in(200)),
    row("PUT", "api/products/<pk>/", "/api/products/{product}/", *signed_in(200), data=PRODUCT),
    row("PATCH", "api/products/<pk>/", "/api/products/{product}/", *signed_in(200),
        data={"is_active": False}),
    row("DELETE", "api/products/<pk>/", "/api/products/{product}/", *signed_in(204)),
    row("GET", "api/imports/", "/api/imports/", *signed_in(200)),
    row("POST", "api/imports/", "/api/imports/", *signed_in(201), data="file", format="multipart"),
    row("POST", "api/uploads/", "/api/uploads/", *signed_in(201), headers={**TUS, "Upload-Length": "10"}),
    # --- Staff only ----------------------------------------------------------------------------------
    # Staff get past the permission check to the business rule: alice's pending import makes it 409.
    row("POST", "api/products/bulk-delete/", "/api/products/bulk-delete/", 401, 403, 403, 409,
        data={"confirm": True}),
    row("GET", "api/webhooks/", "/api/webhooks/", 401, 403, 403, 200),
    row("POST", "api/webhooks/", "/api/webhooks/", 401, 403, 403, 201, data=WEBHOOK),
    row("GET", "api/webhooks/<pk>/", "/api/webhooks/{webhook}/", 401, 403, 403, 200),
    row("PUT", "api/webhooks/<pk>/", "/api/webhooks/{webhook}/", 401, 403, 403, 200, data=WEBHOOK),
    row("PATCH", "api/webhooks/<pk>/", "/api/webhooks/{webhook}/", 401, 403, 403, 200,
        data={"is_active": False}),
    row("DELETE", "api/webhooks/<pk>/", "/api/webhooks/{webhook}/", 401, 403, 403, 204),
    # The world's webhook is on 127.0.0.1, so staff's test send is refused there and then (an
    # answer with an "error", 200), with nothing sent.
    row("POST", "api/webhooks/<pk>/test/", "/api/webhooks/{webhook}/test/", 401, 403, 403, 200),
    row("GET", "api/webhooks/<pk>/deliveries/", "/api/webhooks/{webhook}/deliveries/", 401, 403, 403, 200),
    row("POST", "api/webhooks/<pk>/rotate-secret/", "/api/webhooks/{webhook}/rotate-secret/",
        401, 403, 403, 200),
    # The admin site (one row for all its routes): staff only, others are sent to its login page.
    row("GET", "admin/", "/admin/", 302, 302, 302, 200),
    # --- Owner or staff (another user's job is 404) ------------------------------------------------
    row("GET", "api/imports/<pk>/", "/api/imports/{job}/", *owner_or_staff(200)),
    row("POST", "api/imports/<pk>/cancel/", "/api/imports/{job}/cancel/", *owner_or_staff(200)),
    # alice's job is pending: past the access check, the owner and staff meet the state rule (409).
    row("POST", "api/imports/<pk>/mapping/", "/api/imports/{job}/mapping/", *owner_or_staff(409),
        data={"columns": {"sku": "sku", "name": "name"}}),
    row("POST", "api/imports/<pk>/confirm/", "/api/imports/{job}/confirm/", *owner_or_staff(409)),
    row("POST", "api/imports/<pk>/undo/", "/api/imports/{job}/undo/", *owner_or_staff(409),
        data={"force": False}),
    row("GET", "api/imports/<pk>/errors/", "/api/imports/{job}/errors/", *owner_or_staff(200)),
    # Live progress: a refused request must be a plain error answer, never a started stream.
    row("GET", "api/imports/<int:pk>/events/", "/api/imports/{job}/events/", *owner_or_staff(200)),
    # --- Owner only: uploads are private, even from staff ------------------------------------------
    row("HEAD", "api/uploads/<str:upload_id>", "/api/uploads/{upload}", 401, 200, 404, 404, headers=TUS),
    row("PATCH", "api/uploads/<str:upload_id>", "/api/uploads/{upload}", 401, 204, 404, 404, **PART),
    row("DELETE", "api/uploads/<str:upload_id>", "/api/uploads/{upload}", 401, 204, 404, 404, headers=TUS),
]

ROUTER_PK = re.compile(r"\(\?P<(\w+)>[^)]*\)")


def normalise(route: str) -> str:
    """A resolver route as written in the table: router regexes become ``<pk>`` style."""
    return ROUTER_PK.sub(r"<\1>", route).replace("^", "").replace("$", "")


def _custom_options(view_class) -> bool:
    # APIView and View answer OPTIONS generically (metadata / Allow header) behind the same
    # checks as the view's other methods; only a view with its own options() needs a row.
    return getattr(view_class, "options", None) not in (APIView.options, View.options)


def routes_and_methods() -> set[tuple[str, str]]:
    """(METHOD, route) for everything the URL conf answers; the admin site as one GET row."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if str(pattern.pattern) == "admin/":
                    found.add(("GET", prefix + "admin/"))
                else:
                    walk(pattern.url_patterns, prefix + str(pattern.pattern))
                continue
            assert isinstance(pattern, URLPattern)
            route = normalise(prefix + str(pattern.pattern))
            callback = pattern.callback
            view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
            if getattr(callback, "actions", None):
                # HEAD that only repeats GET needs no row of its own (as for plain views).
                methods = {m for m, action in callback.actions.items()
                           if not (m == "head" and action == callback.actions.get("get"))}
            else:
                assert view_class is not None, f"{route}: not a class-based view; add it by hand"
                methods = {m for m in view_class.http_method_names
                           if m != "options" and hasattr(view_class, m)}
                if _custom_options(view_class):
                    methods.add("options")
            found.update((method.upper(), route) for method in methods)

    walk(get_resolver().url_patterns, "")
    return found


def test_the_table_covers_every_route_and_method():
    table = {(r.method, r.route) for r in TABLE}
    assert len(table) == len(TABLE), "a (method, route) appears twice in the table"
    missing = routes_and_methods() - table
    assert not missing, f"routes without a row in the access table: {sorted(missing)}"
    stale = table - routes_and_methods()
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


@pytest.mark.django_db
def test_every_documented_operation_has_a_row(staff_user):
    client = APIClient()
    client.force_authenticate(staff_user)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    table = {(r.method, r.route) for r in TABLE}
    for path, operations in schema["paths"].items():
        match = resolve(re.sub(r"\{[^}]+\}", "1", path))
        for method in operations:
            if method in {"parameters", "summary", "description"}:
                continue
            assert (method.upper(), normalise(match.route)) in table, f"{method.upper()} {path}"


# --- The matrix ---------------------------------------------------------------------------------


@dataclass
class World:
    product: Product
    job: ImportJob
    upload: Upload
    webhook: Webhook
    clients: dict[str, APIClient]

    def snapshot(self) -> tuple:
        """Everything a refused request could have changed."""
        return (
            sorted(Product.objects.values_list("sku", "name", "description", "is_active")),
            sorted(ImportJob.objects.values_list("pk", "status")),
            sorted(Upload.objects.values_list("pk", "offset")),
            sorted(Token.objects.values_list("user_id", "key")),
            sorted(Webhook.objects.values_list("pk", "url", "events", "is_active", "secret")),
        )


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Autouse, so it applies before the user fixtures hash their passwords (PBKDF2 is slow)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db, user, other_user, staff_user) -> World:
    product = Product.objects.create(sku="SKU-1", name="A product")
    job = import_job_create(owner=user, file=csv_file(), filename="products.csv")
    upload = upload_create(owner=user, length=10, filename="products.csv")
    webhook = Webhook.objects.create(url="http://127.0.0.1:9/hooks", events=["product.created"],
                                     secret=webhook_secret_generate())
    clients = {"anonymous": APIClient()}
    for role, account in (("owner", user), ("other", other_user), ("staff", staff_user)):
        client = token_client(account)
        client.force_login(account)  # only the admin site reads the session
        clients[role] = client
    return World(product=product, job=job, upload=upload, webhook=webhook, clients=clients)


def send(world: World, case: Row, role: str):
    path = case.path.format(product=world.product.pk, job=world.job.pk, upload=world.upload.id.hex,
                            webhook=world.webhook.pk)
    client = world.clients[role]
    data = {"file": csv_file()} if case.data == "file" else case.data
    headers = dict(case.headers)
    kwargs: dict[str, Any] = {}
    if "Content-Type" in headers:
        kwargs["content_type"] = headers.pop("Content-Type")
    elif case.format:
        kwargs["format"] = case.format
    elif data is not None:
        kwargs["format"] = "json"
    method = getattr(client, case.method.lower())
    if data is not None:
        kwargs["data"] = data
    return method(path, headers=headers, **kwargs)


def _assert_error_shape(response, status: int) -> None:
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"
    # The rendered form depends on the negotiated format (the schema view answers YAML, the docs
    # page HTML), so check the data DRF rendered; HEAD answers carry no body at all.
    body = getattr(response, "data", None)
    if body is not None:
        assert set(body) >= {"detail", "code"}, body
        if status == 401:
            assert body["code"] == "not_authenticated"


CELLS = [pytest.param(case, role, id=f"{case.method} {case.route or '/'} as {role}")
         for case in TABLE for role in ROLES]


@pytest.mark.parametrize(("case", "role"), CELLS)
def test_access(world, case: Row, role: str):
    before = world.snapshot()
    response = send(world, case, role)
    expected = case.expected(role)
    assert response.status_code in expected, (
        f"{case.method} {case.path} as {role}: {response.status_code}, expected {sorted(expected)}; "
        f"{getattr(response, 'content', b'')[:300]!r}"
    )
    is_api = case.path.startswith("/api/")
    if response.status_code >= 400 and is_api:
        _assert_error_shape(response, response.status_code)
    if response.status_code in (401, 403, 404):
        assert world.snapshot() == before, "a refused request changed something"
    if case.route == "api/imports/<int:pk>/events/":
        if response.status_code == 200:
            assert response.streaming and response["Content-Type"] == "text/event-stream"
        else:
            # Refused before streaming: a plain JSON answer, no stream (and no relay subscription).
            assert not response.streaming
            assert response["Content-Type"] == "application/json"
