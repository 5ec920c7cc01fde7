"""Sending one signed webhook request: Standard Webhooks 1.0 headers, a timeout, no redirects.

The request goes to the address ``webhooks.ssrf`` checked, not to the host name again (which
could resolve elsewhere by then); the ``Host`` header and, for https, the TLS server name and
certificate check still use the URL's host name. ``http.client`` follows no redirects, so a 3xx
is an answer like any other (a failure, since it is not 2xx): a redirect to an internal address
cannot be used to get past the address check.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from standardwebhooks import Webhook as Signer

from webhooks.ssrf import Target, UnsafeURL, resolve_target

EXCERPT_CHARS = 500
USER_AGENT = "product-import-webhooks/1.0"


@dataclass(frozen=True)
class SendResult:
    """What one attempt gave: a status code, or the error that stopped it."""

    status_code: int | None
    duration_ms: int
    excerpt: str = ""
    error: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        """Worth another attempt later: no answer (connection error, timeout), 429 or 5xx.

        A refused address is not: it will be refused again.
        """
        if self.status_code is None:
            return not self.error.startswith(REFUSED)
        return self.status_code == 429 or self.status_code >= 500


REFUSED = "Refused: "


def signed_headers(*, secret: str, event_id: str, body: str, now: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``: id, timestamp and the v1 HMAC signature."""
    now = now or datetime.now(tz=UTC)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Signer(secret).sign(msg_id=event_id, timestamp=now, data=body),
    }


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to a checked address, whatever the host name resolves to now."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection to a checked address; the certificate is checked for the host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def send_signed(*, url: str, secret: str, event_id: str, body: str) -> SendResult:
    """POST ``body`` to ``url``, signed; never raises for anything the receiver or network does."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = resolve_target(url)
    except UnsafeURL as exc:
        return SendResult(status_code=None, duration_ms=elapsed(), error=f"{REFUSED}{exc}")
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signed_headers(secret=secret, event_id=event_id, body=body),
    }
    try:
        connection.request("POST", target.path, body=body.encode(), headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT_CHARS * 4).decode("utf-8", errors="replace")[:EXCERPT_CHARS]
        return SendResult(status_code=response.status, duration_ms=elapsed(), excerpt=excerpt)
    except TimeoutError:
        return SendResult(status_code=None, duration_ms=elapsed(), error=f"No answer within {timeout:g} s.")
    except ssl.SSLError as exc:
        return SendResult(status_code=None, duration_ms=elapsed(), error=f"TLS error: {exc}")
    except (OSError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        return SendResult(status_code=None, duration_ms=elapsed(), error=f"Could not connect: {reason}")
    finally:
        connection.close()
