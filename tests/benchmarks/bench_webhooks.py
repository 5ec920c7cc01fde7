"""Webhook benchmark: 1,000 product edits through the API, with and without 3 webhooks.

    python -m tests.benchmarks.bench_webhooks --edits 1000 --webhooks 3

On a throw-away database (``pi_bench_webhooks``, dropped at the end): a real daphne (one
process) serves the API, a real Celery worker (2 pool processes) delivers, and a receiver in its
own process (a threaded ``http.server`` on 127.0.0.1) records every request's path and
``webhook-id``. The same products are edited one after another with ``PATCH /api/products/{id}/``:

1. with no webhook: the edit latency (median, p95);
2. with ``--webhooks`` webhooks subscribed to ``product.updated``: the edit latency again, then the
   wait until every delivery has arrived: deliveries per second (from the first edit to the last
   arrival) and how long the queue took to drain after the last edit;
3. ``--paused-edits`` more edits with the worker stopped (SIGSTOP): the edit latency with webhooks
   and nothing delivering beside it on the 2 cores; then the worker alone drains those deliveries
   (deliveries per second of the worker alone);
4. exactly once: every webhook got every event id once, no more (checked again 2 s later).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psutil
import psycopg
import requests

from tests.support.processes import ROOT, free_port


def serve_receiver(port: int) -> None:
    """The receiver process: record (path, webhook-id) of every POST; GET /stats reports them."""
    lock = threading.Lock()
    seen: dict[str, Counter] = defaultdict(Counter)
    times: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                seen[self.path][self.headers.get("webhook-id")] += 1
                times.append(time.time())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            with lock:
                body = json.dumps({"seen": seen, "first": min(times, default=None),
                                   "last": max(times, default=None), "total": len(times)}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(latencies: list[float]) -> str:
    median, p95 = statistics.median(latencies) * 1000, percentile(latencies, 0.95) * 1000
    return f"median {median:.1f} ms, p95 {p95:.1f} ms ({len(latencies):,} edits)"


def received_total(receiver: str) -> int:
    return requests.get(f"{receiver}/stats", timeout=5).json()["total"]


def wait_until_total(receiver: str, expected: int, *, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while received_total(receiver) < expected:
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


def wait_for(url: str, *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def edit_all(session: requests.Session, base: str, ids: list[int], label: str) -> tuple[list[float], float]:
    latencies = []
    started = time.time()
    for n, product_id in enumerate(ids):
        t0 = time.perf_counter()
        response = session.patch(f"{base}/api/products/{product_id}/", json={"name": f"{label} {n}"},
                                 timeout=30)
        latencies.append(time.perf_counter() - t0)
        response.raise_for_status()
    return latencies, started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--edits", type=int, default=1000)
    parser.add_argument("--webhooks", type=int, default=3)
    parser.add_argument("--paused-edits", type=int, default=300)
    parser.add_argument("--database", default="pi_bench_webhooks")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        serve_receiver(args.receiver)
        return
    if not args.database.startswith("pi_bench"):
        parser.error("--database must start with 'pi_bench': this benchmark drops it at the end")
    url = f"{args.pg.rstrip('/')}/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": f"benchmark-only-{uuid.uuid4().hex}",
        "SECURE_SSL_REDIRECT": "false",
        "EVENTS_NAMESPACE": f"bench-webhooks-{uuid.uuid4().hex[:8]}",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-webhooks-{uuid.uuid4().hex[:8]}",
        "CACHE_KEY_PREFIX": f"bench-webhooks-{uuid.uuid4().hex[:8]}",
        # The receiver is on 127.0.0.1.
        "WEBHOOKS_ALLOW_PRIVATE_NETWORKS": "true",
        "LOG_LEVEL": "WARNING",
    }
    with psycopg.connect(f"{args.pg.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    children: list[subprocess.Popen] = []
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO catalog_product (sku, name) SELECT 'HOOK-' || g, 'Product ' || g "
                         "FROM generate_series(1, %s) g", [args.edits])
            ids = [row[0] for row in conn.execute("SELECT id FROM catalog_product ORDER BY id")]
        token = subprocess.run(
            [*manage, "shell", "-c",
             "from django.contrib.auth import get_user_model;"
             "from rest_framework.authtoken.models import Token;"
             "u = get_user_model().objects.create_user('bench', password='x', is_staff=True);"
             "print(Token.objects.create(user=u).key)"],
            env=env, cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]

        receiver_port, web_port = free_port(), free_port()
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT, "env": env}
        children.append(subprocess.Popen(
            [sys.executable, "-m", "tests.benchmarks.bench_webhooks", "--receiver", str(receiver_port)],
            **quiet))
        children.append(subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
             "project.asgi:application"], **quiet))
        # As the Procfile runs it: 2 pool processes, no connection pool.
        children.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "project", "worker", "-l", "warning", "-c", "2",
             "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"bench-{os.getpid()}@%h",
             "--without-gossip", "--without-mingle"], **{**quiet, "env": {**env, "DATABASE_POOL": "false"}}))
        base, receiver = f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{receiver_port}"
        wait_for(f"{base}/healthz")
        wait_for(f"{receiver}/stats")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"

        edit_all(session, base, ids[:50], "warm-up")
        without, _ = edit_all(session, base, ids, "plain")

        for n in range(args.webhooks):
            created = session.post(f"{base}/api/webhooks/", json={
                "url": f"{receiver}/hook-{n}", "events": ["product.updated"], "description": f"bench {n}",
            }, timeout=30)
            created.raise_for_status()
        # Workers ready before the measured edits (the first task of a pool child is slower).
        deadline = time.monotonic() + 60
        while not received_total(receiver) and time.monotonic() < deadline:
            session.patch(f"{base}/api/products/{ids[0]}/", json={"name": "warm-up"}, timeout=30)
            time.sleep(0.5)
        warm = requests.get(f"{receiver}/stats", timeout=5).json()
        with_hooks, started = edit_all(session, base, ids, "hooked")
        edits_done = time.time()
        expected = warm["total"] + args.edits * args.webhooks
        wait_until_total(receiver, expected)
        mixed = requests.get(f"{receiver}/stats", timeout=5).json()

        # The same with the worker stopped (SIGSTOP): the edits' own cost of having webhooks, with
        # no delivery competing for the 2 cores; then the worker alone drains what they queued.
        paused_ids = ids[: args.paused_edits]
        worker = psutil.Process(children[2].pid)
        worker_processes = [worker, *worker.children(recursive=True)]
        for process in worker_processes:
            process.suspend()
        try:
            paused, _ = edit_all(session, base, paused_ids, "paused")
        finally:
            for process in worker_processes:
                process.resume()
        resumed = time.time()
        expected += len(paused_ids) * args.webhooks
        wait_until_total(receiver, expected)
        drained = requests.get(f"{receiver}/stats", timeout=5).json()
        time.sleep(2)
        stats = requests.get(f"{receiver}/stats", timeout=5).json()

        warm_ids = {path: set(ids_) for path, ids_ in warm["seen"].items()}
        exact = True
        events = args.edits + len(paused_ids)
        for n in range(args.webhooks):
            counts = {i: c for i, c in stats["seen"].get(f"/hook-{n}", {}).items()
                      if i not in warm_ids.get(f"/hook-{n}", set())}
            once = sum(1 for c in counts.values() if c == 1)
            more = sum(1 for c in counts.values() if c > 1)
            print(f"webhook {n}: {len(counts)} event ids, {once} exactly once, {more} more than once")
            exact &= len(counts) == events and once == events
        delivered = mixed["total"] - warm["total"]
        drain_count = drained["total"] - mixed["total"]
        print(
            f"\n{events:,} edits, {args.webhooks} webhooks: {stats['total'] - warm['total']:,} of "
            f"{events * args.webhooks:,} deliveries arrived, every one exactly once per event id and "
            f"webhook: {'yes' if exact else 'NO'}\n"
            f"while editing: {delivered / (mixed['last'] - started):.0f} deliveries/s (first edit to last "
            f"arrival; the queue drained {max(0.0, mixed['last'] - edits_done):.1f} s after the last edit)\n"
            f"worker alone: {drain_count / (drained['last'] - resumed):.0f} deliveries/s "
            f"({drain_count:,} queued while it was stopped)\n"
            f"edit latency without webhooks: {summary(without)}\n"
            f"edit latency with {args.webhooks} webhooks, worker delivering: {summary(with_hooks)}\n"
            f"edit latency with {args.webhooks} webhooks, worker stopped: {summary(paused)}",
            flush=True,
        )
        if not exact:
            sys.exit(1)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        with psycopg.connect(f"{args.pg.rstrip('/')}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
