"""Product list benchmark: the API's pages under 20 concurrent clients with 1,000,000 products.

Run it as ``python -m tests.benchmarks.bench_list --rows 1000000``. It creates a throw-away
database (``pi_bench_list`` by default; the name must start with ``pi_bench``), migrates it, loads
``--rows`` generated products through the import pipeline (csvgen data: ~5% case-variant
duplicate SKUs, so slightly fewer products than rows), marks every tenth product inactive, runs
``VACUUM ANALYZE`` (what autovacuum does after a big import), and drops the database at the end
(``--keep-database`` keeps it, and a later run with the same flag reuses it without reloading).

The real web process serves the API (``--web-processes`` daphne processes sharing one socket, as
``WEB_CONCURRENCY`` does in production; production settings, pooled connections); ``wrk`` (Debian
package ``wrk``) sends token-authenticated requests over loopback with ``--connections`` clients
for ``--seconds`` per scenario. Each scenario is first fetched once to check it answers 200 and
to show its ``count``. Targets of issue 4: first pages p95 ≤ 100 ms, deeper pages p95 ≤ 250 ms.
The ``reference`` row (``GET /api/auth/me/``, the cheapest authenticated request) shows what
the machine and the web stack cost without the catalogue: on a shared machine every figure
moves with the neighbours' load, so read the rows against it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ADMIN_DB = "postgres"
DB_PREFIX = "pi_bench"
FIRST_PAGE_TARGET_MS = 100
DEEP_PAGE_TARGET_MS = 250

# wrk keeps its latency histogram in microseconds; done() prints one JSON line with what we need.
WRK_SCRIPT = """
wrk.headers["Authorization"] = "Token %(token)s"
wrk.headers["Accept"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "non2xx": %%d, "errors": %%d, "p50": %%d, "p95": %%d, "p99": %%d}\\n',
    summary.requests, summary.duration / 1e6, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the generated CSV")
    parser.add_argument("--seconds", type=int, default=10, help="load duration per scenario")
    parser.add_argument("--connections", type=int, default=20, help="concurrent clients")
    parser.add_argument("--database", default="pi_bench_list", help="throw-away database name (pi_bench…)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--web-processes", type=int, default=os.cpu_count() or 1,
                        help="daphne processes sharing the socket, as WEB_CONCURRENCY (default: CPUs)")
    parser.add_argument("--keep-database", action="store_true",
                        help="keep the loaded database (and reuse it if it already exists)")
    args = parser.parse_args(argv)
    if not args.database.startswith(DB_PREFIX):
        parser.error(f"--database must start with {DB_PREFIX!r}: this benchmark drops it at the end")
    if not shutil.which("wrk"):
        parser.error("needs wrk (Debian: apt-get install wrk)")
    return args


def _configure_environment(args: argparse.Namespace, workdir: Path) -> None:
    os.environ["DATABASE_URL"] = f"{args.pg.rstrip('/')}/{args.database}"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["EVENTS_NAMESPACE"] = f"bench-list-{uuid.uuid4().hex[:8]}"
    # Production settings: with DEBUG on, Django records every query, which a real server does not.
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SECRET_KEY", f"benchmark-only-{uuid.uuid4().hex}")
    # Plain HTTP on loopback, as behind a TLS-terminating proxy.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"


