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
from django.test import RequestFactory
from rest_framework.request import Request
from rest_framework.test import APIClient

from api.throttling import LoginRateThrottle
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


# --- Signing in -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_sign_in_attempts_beyond_the_rate_are_429_with_retry_after(rates, user):
    rates(login="3/day")
    client = APIClient()
    for _ in range(3):
        assert client.post("/api/auth/login/", WRONG).status_code == 400
    response = client.post("/api/auth/login/", {"username": "alice", "password": "wonderland-42"})
    # Refused although the password is right: the limit is on attempts, not on failures.
    assert_throttled(response, mentions="Too many sign-in attempts", longest_wait=86400)


@pytest.mark.django_db
def test_token_exchange_and_session_login_share_one_counter(rates, user):
    rates(login="3/day")
    client = APIClient()
    assert client.post("/api/auth/login/", WRONG).status_code == 400
    assert client.post("/api/auth/token/", WRONG).status_code == 400
    assert client.post("/api/auth/login/", WRONG).status_code == 400
    assert_throttled(client.post("/api/auth/token/", WRONG), mentions="sign-in", longest_wait=86400)


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
        request = Request(factory.post("/api/auth/login/", REMOTE_ADDR="198.51.100.7"))
        start.wait()
        try:
            outcomes.append(LoginRateThrottle().allow_request(request, None))
        except Exception as exc:  # noqa: BLE001 - a refusal is raised as a 429 exception
            outcomes.append(getattr(exc, "status_code", None) != 429 and exc)

    threads = [threading.Thread(target=attempt) for _ in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(True) == 10
    assert outcomes.count(False) == 20


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
