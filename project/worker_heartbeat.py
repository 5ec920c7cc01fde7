"""Worker heartbeats in Redis, so ``/healthz`` can count live workers in one round trip.

Asking the workers over the broker (``inspect().active_queues()``) costs the caller a full
timeout every time, because a broadcast cannot know how many workers will answer; anyone could
call ``/healthz`` in a loop and keep every worker answering. Instead each worker's main process
writes a heartbeat for every queue it consumes, from a timer thread of its own (independent of
beat and of busy pool children), and the health check only reads:

* one sorted set per queue, ``<prefix>:<queue>``, member = the worker's node name, score = the
  time of its last heartbeat (Unix seconds);
* a worker counts as running while its score is newer than ``WORKER_HEARTBEAT_TTL`` seconds
  (three beats by default), so a worker killed with SIGKILL disappears within that time; one
  that stops normally removes itself at once.

The prefix is fixed and the queue is the distinguishing part: environments sharing a Redis
already need queues of their own (a shared queue would share the imports too).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

KEY_PREFIX = "product-import:worker-heartbeat"


def heartbeat_key(queue: str) -> str:
    return f"{KEY_PREFIX}:{queue}"


# One client (and so one connection pool) per URL, per process: the health check reuses its
# connection instead of opening one per request. Keyed by URL because tests re-point REDIS_URL.
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def redis_client(url: str, *, timeout: float) -> redis.Redis:
    """A shared client for ``url`` that fails within ``timeout`` seconds and does not retry."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=None,
                health_check_interval=30,
            )
            _clients[url] = client
        return client


def workers_alive(*, client: redis.Redis, queue: str, ttl: float, now: float | None = None) -> int:
    """How many workers consuming ``queue`` sent a heartbeat within ``ttl`` seconds (one command)."""
    now = time.time() if now is None else now
    return int(client.zcount(heartbeat_key(queue), now - ttl, "+inf"))


class HeartbeatThread(threading.Thread):
    """Writes ``node``'s heartbeat for ``queues`` every ``interval`` seconds until stopped."""

    def __init__(self, *, url: str, node: str, queues: Iterable[str], interval: float, ttl: float) -> None:
        super().__init__(name="worker-heartbeat", daemon=True)
        self.client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, retry=None)
        self.node = node
        self.queues = sorted(set(queues))
        self.interval = interval
        self.ttl = ttl
        self._stopped = threading.Event()

    def beat(self) -> None:
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for queue in self.queues:
            key = heartbeat_key(queue)
            pipe.zadd(key, {self.node: now})
            # Entries of workers that died without saying goodbye would otherwise stay forever.
            pipe.zremrangebyscore(key, "-inf", now - self.ttl)
            pipe.expire(key, int(self.ttl) + 1)
        pipe.execute()

    def run(self) -> None:
        while True:
            try:
                self.beat()
            except redis.RedisError:
                # Redis is down: health reports that itself; keep trying, quietly, every beat.
                logger.debug("Worker heartbeat: Redis does not answer", exc_info=True)
            if self._stopped.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop beating and remove this worker's entries, so health sees it gone at once."""
        self._stopped.set()
        self.join(timeout=self.interval + 2)
        try:
            pipe = self.client.pipeline(transaction=False)
            for queue in self.queues:
                pipe.zrem(heartbeat_key(queue), self.node)
            pipe.execute()
        except redis.RedisError:
            logger.debug("Worker heartbeat: could not remove the heartbeat", exc_info=True)


_thread: HeartbeatThread | None = None


def on_worker_ready(sender, **_: object) -> None:
    """``worker_ready`` handler (the main process, once the consumer is ready): start beating."""
    global _thread
    queues = [queue.name for queue in sender.task_consumer.queues]
    _thread = HeartbeatThread(
        url=settings.REDIS_URL,
        node=sender.hostname,
        queues=queues,
        interval=settings.WORKER_HEARTBEAT_INTERVAL,
        ttl=settings.WORKER_HEARTBEAT_TTL,
    )
    # The first heartbeat is written before the worker reports itself ready to anyone watching.
    try:
        _thread.beat()
    except redis.RedisError:
        logger.warning("Worker heartbeat: Redis does not answer; /healthz will not count this worker yet")
    _thread.start()


def on_worker_shutdown(**_: object) -> None:
    """``worker_shutdown`` handler: say goodbye."""
    global _thread
    if _thread is not None:
        _thread.stop()
        _thread = None
