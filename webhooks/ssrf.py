"""Which addresses a webhook may be sent to: no server-side request forgery.

A webhook URL is chosen by a user, and the worker sends to it from inside the network, so a URL
pointing at 127.0.0.1, the metadata service (169.254.169.254), or a private address would let a
user reach what only the server can. The URL is checked when it is saved (a clear 400) and again
on every send, on the addresses the name resolves to *then*: the send connects to the address
checked here (``webhooks.delivery``), so a name that resolves to a public address at the check
and to 127.0.0.1 a moment later (DNS rebinding) cannot slip in between.

``WEBHOOKS_ALLOW_PRIVATE_NETWORKS=true`` lifts the address rule (local development, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeURL(ValueError):
    """A webhook URL that must not be sent to; the message says why, for the person who typed it."""


@dataclass(frozen=True)
class Target:
    """Where a send goes: the URL's parts and the checked address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def _refusal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` is not a public address, or None if it is."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for test, kind in (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_private, "private"),
        (ip.is_reserved, "reserved"),
        (not ip.is_global, "non-public"),
    ):
        if test:
            return kind
    return None


def _parse(url: str) -> tuple[str, str, int, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"The URL is not valid ({exc}).") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL("Only http:// and https:// URLs can receive webhooks.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host name.")
    if parts.username or parts.password:
        raise UnsafeURL(
            "The URL must not contain a user name or password; receivers trust the signature instead."
        )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return scheme, parts.hostname, port or DEFAULT_PORTS[scheme], path


def resolve_target(url: str) -> Target:
    """Check ``url`` and resolve its host; return where to connect, or raise ``UnsafeURL``.

    Every address the name resolves to must be public (one private answer among public ones
    is how a rebinding attack hides), unless private networks are allowed.
    """
    scheme, host, port, path = _parse(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise UnsafeURL(f"The host name {host!r} could not be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeURL(f"The host name {host!r} could not be resolved.")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_NETWORKS:
        for address in addresses:
            kind = _refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if kind:
                shown = host if host == address else f"{host} ({address})"
                raise UnsafeURL(
                    f"Webhooks cannot be sent to {shown}: it is a {kind} address, not one on the "
                    "public internet."
                )
    return Target(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
