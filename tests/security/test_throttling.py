"""Rate limits on signing in and on starting uploads (api/throttling.py), counted in Redis.

Each test gets tight rates and a cache prefix of its own, so it starts from zero and never sees
another test's (or a dev server's) counters. Rates are per day: the counters use fixed windows,
and a day-long window cannot roll over in the middle of a test.
"""

from __future__ import annotations

import base64
import threading
import uuid

import pytest
import redis
import requests
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from api.login_throttle import LoginThrottled, login_attempt_begin
from importer.models import Upload
from importer.uploads import upload_create
from tests.support.clients import token_client
from tests.support.processes import running_daphne

TUS = {"Tus-Resumable": "1.0.0"}
WRONG = {"username": "alice", "password": "not-her-password"}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Every sign-in attempt here hashes a password; PBKDF2 would take most of a second each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def throttle_prefix(settings) -> str:
    """A fresh cache namespace for this test; its Redis keys are deleted afterwards."""
    prefix = f"{django_settings.CACHE_KEY_PREFIX}-throttle-test-{uuid.uuid4().hex[:8]}"
    settings.CACHES = {
        alias: {**config, "KEY_PREFIX": f"{prefix}:throttle" if alias == "throttle" else prefix}
        for alias, config in settings.CACHES.items()
    }
    yield prefix
    connection = redis.Redis.from_url(django_settings.CACHE_URL)
    keys = list(connection.scan_iter(match=f"{prefix}:*"))
    if keys:
        connection.delete(*keys)
    connection.close()


@pytest.fixture
def rates(settings, throttle_prefix):
    """Set tight rates: ``rates(login="3/day")``."""

    def apply(**scopes: str) -> None:
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**current, **scopes},
        }

    return apply



def start_upload(client: APIClient, length: int = 10):
    metadata = f"filename {base64.b64encode(b'p.csv').decode()}"
    headers = {**TUS, "Upload-Length": str(length), "Upload-Metadata": metadata}
    return client.post("/api/uploads/", headers=headers)


def assert_throttled(response, *, mentions: str, longest_wait: int) -> None:
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["code"] == "throttled"
    assert mentions in body["detail"]
    assert "Try again in" in body["detail"]
    assert 1 <= int(response["Retry-After"]) <= longest_wait
    assert f"{int(response['Retry-After'])} second" in body["detail"]


# --- Signing in ---------------------------------------------------------------------------------
# Failed attempts are counted on all four login forms together (api/login_throttle.py), per client
# address and per username; a right password is not counted, but is refused once over the limit.

RIGHT = {"username": "alice", "password": "wonderland-42"}
STAFF = {"username": "staff", "password": "staff-4242"}
HTML_FORMS = ("/admin/login/", "/api-auth/login/")


def html_sign_in(client: Client, path: str, credentials: dict, **extra):
    return client.post(path, {**credentials, "next": "/api/"}, **extra)


def assert_throttled_page(response, *, mentions: str) -> None:
    # The HTML forms answer a page a person can read, not the API's JSON.
    assert response.status_code == 429, response.content[:300]
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert mentions in page and "Try again in" in page
    assert 1 <= int(response["Retry-After"]) <= 86400


@pytest.mark.django_db
def test_failed_sign_in_attempts_beyond_the_rate_are_429_with_retry_after(rates, user):
    rates(login="3/day")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/auth/login/", WRONG).status_code == 400
    response = client.post("/api/auth/login/", RIGHT)
    # Refused although the password is right: over the limit, no password is checked.
    assert_throttled(response, mentions="Too many failed sign-in attempts from this address",
                     longest_wait=86400)


@pytest.mark.django_db
def test_successful_sign_ins_are_not_counted(rates, user, staff_user):
    rates(login="2/day", login_username="2/day")
    client = APIClient()
    for _ in range(10):
        assert client.post("/api/auth/token/", RIGHT).status_code == 200
        assert client.post("/api/auth/login/", RIGHT).status_code == 200
    for path in HTML_FORMS:
        assert html_sign_in(Client(), path, STAFF).status_code == 302
    # Nothing was counted: two failures are still allowed, the third attempt is refused.
    assert client.post("/api/auth/token/", WRONG).status_code == 400
    assert client.post("/api/auth/login/", WRONG).status_code == 400
    assert client.post("/api/auth/token/", RIGHT).status_code == 429


