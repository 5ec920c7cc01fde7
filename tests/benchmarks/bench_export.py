"""CSV export benchmark: GET /api/products/export/ through daphne, side by side with a bare COPY.

Run it as ``python -m tests.benchmarks.bench_export --rows 1000000``. It creates a throw-away
database (``pi_bench_export``; the name must start with ``pi_bench``), migrates it, inserts
``--rows`` products by SQL (200-character descriptions), and then, ``--repeat`` times in turn:

- **reference**: ``COPY (SELECT sku, name, description, is_active, created_at, updated_at FROM
  catalog_product ORDER BY id) TO STDOUT WITH (FORMAT csv)`` read to the end by psycopg;
- **export**: the whole catalogue from a real daphne (production settings, one process), read to
  the end by a streaming HTTP client, while the daphne process's resident memory is sampled.

It prints the medians, their ratio (target: export ≤ 2× reference) and daphne's largest growth in
resident memory over its idle size (target: < 50 MB). The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

import psutil
import psycopg
import requests

from tests.support.measure import PeakRss
from tests.support.processes import ROOT, free_port

REFERENCE_SQL = (
    "COPY (SELECT sku, name, description, is_active, created_at, updated_at FROM catalog_product "
    "ORDER BY id) TO STDOUT WITH (FORMAT csv)"
)


def _read_copy(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    with psycopg.connect(url) as conn, conn.cursor() as cursor, cursor.copy(REFERENCE_SQL) as copy:
        for piece in copy:
            size += len(piece)
    return time.perf_counter() - started, size


def _read_export(base: str, token: str) -> tuple[float, int]:
    started = time.perf_counter()
    size = 0
    with requests.get(
        f"{base}/api/products/export/", headers={"Authorization": f"Token {token}"}, stream=True, timeout=600
    ) as response:
        response.raise_for_status()
        for piece in response.iter_content(chunk_size=1 << 20):
            size += len(piece)
    return time.perf_counter() - started, size


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default="pi_bench_export")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    if not args.database.startswith("pi_bench"):
        parser.error("--database must start with 'pi_bench': this benchmark drops it at the end")
    url = f"{args.pg.rstrip('/')}/{args.database}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "false",
        "DATABASE_POOL": "true",
        "DJANGO_SECRET_KEY": f"benchmark-only-{uuid.uuid4().hex}",
        "SECURE_SSL_REDIRECT": "false",
        "EVENTS_NAMESPACE": f"bench-export-{uuid.uuid4().hex[:8]}",
    }
    with psycopg.connect(f"{args.pg.rstrip('/')}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.database}"')
        admin.execute(f'CREATE DATABASE "{args.database}"')
    server = None
    try:
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], env=env, cwd=ROOT, check=True)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO catalog_product (sku, name, description) SELECT 'BENCH-' || g, "
                "'Product ' || g || ', \"quoted\"', repeat('a description ', 14) FROM generate_series(1, %s) g",
                [args.rows],
            )
            conn.execute("VACUUM ANALYZE catalog_product")
        token = (
            subprocess.run(
                [
                    *manage,
                    "shell",
                    "-c",
                    "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token;"
                    "u = get_user_model().objects.create_user('bench', password='x');"
                    "print(Token.objects.create(user=u).key)",
                ],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        requests.get(
            f"{base}/api/products/export/?sku=BENCH-1",
            headers={"Authorization": f"Token {token}"},
            timeout=30,
        )
        process = psutil.Process(server.pid)
        idle_mb = process.memory_info().rss / 2**20
        reference, export, growth = [], [], []
        for round_ in range(args.repeat):
            seconds, size = _read_copy(url)
            reference.append(seconds)
            with PeakRss(lambda: [process]) as peak:
                seconds, exported = _read_export(base, token)
            export.append(seconds)
            growth.append(peak.peak_mb - idle_mb)
            print(
                f"round {round_ + 1}: reference {reference[-1]:.2f} s ({size / 2**20:.0f} MB), "
                f"export {export[-1]:.2f} s ({exported / 2**20:.0f} MB), daphne +{growth[-1]:.0f} MB",
                flush=True,
            )
        ref, exp = statistics.median(reference), statistics.median(export)
        print(
            f"\n{args.rows:,} products, medians of {args.repeat}: reference COPY {ref:.2f} s, "
            f"export through daphne {exp:.2f} s, ratio {exp / ref:.2f}× (target ≤ 2×); "
            f"daphne's largest growth {max(growth):.0f} MB (target < 50 MB)"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        with psycopg.connect(f"{args.pg.rstrip('/')}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
