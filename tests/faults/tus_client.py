"""A bare tus 1.0 client over ``requests`` and raw sockets, to misbehave on purpose."""

from __future__ import annotations

import base64
import socket
from urllib.parse import urlsplit

import requests

TUS = {"Tus-Resumable": "1.0.0"}


def create_upload(url: str, *, length: int, filename: str, headers: dict[str, str]) -> str:
    """POST /api/uploads/; return the upload's absolute URL."""
    metadata = "filename " + base64.b64encode(filename.encode()).decode()
    response = requests.post(f"{url}/api/uploads/", headers={
        **TUS, **headers, "Upload-Length": str(length), "Upload-Metadata": metadata}, timeout=30)
    assert response.status_code == 201, response.text
    return url + response.headers["Location"]


def patch(upload_url: str, *, offset: int, data: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.patch(upload_url, data=data, headers={
        **TUS, **headers, "Upload-Offset": str(offset),
        "Content-Type": "application/offset+octet-stream"}, timeout=60)


def head(upload_url: str, *, headers: dict[str, str]) -> requests.Response:
    return requests.head(upload_url, headers={**TUS, **headers}, timeout=30)


def patch_and_drop(upload_url: str, *, offset: int, announced: int, sent: bytes,
                   headers: dict[str, str]) -> None:
    """Start a PATCH of ``announced`` bytes, send only ``sent``, and vanish (a dropped client)."""
    parts = urlsplit(upload_url)
    lines = [
        f"PATCH {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        "Tus-Resumable: 1.0.0",
        f"Upload-Offset: {offset}",
        "Content-Type: application/offset+octet-stream",
        f"Content-Length: {announced}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + sent)
        # Abortive close (RST), like a client whose network went away.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