@pytest.mark.django_db
def test_all_four_login_forms_share_one_counter(rates, user, staff_user):
    rates(login="4/day")
    api, browser = APIClient(), Client()
    assert api.post("/api/auth/login/", WRONG).status_code == 400
    assert api.post("/api/auth/token/", WRONG).status_code == 400
    for path in HTML_FORMS:
        # A wrong password re-renders the form (200), as Django does.
        assert html_sign_in(browser, path, WRONG).status_code == 200
    # The fifth failure from this address, whichever form: refused, in each form's own language.
    assert_throttled(api.post("/api/auth/token/", WRONG), mentions="sign-in", longest_wait=86400)
    assert_throttled(api.post("/api/auth/login/", RIGHT), mentions="sign-in", longest_wait=86400)
    for path in HTML_FORMS:
        assert_throttled_page(html_sign_in(browser, path, STAFF), mentions="from this address")


@pytest.mark.django_db
def test_html_forms_were_unlimited_before_and_are_limited_now(rates, user):
    rates(login="3/day")
    for path in HTML_FORMS:
        browser = Client(REMOTE_ADDR=f"198.51.100.{len(path)}")
        for _ in range(3):
            assert html_sign_in(browser, path, WRONG).status_code == 200
        assert_throttled_page(html_sign_in(browser, path, WRONG), mentions="from this address")


@pytest.mark.django_db
def test_failures_for_one_username_are_limited_across_addresses(rates, user, other_user):
    rates(login="100/day", login_username="3/day")
    client = APIClient()
    for n in range(3):
        assert client.post("/api/auth/token/", WRONG, REMOTE_ADDR=f"192.0.2.{n}").status_code == 400
    # A fourth address, alice's right password: her username is locked for the window.
    response = client.post("/api/auth/token/", RIGHT, REMOTE_ADDR="192.0.2.77")
    assert_throttled(response, mentions="for this username", longest_wait=86400)
    assert_throttled_page(html_sign_in(Client(REMOTE_ADDR="192.0.2.78"), "/admin/login/", WRONG),
                          mentions="for this username")
    # Any letter case is the same username here (Django's own lookup is exact, so "ALICE" is
    # another, non-existent user: guessing it is still guessing at alice).
    upper = {"username": "ALICE", "password": "x"}
    assert client.post("/api/auth/token/", upper, REMOTE_ADDR="192.0.2.79").status_code == 429
    # Another username from the same addresses is not affected.
    bob = {"username": "bob", "password": "builder-4242"}
    assert client.post("/api/auth/token/", bob, REMOTE_ADDR="192.0.2.77").status_code == 200


