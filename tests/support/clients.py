"""How tests talk to the API as a script does: with the user's real API token.

In process through DRF's test client (``token_client``), or over plain HTTP against a running
daphne (``token_headers`` for ``requests``, tuspy or a raw socket; ``post_csv`` to start an import).
"""

from __future__ import annotations

from pathlib import Path

import requests
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


def token_key(user) -> str:
    """The user's API token (created on first use), as ``Authorization: Token <key>`` sends it."""
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def token_headers(user) -> dict[str, str]:
    """The header that authenticates a plain HTTP request as ``user``."""
    return {"Authorization": f"Token {token_key(user)}"}


def token_client(user) -> APIClient:
    """A client that authenticates as ``user`` with a real API token, as scripts do."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_key(user)}")
    return client


def post_csv(url: str, path: Path, *, headers: dict[str, str], timeout: float = 60) -> requests.Response:
    """Start an import of a small file the simple way: multipart ``POST /api/imports/`` to ``url``."""
    with path.open("rb") as handle:
        return requests.post(f"{url}/api/imports/", files={"file": (path.name, handle, "text/csv")},
                             headers=headers, timeout=timeout)
