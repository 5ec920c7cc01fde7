"""Waiting for something another thread or process does: poll, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], *, what: str, timeout: float = 20.0, interval: float = 0.02) -> T:
    """Call ``check`` until it returns something truthy and return that; fail after ``timeout`` s.

    For an import job use ``tests.support.jobs.wait_for_job``, which also stops when the job ends
    and shows its state and the processes' logs.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
