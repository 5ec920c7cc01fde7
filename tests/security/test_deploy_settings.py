"""Production settings: ``check --deploy`` is clean, cookies are secure, HSTS is sent.

Settings are read once per process, so each test starts a fresh Python process with the
production environment (DEBUG off, a long random secret key, a real host name) instead of
overriding settings inside this one.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Makes one HTTPS and one plain-HTTP request through Django's test client under the production
# settings, and prints what a browser would see.
PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
client = Client(HTTP_HOST="example.com")
https = client.get("/api/auth/csrf/", secure=True)
plain = client.get("/api/auth/csrf/")
# Outside the paths with relaxations (project/security_headers.py): the strict policy.
strict = client.get("/healthz", secure=True)
cookie = https.cookies["csrftoken"]
print(json.dumps({
    "https_status": https.status_code,
    "hsts": https.headers.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(cookie["secure"]),
    "csrf_cookie_samesite": cookie["samesite"],
    "plain_status": plain.status_code,
    "plain_location": plain.headers.get("Location"),
    "plain_hsts": plain.headers.get("Strict-Transport-Security"),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "nosniff": https.headers.get("X-Content-Type-Options"),
    "frame_options": https.headers.get("X-Frame-Options"),
    "csp": strict.headers.get("Content-Security-Policy"),
    "permissions_policy": https.headers.get("Permissions-Policy"),
    "referrer_policy": https.headers.get("Referrer-Policy"),
}))
"""


def production_env() -> dict[str, str]:
    # Any security override in the caller's environment would hide what the defaults do, and the
    # browser tests set DJANGO_ALLOW_ASYNC_UNSAFE in this process, which production never has.
    overrides = ("SECURE_", "SESSION_", "CSRF_", "DJANGO_ALLOW_ASYNC_UNSAFE")
    env = {key: value for key, value in os.environ.items() if not key.startswith(overrides)}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="example.com",
        PYTHONUNBUFFERED="1",
    )
    return env


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings():
    # --fail-level WARNING: any deploy warning (W0xx) makes the command fail, not just errors.
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"])
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output, output
    assert "WARNINGS" not in output and "security.W" not in output, output


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
def test_production_responses_send_hsts_secure_cookies_and_redirect_to_https():
    result = run(["-c", PROBE])
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["https_status"] == 200
    hsts = seen["hsts"] or ""
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts, hsts
    assert seen["csrf_cookie_secure"] is True
    assert seen["session_cookie_secure"] is True and seen["session_cookie_httponly"] is True
    assert seen["nosniff"] == "nosniff"
    assert seen["frame_options"] == "DENY"
    assert "script-src 'self'" in seen["csp"] and "unsafe-inline" not in seen["csp"], seen["csp"]
    assert "frame-ancestors 'none'" in seen["csp"]
    assert "camera=()" in seen["permissions_policy"] and "geolocation=()" in seen["permissions_policy"]
    assert seen["referrer_policy"] == "same-origin"
    # Plain HTTP is redirected to HTTPS (and HSTS is only ever sent over HTTPS).
    assert seen["plain_status"] == 301
    assert seen["plain_location"] == "https://example.com/api/auth/csrf/"
    assert seen["plain_hsts"] is None