@pytest.mark.django_db
def test_forged_x_forwarded_for_does_not_dodge_the_sign_in_limit(rates, user):
    rates(login="2/day")
    client = APIClient()
    for n in range(2):
        assert client.post("/api/auth/login/", WRONG, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code == 400
    response = client.post("/api/auth/login/", WRONG, HTTP_X_FORWARDED_FOR="10.0.0.99")
    assert response.status_code == 429


@pytest.mark.django_db
def test_sign_in_limit_is_per_client_address(rates, user):
    rates(login="1/day")
    client = APIClient()
    assert client.post("/api/auth/login/", WRONG, REMOTE_ADDR="192.0.2.1").status_code == 400
    assert client.post("/api/auth/login/", WRONG, REMOTE_ADDR="192.0.2.1").status_code == 429
    assert client.post("/api/auth/token/", WRONG, REMOTE_ADDR="192.0.2.2").status_code == 400


@pytest.mark.django_db
def test_concurrent_sign_in_attempts_cannot_exceed_the_rate(rates, user):
    # A guessing script sends attempts at once; read-modify-write counters would let them all by.
    rates(login="10/day")
    factory = RequestFactory()
    start = threading.Barrier(30)
    outcomes: list[bool] = []

    def attempt() -> None:
        request = factory.post("/api/auth/login/", REMOTE_ADDR="198.51.100.7")
        start.wait()
        try:
            login_attempt_begin(request=request, username="alice")
            outcomes.append(True)
        except LoginThrottled:
            outcomes.append(False)

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 10
    assert outcomes.count(False) == 20


@pytest.mark.django_db
def test_sessions_signed_in_before_the_throttle_existed_stay_signed_in(user):
    # Django keeps the authenticating backend's path in the session; the plain ModelBackend is
    # still listed so that deploying the throttle does not sign every browser out.
    client = APIClient()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/api/auth/me/").json()["username"] == "alice"


@pytest.mark.django_db
def test_generous_default_rates_let_the_test_suite_sign_in_freely(user):
    # The suite's session env (tests/support/session_env.py) must keep the other tests clear of 429.
    client = APIClient()
    for _ in range(20):
        assert client.post("/api/auth/login/", WRONG).status_code == 400


# --- Uploads ----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_starting_uploads_beyond_the_rate_is_429_but_parts_flow_freely(rates, user, settings):
    rates(upload="2/day")
    settings.TUS_MAX_CHUNK_SIZE = 8
    alice = token_client(user)
    first = start_upload(alice, length=80)
    assert first.status_code == 201
    assert start_upload(alice).status_code == 201
    assert_throttled(start_upload(alice), mentions="Too many uploads started", longest_wait=86400)
    # Ten parts (and HEADs between them) on an upload already started: none is counted.
    url = first["Location"]
    for offset in range(0, 80, 8):
        assert alice.head(url, headers=TUS)["Upload-Offset"] == str(offset)
        response = alice.patch(url, data=b"x" * 8, content_type="application/offset+octet-stream",
                               headers={**TUS, "Upload-Offset": str(offset)})
        assert response.status_code == 204, response.content
    assert Upload.objects.count() == 2
    # Capability discovery is never counted either.
    assert alice.options("/api/uploads/").status_code == 204


@pytest.mark.django_db
def test_a_file_posted_to_imports_counts_as_an_upload_but_starting_from_an_upload_does_not(
    rates, user
):
    rates(upload="1/day")
    alice = token_client(user)
    finished = upload_create(owner=user, length=0, filename="empty.csv")
    file = SimpleUploadedFile("p.csv", b"sku,name\nA-1,One\n", content_type="text/csv")
    assert alice.post("/api/imports/", {"file": file}, format="multipart").status_code == 201
    again = SimpleUploadedFile("p.csv", b"sku,name\nA-1,One\n", content_type="text/csv")
    assert_throttled(alice.post("/api/imports/", {"file": again}, format="multipart"),
                     mentions="uploads", longest_wait=86400)
    # Its bytes were counted when the upload was created, so this is not refused as throttled.
    response = alice.post("/api/imports/", {"upload": finished.id.hex}, format="json")
    assert response.status_code != 429, response.content
    # Reading jobs is never throttled.
    assert alice.get("/api/imports/").status_code == 200


@pytest.mark.django_db
def test_upload_limit_is_per_user(rates, user, other_user):
    rates(upload="1/day")
    assert start_upload(token_client(user)).status_code == 201
    assert start_upload(token_client(user)).status_code == 429
    assert start_upload(token_client(other_user)).status_code == 201


# --- Shared between processes -------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.slow
def test_counters_are_shared_with_another_web_process_through_redis(
    rates, throttle_prefix, transactional_db, process_logs
):
    rates(login="3/day")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/auth/login/", WRONG).status_code == 400
    # A real daphne with the same namespace and rate: its first attempt is already over the limit.
    env = {"CACHE_KEY_PREFIX": throttle_prefix, "THROTTLE_LOGIN_RATE": "3/day"}
    with running_daphne(process_logs, **env) as (_, url):
        response = requests.post(f"{url}/api/auth/token/", json=WRONG, timeout=30)
    assert response.status_code == 429, response.text
    assert response.json()["code"] == "throttled"
    assert int(response.headers["Retry-After"]) >= 1
