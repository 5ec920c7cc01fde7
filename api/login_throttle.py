"""Failed sign-in attempts, counted per client address and per username, on every login form.

Four forms check a password: ``POST /api/auth/login/`` and ``/api/auth/token/`` (the API),
``/admin/login/`` (the Django admin) and ``/api-auth/login/`` (DRF's browsable API). All four call
Django's ``authenticate()``, so the limit sits there, in ``ThrottledModelBackend`` (the first
authentication backend, which ends every password check): a throttle on the API's views alone
was walked around through the other two forms. One set of counters in the ``throttle`` cache
(Redis), shared by all four and by every web process:

- per client address (``THROTTLE_LOGIN_RATE``): one address guessing many passwords, or one
  password against many usernames;
- per username (``THROTTLE_LOGIN_USERNAME_RATE``): many addresses guessing one account's password.
  The price, said in the README: anyone can lock a username out of signing in until the window
  ends, by failing on purpose.

Only failures count: each attempt is counted before the password is checked (so attempts sent at
once cannot all slip under the limit, as a read-then-write count would let them) and handed back
when the password was right. Once a counter is over its limit every attempt is refused without
checking the password, the right one included, until the window ends.

A refusal raises ``LoginThrottled``: the API's exception handler answers it as a 429 in its error
shape, ``LoginThrottledPageMiddleware`` as a 429 HTML page for the two HTML forms; both with
``Retry-After``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from api.throttling import THROTTLE_CACHE_ALIAS, count_in_window, parse_rate

logger = logging.getLogger(__name__)

ADDRESS_SCOPE = "login"
USERNAME_SCOPE = "login_username"
MESSAGES = {
    ADDRESS_SCOPE: "Too many failed sign-in attempts from this address.",
    USERNAME_SCOPE: "Too many failed sign-in attempts for this username.",
}


class LoginThrottled(Exception):
    """Too many failed sign-in attempts: refused without checking the password."""

    def __init__(self, *, scope: str, wait: float) -> None:
        self.scope = scope
        self.what = MESSAGES[scope]
        self.wait = max(1, math.ceil(wait))
        unit = "second" if self.wait == 1 else "seconds"
        self.message = f"{self.what} Try again in {self.wait} {unit}."
        super().__init__(self.message)


@dataclass(frozen=True)
class _Count:
    key: str
    scope: str


class LoginAttempt:
    """One sign-in attempt, counted as a failure until ``succeeded()`` hands it back."""

    def __init__(self, counts: list[_Count]) -> None:
        self._counts = counts

    def succeeded(self) -> None:
        cache = caches[THROTTLE_CACHE_ALIAS]
        for count in self._counts:
            try:
                cache.decr(count.key)
            except ValueError:
                pass  # The window ended meanwhile: nothing left to hand back.
            except Exception:  # noqa: BLE001 - Redis down: see login_attempt_begin
                logger.warning("Login throttle: the cache is unavailable", exc_info=True)


def login_attempt_begin(*, request: HttpRequest, username: str | None) -> LoginAttempt:
    """Count a sign-in attempt from ``request``'s address for ``username``, before checking it.

    Raises ``LoginThrottled`` when a counter is over its limit. With Redis down the attempt is let
    through (and a warning logged), as for the other throttles: ``/healthz`` reports Redis.
    """
    rates = api_settings.DEFAULT_THROTTLE_RATES or {}
    idents = [(ADDRESS_SCOPE, f"address:{BaseThrottle().get_ident(request)}")]
    if username:
        # Hashed: a username is up to 150 characters of anything, and Redis keys are kept plain.
        digest = hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()
        idents.append((USERNAME_SCOPE, f"username:{digest[:32]}"))
    now = time.time()
    counted: list[_Count] = []
    refusal: LoginThrottled | None = None
    cache = caches[THROTTLE_CACHE_ALIAS]
    for scope, ident in idents:
        rate = rates.get(scope)
        if not rate:
            continue
        limit, duration = parse_rate(rate)
        window = int(now // duration)
        key = f"login-failures:{ident}:{window}"
        try:
            count = count_in_window(cache, key, duration=duration)
        except Exception:  # noqa: BLE001 - let the attempt through rather than lock everyone out
            logger.warning("Login throttle %s: the cache is unavailable; not limiting", scope, exc_info=True)
            continue
        counted.append(_Count(key=key, scope=scope))
        if count > limit and refusal is None:
            refusal = LoginThrottled(scope=scope, wait=(window + 1) * duration - now)
    if refusal is not None:
        # Not handed back: a refused attempt keeps its counters over the limit, which they are
        # until the window ends anyway.
        raise refusal
    return LoginAttempt(counted)


class ThrottledModelBackend(ModelBackend):
    """Django's username and password check, behind the failed-attempt limits above."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            # Not an HTTP request (a shell, a management command): nobody to throttle.
            return super().authenticate(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        attempt = login_attempt_begin(request=request, username=username)
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            # Ends authenticate() here, as a failure: the plain ModelBackend listed after this one
            # (for sessions signed in before it existed) must not check the password a second time.
            raise PermissionDenied
        attempt.succeeded()
        return user


class LoginThrottledPageMiddleware:
    """Answers ``LoginThrottled`` from an HTML sign-in form (admin, browsable API) with a 429 page.

    The API's views never get here: their exception handler answers in JSON first.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LoginThrottled):
            return None
        page = render_to_string(
            "api/login_throttled.html",
            {"message": exception.message, "back": request.get_full_path()},
            request=request,
        )
        response = HttpResponse(page, status=429)
        response["Retry-After"] = str(exception.wait)
        return response
