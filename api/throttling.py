"""Rate limits for the endpoints worth abusing: starting a file transfer (here) and signing in
(``api.login_throttle``, which counts failed attempts on every login form with the helpers here).

Counters live in the ``throttle`` cache (Redis, see the end of ``project/settings.py``), so every
web process shares them and a restart does not reset them. Rates come from
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (``THROTTLE_UPLOAD_RATE``, and the login rates).

Why not DRF's ``SimpleRateThrottle`` as is: it reads a list of timestamps from the cache and
writes it back, so requests arriving at once (exactly what a password-guessing script sends)
all read the same list and all pass. Here each request increments a counter in one atomic Redis
``INCR``; the price is a fixed window (up to twice the rate across a window boundary), which is
fine for a brake on guessing and flooding.

A refused request is answered 429 in the API's one error shape with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math

from django.core.cache import caches
from rest_framework.exceptions import Throttled
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)

THROTTLE_CACHE_ALIAS = "throttle"


def count_in_window(cache, key: str, *, duration: int) -> int:
    """Add one to the counter ``key`` of a window ``duration`` seconds long; return its new value.

    ``add()`` is a SET NX: only the window's first request creates the counter (with an expiry, so
    old windows vanish); ``incr()`` is INCRBY, atomic across processes.
    """
    cache.add(key, 0, timeout=duration + 1)
    try:
        return cache.incr(key)
    except ValueError:
        # The key expired between add() and incr(): this request starts a new window.
        cache.add(key, 1, timeout=duration + 1)
        return 1


def parse_rate(rate: str) -> tuple[int, int]:
    """``"10/min"`` as (10, 60): DRF's rate format, ``<count>/<sec|min|hour|day>``."""
    count, period = rate.split("/")
    return int(count), {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]


class TooManyRequests(Throttled):
    """429 with a message that says what was limited and when to try again."""

    def __init__(self, *, what: str, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        unit = "second" if seconds == 1 else "seconds"
        super().__init__(detail=f"{what} Try again in {seconds} {unit}.")
        # Read by api.exceptions.api_exception_handler for the Retry-After header.
        self.wait = seconds


class WindowRateThrottle(SimpleRateThrottle):
    """Allow ``rate`` requests per fixed window, counted atomically in the shared cache.

    Subclasses set ``scope`` (the key of the rate in ``DEFAULT_THROTTLE_RATES``), ``message``,
    and ``get_cache_key`` (``None`` means "not counted").
    """

    message = "Too many requests."

    @property
    def cache(self):
        # Looked up per request, not at import time, so a changed CACHES setting (tests) applies.
        return caches[THROTTLE_CACHE_ALIAS]

    def get_rate(self) -> str | None:
        # DRF binds THROTTLE_RATES when the class is defined; reading the settings now means a
        # changed REST_FRAMEWORK setting (a test's tight rate) applies without re-importing.
        rates = api_settings.DEFAULT_THROTTLE_RATES or {}
        return rates.get(self.scope)

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        try:
            count = self._count(f"{key}:{window}")
        except Exception:  # noqa: BLE001 - see below
            # Redis down: let the request through rather than lock everyone out of the service;
            # /healthz reports Redis as down, which is what operators watch.
            logger.warning("Throttle %s: the cache is unavailable; not limiting", self.scope, exc_info=True)
            return True
        if count <= self.num_requests:
            return True
        raise TooManyRequests(what=self.message, wait=(window + 1) * self.duration - now)

    def _count(self, key: str) -> int:
        return count_in_window(self.cache, key, duration=self.duration)

    def wait(self) -> float | None:
        # Never reached: allow_request raises TooManyRequests with its own wait.
        return None


class UploadRateThrottle(WindowRateThrottle):
    """New file transfers per user: resumable upload creations and direct file imports.

    Only the POST that starts a transfer counts. The parts of a resumable upload (PATCH) are not
    throttled: a 1 GB file is 128 parts of 8 MiB, each part is already capped at
    TUS_MAX_CHUNK_SIZE and the whole upload at UPLOAD_MAX_SIZE.
    """

    scope = "upload"
    message = "Too many uploads started."

    def get_cache_key(self, request, view) -> str | None:
        if request.method != "POST":
            return None
        ident = f"user-{request.user.pk}" if request.user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
