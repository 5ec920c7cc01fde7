"""Producing the next chunk in a background thread while the current one is written.

Parsing the next chunk in Python then overlaps with PostgreSQL writing the current one (the
database driver releases the GIL while it waits), which hides most of the parsing cost.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

# While the reader thread parses, the writing thread must win the GIL back after every database
# round trip; with CPython's default 5 ms switch interval each of the dozen or so round trips of
# a chunk (and every wait inside a COPY) could cost up to 5 ms (the "convoy effect"). Measured on
# 1M rows: 3-6 s of a 25-28 s import went to those waits. A short interval during the import
# makes them negligible; the reader has slack enough to pay for the extra switches.
READ_AHEAD_SWITCH_INTERVAL = 0.0005
_T = TypeVar("_T")
_DONE = object()


class _ShortSwitchInterval:
    """READ_AHEAD_SWITCH_INTERVAL while any import of this process reads ahead; the old one after.

    The interval is process-wide: with two imports in one process (threads), the first to start
    sets it and the last to finish restores it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def enter(self) -> None:
        with self._lock:
            if not self._users:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, READ_AHEAD_SWITCH_INTERVAL))
            self._users += 1

    def leave(self) -> None:
        with self._lock:
            self._users -= 1
            if not self._users:
                sys.setswitchinterval(self._saved)


_short_switch_interval = _ShortSwitchInterval()


# How long the consumer waits for the next item before calling ``on_wait``.
WAIT_SECONDS = 1.0


def read_ahead(
    items: Iterator[_T],
    *,
    on_wait: Callable[[], None] | None = None,
    on_stop: Callable[[], None] | None = None,
) -> Iterator[_T]:
    """Produce ``items`` in a background thread, one item ahead of the consumer.

    One item ahead keeps memory bounded to about three items. An exception in the producer is
    raised in the consumer. While the next item takes long, ``on_wait()`` is called about every
    ``WAIT_SECONDS`` in the consumer's thread (it may raise to stop); ``on_stop()`` is called once
    the consumer stops, however it stops, so a producer stuck in a long item can end early.
    """
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: object) -> bool:
        # Every hand-off gives up once the consumer has stopped: a plain blocking put() of the
        # end marker (or of an error) after the last item would wait forever for a consumer
        # that was interrupted, stalling its close by the join timeout and leaking the thread.
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(_DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            offer(exc)

    producer = threading.Thread(target=produce, name="import-reader", daemon=True)
    _short_switch_interval.enter()
    producer.start()
    try:
        while True:
            try:
                item = handoff.get(timeout=WAIT_SECONDS)
            except queue.Empty:
                if on_wait is not None:
                    on_wait()
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        if on_stop is not None:
            on_stop()
        producer.join(timeout=5)
        _short_switch_interval.leave()
