"""Webhooks delivered by a real Celery worker to a real HTTP receiver on 127.0.0.1.

Changes go through the real entry points (the API's test client, the import service with the
worker running the import); the worker signs and sends; the receiver checks signatures with the
``standardwebhooks`` library, as a customer's would. Timeout, back-off and attempts are shrunk by
the worker's environment so retries take a second, not hours.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
from django.core.files.base import ContentFile
from standardwebhooks import Webhook as Verifier

from importer.services import import_job_create
from tests.support.bad_files import BAD_FILES
from tests.support.clients import token_client
from tests.support.processes import running_worker
from tests.support.waiting import wait_until
from tests.support.webhook_receiver import Receiver, running_receiver
from webhooks.events import SUBSCRIBABLE_EVENTS
from webhooks.models import Delivery, Webhook
from webhooks.services import webhook_create

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WORKER_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
    "WEBHOOKS_TIMEOUT_SECONDS": "1",
    "WEBHOOKS_RETRY_BASE_SECONDS": "0.2",
    "WEBHOOKS_RETRY_FACTOR": "1",
    "WEBHOOKS_MAX_ATTEMPTS": "4",
    "WEBHOOKS_DISABLE_AFTER_FAILURES": "3",
}


@pytest.fixture(scope="module")
def receiver():
    with running_receiver(hang_seconds=2.5) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def shared_media(tmp_path_factory):
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def worker(django_db_setup, tmp_path_factory, shared_media):
    """One worker for the module (starting one costs seconds); it only needs the test database."""
    with running_worker(tmp_path_factory.mktemp("logs"), concurrency=2, beat=False,
                        MEDIA_ROOT=str(shared_media), **WORKER_ENV) as worker:
        yield worker


@pytest.fixture(autouse=True)
def local_receivers_allowed(settings, media_root, shared_media):
    """Receivers on 127.0.0.1 may be saved; uploads go where the module's worker reads them."""
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    settings.MEDIA_ROOT = shared_media
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(shared_media)}}}


@pytest.fixture
def staff(transactional_db, staff_user):
    return token_client(staff_user)


def hook(receiver: Receiver, path: str, *, events=None, is_active: bool = True) -> Webhook:
    return webhook_create(url=receiver.url(path), events=events or ["product.created"], is_active=is_active)


def verified(webhook: Webhook, request) -> dict:
    """The request's body, checked against its Standard Webhooks signature (raises if forged)."""
    return Verifier(webhook.secret).verify(request.body, request.headers)


