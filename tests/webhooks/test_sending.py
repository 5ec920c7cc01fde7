"""One signed send (``webhooks.delivery.send_signed``) against a real local receiver: what is a
success, what is retried, and what is refused before anything is sent."""

from __future__ import annotations

import pytest
from standardwebhooks import Webhook as Verifier

from tests.support.webhook_receiver import running_receiver
from webhooks.delivery import send_signed
from webhooks.services import webhook_secret_generate

SECRET = webhook_secret_generate()


@pytest.fixture
def receiver():
    with running_receiver(hang_seconds=1.5) as receiver:
        yield receiver


def send(url: str):
    return send_signed(url=url, secret=SECRET, event_id="msg_test", body='{"type":"webhook.test"}')


@pytest.mark.parametrize(("status", "retried"), [(200, False), (204, False), (302, False), (404, False),
                                                  (410, False), (429, True), (500, True), (503, True)])
def test_only_2xx_succeeds_and_only_429_and_5xx_are_retried(settings, receiver, status, retried):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    receiver.script("/x", status)
    result = send(receiver.url("/x"))
    assert result.status_code == status
    assert result.succeeded == (200 <= status < 300)
    assert (not result.succeeded and result.retryable) == retried
    # One request, signed: a 3xx is not followed anywhere.
    [request] = receiver.received("/x")
    assert Verifier(SECRET).verify(request.body, request.headers) == {"type": "webhook.test"}


def test_no_answer_within_the_timeout_is_retried(settings, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    receiver.script("/slow", "hang")
    result = send(receiver.url("/slow"))
    assert result.status_code is None and result.retryable
    assert "No answer within 0.3 s" in result.error and result.duration_ms < 1200


def test_a_refused_connection_is_retried(settings, receiver):
    settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS = True
    receiver.server.server_close()  # nothing listens on that port any more
    result = send(receiver.url("/gone"))
    assert result.status_code is None and result.retryable and result.error.startswith("Could not connect")


def test_a_private_address_is_refused_without_sending_and_not_retried(receiver):
    result = send(f"http://localhost:{receiver.port}/x")
    assert result.status_code is None and not result.retryable
    assert "loopback" in result.error and receiver.received() == []


def test_a_host_without_an_address_is_retried():
    result = send("https://no-such-host.invalid/hook")
    assert result.status_code is None and result.retryable and "could not be resolved" in result.error