def _database_exists(args: argparse.Namespace) -> bool:
    import psycopg

    with psycopg.connect(f"{args.pg.rstrip('/')}/{ADMIN_DB}", autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone() is not None


def _admin_execute(args: argparse.Namespace, statement: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{args.pg.rstrip('/')}/{ADMIN_DB}", autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(args.database)))


def _load_catalogue(rows: int, workdir: Path) -> None:
    """Import ``rows`` generated rows with the real pipeline, deactivate a tenth, VACUUM ANALYZE."""
    from django.db import connection

    from importer.pipeline import import_csv
    from tests.benchmarks.csvgen import generate_products_csv

    started = time.monotonic()
    path = generate_products_csv(workdir / "products.csv", rows)
    print(f"generated {rows:,} rows in {time.monotonic() - started:.0f} s", flush=True)
    started = time.monotonic()
    with path.open("rb") as handle:
        result = import_csv(file=handle, size_bytes=path.stat().st_size)
    print(f"imported in {result.seconds:.0f} s: {result.progress.created:,} products", flush=True)
    started = time.monotonic()
    with connection.cursor() as cursor:
        # The row-level count trigger fires for each flipped row: part of what is measured here.
        cursor.execute("UPDATE catalog_product SET is_active = false WHERE id % 10 = 3")
        cursor.execute("VACUUM ANALYZE catalog_product")
    print(f"deactivated a tenth and vacuumed in {time.monotonic() - started:.0f} s", flush=True)
    path.unlink()


def _token() -> str:
    from django.contrib.auth import get_user_model

    from tests.support.clients import token_key

    user, _ = get_user_model().objects.get_or_create(username="bench-list")
    return token_key(user)


@dataclass
class Scenario:
    name: str
    path: str
    target_ms: int | None  # None: the reference row


@dataclass
class Outcome:
    scenario: Scenario
    count: object
    req_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    failures: int
    requests: int = 0

    @property
    def verdict(self) -> str:
        if self.scenario.target_ms is None:
            return "reference"
        if not self.requests:
            return "NO ANSWERS"  # every request outlived wrk's run: nothing to judge, surely not met
        ok = self.p95_ms <= self.scenario.target_ms and not self.failures
        return "meets" if ok else "MISSES"


def _scenarios(total: int, inactive: int) -> list[Scenario]:
    last = max(1, -(-total // 50))
    inactive_last = max(1, -(-inactive // 50))
    first, deep = FIRST_PAGE_TARGET_MS, DEEP_PAGE_TARGET_MS
    return [
        Scenario("reference: GET /api/auth/me/", "/api/auth/me/", None),
        Scenario("first page, unfiltered", "/api/products/", first),
        Scenario("sku filter, a handful", "/api/products/?sku=0001234", first),
        Scenario("sku filter, other case", "/api/products/?sku=sKu-0004321", first),
        Scenario("is_active=true", "/api/products/?is_active=true", first),
        Scenario("is_active=false", "/api/products/?is_active=false", first),
        Scenario("search, rare (sku/name)", "/api/products/?search=123456", first),
        Scenario("search, word in names", "/api/products/?search=walnut", first),
        Scenario("page 2", "/api/products/?page=2", deep),
        Scenario("middle page", f"/api/products/?page={last // 2 or 1}", deep),
        Scenario("last page", f"/api/products/?page={last}", deep),
        Scenario("is_active=false, middle", f"/api/products/?is_active=false&page={inactive_last // 2 or 1}", deep),
        Scenario("ordering=-id, middle", f"/api/products/?ordering=-id&page={last // 2 or 1}", deep),
    ]


def _probe(base: str, token: str, path: str) -> dict:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return json.load(response)


def _run_wrk(base: str, path: str, script: Path, args: argparse.Namespace) -> dict:
    command = [
        "wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.seconds}s", "--timeout", "10s",
        "-s", str(script), base + path,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 60).stdout
    return json.loads(output.strip().splitlines()[-1])


def _wait_until_idle(*, timeout: float = 300) -> None:
    """Wait until PostgreSQL runs nothing for the server: requests still queued when wrk stopped
    (slow text searches, say) would otherwise run on into the next scenario and slow it down."""
    from django.db import connection

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.5)


def _measure(base: str, token: str, args: argparse.Namespace, workdir: Path) -> list[Outcome]:
    from catalog.selectors import product_total

    script = workdir / "auth.lua"
    script.write_text(WRK_SCRIPT % {"token": token})
    outcomes = []
    for scenario in _scenarios(product_total(), product_total(is_active=False)):
        body = _probe(base, token, scenario.path)
        count = body.get("count", "-")
        if body.get("count_exact") is False:
            count = f"~{count}"
        stats = _run_wrk(base, scenario.path, script, args)
        outcomes.append(Outcome(
            scenario=scenario,
            count=count,
            req_per_s=stats["requests"] / stats["seconds"],
            p50_ms=stats["p50"] / 1000,
            p95_ms=stats["p95"] / 1000,
            p99_ms=stats["p99"] / 1000,
            failures=stats["non2xx"] + stats["errors"],
            requests=stats["requests"],
        ))
        _wait_until_idle()
        print(f"  {scenario.name}: p95 {outcomes[-1].p95_ms:.0f} ms", flush=True)
    return outcomes


def _report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    print()
    print(f"{args.connections} concurrent clients, {args.seconds} s per scenario, wrk over loopback, "
          f"{args.web_processes} daphne process(es); "
          f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    header = f"{'scenario':32} {'count':>10} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'fail':>5} {'target':>7}  verdict"
    print(header)
    print("-" * len(header))
    for o in outcomes:
        target = f"≤{o.scenario.target_ms}" if o.scenario.target_ms else "-"
        print(f"{o.scenario.name:32} {o.count!s:>10} {o.req_per_s:7.0f} {o.p50_ms:7.1f} {o.p95_ms:7.1f} "
              f"{o.p99_ms:7.1f} {o.failures:5d} {target:>7}  {o.verdict}")
    met = sum(o.verdict == "meets" for o in outcomes)
    judged = sum(o.scenario.target_ms is not None for o in outcomes)
    print(f"\n{met} of {judged} scenarios meet their p95 target.")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-list-"))
    _configure_environment(args, workdir)
    reuse = args.keep_database and _database_exists(args)
    if not reuse:
        _admin_execute(args, "DROP DATABASE IF EXISTS {}")
        _admin_execute(args, "CREATE DATABASE {}")
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from catalog.selectors import product_total

        if not reuse or product_total() == 0:
            _load_catalogue(args.rows, workdir)
        print(f"{product_total():,} products, {product_total(is_active=False):,} inactive", flush=True)
        token = _token()
        from django.db import connections

        connections.close_all()

        from tests.support.processes import start_daphne

        (workdir / "logs").mkdir()
        server, base = start_daphne(log_dir=workdir / "logs", processes=args.web_processes)
        _probe(base, token, "/api/auth/me/")  # warm up: imports, connection pool
        outcomes = _measure(base, token, args, workdir)
        _report(outcomes, args)
    finally:
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep_database:
            _admin_execute(args, "DROP DATABASE IF EXISTS {}")
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
