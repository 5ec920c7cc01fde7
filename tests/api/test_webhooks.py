"""The webhooks API: staff manage webhooks; the secret is shown once; unsafe URLs are refused."""

from __future__ import annotations

import pytest

from webhooks.models import Delivery, Webhook

HOOK = {"url": "https://93.184.216.34/hooks", "description": "ERP", "events": ["product.created"],
        "is_active": True}


def test_create_answers_the_whole_secret_once_then_only_its_start(staff_client):
    created = staff_client.post("/api/webhooks/", HOOK, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 20
    assert body["secret"].startswith(body["secret_prefix"])
    assert body["events"] == ["product.created"] and body["is_active"] is True
    shown = staff_client.get(f"/api/webhooks/{body['id']}/").json()
    assert "secret" not in shown and shown["secret_prefix"] == body["secret_prefix"]
    listed = staff_client.get("/api/webhooks/").json()
    assert [hook["id"] for hook in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]


def test_rotate_secret_gives_a_new_one(staff_client):
    first = staff_client.post("/api/webhooks/", HOOK, format="json").json()
    rotated = staff_client.post(f"/api/webhooks/{first['id']}/rotate-secret/")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != first["secret"]
    assert Webhook.objects.get().secret == rotated.json()["secret"]


@pytest.mark.parametrize(("url", "words"), [
    ("http://127.0.0.1:8000/hook", "loopback"),
    ("http://localhost/hook", "loopback"),
    ("http://[::1]/hook", "loopback"),
    ("http://10.1.2.3/hook", "private"),
    ("http://192.168.0.10/hook", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0.0.0.0/hook", "unspecified"),
    ("http://224.0.0.1/hook", "multicast"),
    ("http://[::ffff:127.0.0.1]/hook", "loopback"),
    ("ftp://93.184.216.34/hook", "http"),
    ("https://user:pw@93.184.216.34/hook", "password"),
    ("https://no-such-host.invalid/hook", "could not be resolved"),
])
def test_unsafe_urls_are_refused_with_a_clear_message(staff_client, url, words):
    response = staff_client.post("/api/webhooks/", {**HOOK, "url": url}, format="json")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid" and "url" in body["errors"]
    assert words in body["detail"], body
    assert not Webhook.objects.exists()


def test_private_addresses_are_allowed_when_the_setting_says_so(staff_client, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    response = staff_client.post("/api/webhooks/", {**HOOK, "url": "http://localhost:9/hook"}, format="json")
    assert response.status_code == 201, response.json()


def test_changing_the_url_checks_it_again(staff_client):
    hook = staff_client.post("/api/webhooks/", HOOK, format="json").json()
    response = staff_client.patch(f"/api/webhooks/{hook['id']}/", {"url": "http://127.0.0.1/x"},
                                  format="json")
    assert response.status_code == 400 and "loopback" in response.json()["detail"]
    assert Webhook.objects.get().url == HOOK["url"]


@pytest.mark.parametrize("events", [[], ["product.exploded"], ["webhook.test"], "product.created"])
def test_events_must_be_a_list_of_known_types(staff_client, events):
    response = staff_client.post("/api/webhooks/", {**HOOK, "events": events}, format="json")
    assert response.status_code == 400 and "events" in response.json()["errors"]


def test_turning_a_disabled_webhook_on_clears_why_it_was_off(staff_client):
    hook = staff_client.post("/api/webhooks/", HOOK, format="json").json()
    Webhook.objects.filter(pk=hook["id"]).update(is_active=False, disabled_reason="Turned off after 3 events",
                                                 consecutive_failures=3)
    assert staff_client.get(f"/api/webhooks/{hook['id']}/").json()["disabled_reason"].startswith("Turned off")
    on = staff_client.patch(f"/api/webhooks/{hook['id']}/", {"is_active": True}, format="json").json()
    assert on["is_active"] is True and on["disabled_reason"] == ""
    assert Webhook.objects.get().consecutive_failures == 0


def test_deliveries_are_listed_newest_first(staff_client):
    hook = staff_client.post("/api/webhooks/", HOOK, format="json").json()
    for attempt in (1, 2, 3):
        Delivery.objects.create(webhook_id=hook["id"], event_id="msg_1", event_type="product.created",
                                payload={}, attempt=attempt, status_code=500)
    response = staff_client.get(f"/api/webhooks/{hook['id']}/deliveries/")
    assert response.status_code == 200
    assert [d["attempt"] for d in response.json()["results"]] == [3, 2, 1]


def test_a_test_send_to_a_refused_address_answers_the_error(staff_client):
    hook = Webhook.objects.create(url="http://127.0.0.1:9/", events=["product.created"],
                                  secret="whsec_MTIzNDU2Nzg5MDEy")
    response = staff_client.post(f"/api/webhooks/{hook.pk}/test/")
    assert response.status_code == 200
    assert "loopback" in response.json()["error"] and "status_code" not in response.json()
    assert Delivery.objects.get().event_type == "webhook.test"


def test_plain_users_are_refused(alice_client, anonymous):
    assert alice_client.get("/api/webhooks/").status_code == 403
    assert alice_client.post("/api/webhooks/", HOOK, format="json").status_code == 403
    assert anonymous.get("/api/webhooks/").status_code == 401
