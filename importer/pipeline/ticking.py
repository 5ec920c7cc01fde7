"""A sign of life every second while one statement keeps the run's connection busy.

A chunk's merge is one statement, and so are a bulk load's index builds and its swap. On a busy
machine, or when the GIN pending list of the search index is flushed into the index inside that
statement, one of them can take many seconds, and a progress bar that stops for that long looks
dead. ``ticking`` calls ``beat()`` from a thread of its own every ``TICK_SECONDS`` while the block
runs; the beat publishes an event on the thread's own connection, never the run's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connections

logger = logging.getLogger(__name__)

TICK_SECONDS = 1.0


@contextmanager
def ticking(beat: Callable[[], None]) -> Iterator[None]:
    """Call ``beat()`` every second while the block runs; nothing for a block shorter than that.
    A beat that fails is logged: a missed sign of life must not stop the import."""
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(TICK_SECONDS):
                try:
                    beat()
                except Exception:  # noqa: BLE001 - see above
                    logger.warning("Import heartbeat failed", exc_info=True)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name="import-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)