def create_product(staff, sku: str) -> dict:
    response = staff.post("/api/products/", {"sku": sku, "name": f"Product {sku}"}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_every_event_type_is_delivered_once_and_signed(staff, user, worker, receiver):
    webhook = hook(receiver, "/all", events=SUBSCRIBABLE_EVENTS)
    product = create_product(staff, "HOOK-1")
    renamed = staff.patch(f"/api/products/{product['id']}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200
    assert staff.delete(f"/api/products/{product['id']}/").status_code == 204
    # An import of three rows is one import.completed, never a product.* event per row.
    import_job_create(owner=user, file=ContentFile(b"sku,name\nI-1,One\nI-2,Two\nI-3,Three\n"),
                      filename="three.csv")
    wait_until(lambda: len(receiver.received("/all")) >= 4, what="import.completed", timeout=60)
    not_a_csv = ContentFile((BAD_FILES / "image.csv").read_bytes())
    import_job_create(owner=user, file=not_a_csv, filename="image.csv")
    wait_until(lambda: len(receiver.received("/all")) >= 5, what="import.failed", timeout=60)
    cleared = staff.post("/api/products/bulk-delete/", {"confirm": True}, format="json")
    assert cleared.status_code == 200 and cleared.json() == {"deleted": 3}
    wait_until(lambda: len(receiver.received("/all")) >= 6, what="catalogue.cleared", timeout=30)
    tested = staff.post(f"/api/webhooks/{webhook.pk}/test/")
    assert tested.status_code == 200 and tested.json()["status_code"] == 200, tested.json()
    assert tested.json()["duration_ms"] >= 0
    time.sleep(1)  # anything sent twice would have arrived by now

    requests = receiver.received("/all")
    bodies = [verified(webhook, request) for request in requests]
    assert Counter(body["type"] for body in bodies) == Counter([*SUBSCRIBABLE_EVENTS, "webhook.test"])
    assert all(set(body) == {"type", "timestamp", "data"} for body in bodies)
    assert len({request.headers["webhook-id"] for request in requests}) == len(requests)
    assert all(request.headers["webhook-signature"].startswith("v1,") for request in requests)
    by_type = {body["type"]: body["data"] for body in bodies}
    assert by_type["product.created"]["sku"] == "HOOK-1"
    assert by_type["product.updated"]["name"] == "Renamed"
    assert by_type["product.deleted"] == {"id": product["id"], "sku": "HOOK-1"}
    assert (by_type["import.completed"]["created"], by_type["import.completed"]["processed_rows"]) == (3, 3)
    assert by_type["import.failed"]["status"] == "failed" and by_type["import.failed"]["message"]
    assert by_type["catalogue.cleared"] == {"deleted": 3}
    # The API lists what was sent, newest first.
    listed = staff.get(f"/api/webhooks/{webhook.pk}/deliveries/").json()
    assert listed["count"] == 7 and listed["results"][0]["event_type"] == "webhook.test"
    assert all(d["status_code"] == 200 and d["succeeded"] for d in listed["results"])


def test_failed_attempts_are_retried_with_the_same_id_until_one_succeeds(staff, worker, receiver):
    # Two server errors, a rate limit, then no answer within the timeout, then success.
    receiver.script("/flaky", 500, 503, 429, then=200)
    receiver.script("/slow", "hang", then=200)
    flaky, slow = hook(receiver, "/flaky"), hook(receiver, "/slow")
    create_product(staff, "RETRY-1")
    wait_until(lambda: len(receiver.received("/flaky")) >= 4 and len(receiver.received("/slow")) >= 2,
               what="the retries", timeout=60)
    time.sleep(1)
    for webhook, path, statuses in ((flaky, "/flaky", [500, 503, 429, 200]), (slow, "/slow", [None, 200])):
        requests = receiver.received(path)
        assert len(requests) == len(statuses)
        assert len({request.headers["webhook-id"] for request in requests}) == 1, "one id for every attempt"
        for request in requests:
            verified(webhook, request)
        deliveries = list(Delivery.objects.filter(webhook=webhook).order_by("attempt"))
        assert [d.attempt for d in deliveries] == list(range(1, len(statuses) + 1))
        assert [d.status_code for d in deliveries] == statuses
    timed_out = Delivery.objects.get(webhook=slow, attempt=1)
    assert "No answer within 1 s" in timed_out.error and timed_out.duration_ms < 2000
    assert Webhook.objects.get(pk=flaky.pk).consecutive_failures == 0


def test_a_webhook_that_keeps_failing_is_turned_off_and_then_sent_nothing(staff, worker, receiver):
    receiver.script("/down", then=500)
    down = hook(receiver, "/down")
    hook(receiver, "/off", is_active=False)
    hook(receiver, "/control")
    for n in range(3):
        create_product(staff, f"DOWN-{n}")
    wait_until(lambda: not Webhook.objects.get(pk=down.pk).is_active, what="the webhook turned off",
               timeout=60)
    shown = staff.get(f"/api/webhooks/{down.pk}/").json()
    assert shown["is_active"] is False
    assert "3 events in a row" in shown["disabled_reason"] and "HTTP 500" in shown["disabled_reason"]
    assert len(receiver.received("/down")) == 3 * 4  # three events, four attempts each

    create_product(staff, "AFTER-1")
    wait_until(lambda: len(receiver.received("/control")) == 4, what="the control webhook", timeout=30)
    time.sleep(1)
    assert len(receiver.received("/down")) == 12, "a disabled webhook was sent an event"
    assert receiver.received("/off") == [], "a webhook created disabled was sent an event"
    assert sorted(json.loads(r.body)["data"]["sku"] for r in receiver.received("/control")) == [
        "AFTER-1", "DOWN-0", "DOWN-1", "DOWN-2"
    ]


def test_an_address_that_became_private_is_refused_at_send_time(staff, settings, receiver):
    # Saved while private networks were allowed; refused when sent once they are not, on the
    # address "localhost" resolves to then, and nothing reaches the receiver.
    webhook = webhook_create(url=f"http://localhost:{receiver.port}/rebound", events=["product.created"])
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = False
    answer = staff.post(f"/api/webhooks/{webhook.pk}/test/").json()
    assert "loopback" in answer["error"] and "localhost (127.0.0.1)" in answer["error"]
    assert receiver.received("/rebound") == []
    created = staff.post("/api/webhooks/", {"url": f"http://localhost:{receiver.port}/x",
                                            "events": ["product.created"]}, format="json")
    assert created.status_code == 400 and "loopback" in created.json()["detail"]
