"""What each way of indexing the search costs a 1M-row load, side by side, in plain SQL.

Run it as ``python -m tests.benchmarks.bench_search_options --rows 1000000``. It creates a
throw-away database (``pi_bench_search_options``; dropped at the end), migrates it, COPYs a
csvgen file into an unlogged staging table once, and then, for each variant of the catalogue
table, loads it the way the importer does: an ``INSERT … SELECT DISTINCT ON (lower(sku)) … ON
CONFLICT`` per chunk of ``--chunk`` rows, one transaction each, into an empty table (after
``TRUNCATE``, ``VACUUM`` and ``CHECKPOINT``, so no variant pays for another's pages). Variants:

- ``before``: the catalogue as it was before search (no search column, no ordering indexes);
- ``orderings``: plus the four (field, id) B-tree indexes only;
- ``column``: plus the generated tsvector column only (no index);
- ``column+gin``: the column and its GIN index (``fastupdate`` on, 4 MB pending list);
- ``column+gin 64MB``: the same with ``gin_pending_list_limit = 64MB`` on the index;
- ``column+gin fastupdate=off``;
- ``all``: the column, its GIN index and the ordering indexes (what migrations 0007-0008 give);
- ``side table after``: ``before`` for the load, then one statement that fills a separate search
  table (id, tsvector) from the catalogue and builds its GIN index (what indexing after an import
  would cost on top).

Medians of ``--repeat`` runs, each as a ratio to ``before`` of the same repeat.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ADMIN_DB = "postgres"

ORDERING_INDEXES = {
    "catalog_product_name_id": "(name, id)",
    "catalog_product_sku_id": "(sku, id)",
    "catalog_product_created_id": "(created_at, id)",
    "catalog_product_updated_id": "(updated_at, id)",
}
COLUMN = (
    "ALTER TABLE catalog_product ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
    "(catalog_product_search_document(sku, name, description)) STORED"
)

MERGE_CHUNK = """
INSERT INTO catalog_product AS p (sku, name, description, is_active, created_at, updated_at)
SELECT DISTINCT ON (lower(sku)) sku, name, description, true, now(), now()
FROM options_staging WHERE rownum > %s AND rownum <= %s
ORDER BY lower(sku), rownum DESC
ON CONFLICT ((lower(sku))) DO UPDATE
    SET sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
        updated_at = EXCLUDED.updated_at
"""


def _shape(cursor, *, column: bool, gin: str | None, orderings: bool) -> None:
    cursor.execute("DROP INDEX IF EXISTS catalog_product_search")
    cursor.execute("ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_vector")
    for name in ORDERING_INDEXES:
        cursor.execute(f"DROP INDEX IF EXISTS {name}")
    if column:
        cursor.execute(COLUMN)
    if gin is not None:
        cursor.execute(
            f"CREATE INDEX catalog_product_search ON catalog_product USING gin (search_vector) {gin}"
        )
    if orderings:
        for name, columns in ORDERING_INDEXES.items():
            cursor.execute(f"CREATE INDEX {name} ON catalog_product {columns}")


VARIANTS = {
    "before": {"column": False, "gin": None, "orderings": False},
    "orderings": {"column": False, "gin": None, "orderings": True},
    "column": {"column": True, "gin": None, "orderings": False},
    "column+gin": {"column": True, "gin": "", "orderings": False},
    "column+gin 64MB": {"column": True, "gin": "WITH (gin_pending_list_limit = 65536)", "orderings": False},
    "column+gin fastupdate=off": {"column": True, "gin": "WITH (fastupdate = off)", "orderings": False},
    "all": {"column": True, "gin": "", "orderings": True},
    "side table after": {"column": False, "gin": None, "orderings": False, "side_table": True},
}


def _load(conn, *, rows: int, chunk: int) -> float:
    started = time.perf_counter()
    for low in range(0, rows, chunk):
        with conn.transaction():
            conn.execute(MERGE_CHUNK, [low, low + chunk])
    return time.perf_counter() - started


def _side_table(conn) -> float:
    started = time.perf_counter()
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS options_search")
        conn.execute(
            "CREATE TABLE options_search AS SELECT id, catalog_product_search_document(sku, name, description) "
            "AS document FROM catalog_product"
        )
        conn.execute("CREATE INDEX ON options_search USING gin (document)")
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=25_000, help="rows per transaction (IMPORT_CHUNK_SIZE)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated variant names")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args(argv)
    database = f"pi_bench_search_options_{uuid.uuid4().hex[:6]}"
    os.environ["DATABASE_URL"] = f"{args.pg}/{database}"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only")
    os.environ["DJANGO_DEBUG"] = "true"
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    import psycopg

    with psycopg.connect(f"{args.pg}/{ADMIN_DB}", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    workdir = Path(tempfile.mkdtemp(prefix="bench-search-options-"))
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from tests.benchmarks.csvgen import generate_products_csv

        path = generate_products_csv(workdir / "products.csv", args.rows)
        with psycopg.connect(f"{args.pg}/{database}", autocommit=True) as conn:
            conn.execute(
                "CREATE UNLOGGED TABLE options_staging (rownum bigserial, sku text, name text, description text)"
            )
            with (
                path.open("rb") as handle,
                conn.cursor().copy(
                    "COPY options_staging (sku, name, description) FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            conn.execute("CREATE INDEX ON options_staging (rownum)")
            conn.execute("VACUUM ANALYZE options_staging")
            results: dict[str, list[float]] = {name: [] for name in args.variants.split(",")}
            for repeat in range(args.repeat):
                for name in results:
                    variant = VARIANTS[name]
                    with conn.cursor() as cursor:
                        _shape(cursor, **{k: v for k, v in variant.items() if k != "side_table"})
                        cursor.execute("TRUNCATE catalog_product RESTART IDENTITY")
                        cursor.execute("DROP TABLE IF EXISTS options_search")
                        cursor.execute("VACUUM catalog_product")
                        cursor.execute("CHECKPOINT")
                    seconds = _load(conn, rows=args.rows, chunk=args.chunk)
                    extra = _side_table(conn) if variant.get("side_table") else 0.0
                    results[name].append(seconds + extra)
                    note = f" (load {seconds:.1f} s + side table {extra:.1f} s)" if extra else ""
                    print(f"repeat {repeat + 1}: {name}: {seconds + extra:.1f} s{note}", flush=True)
        print(
            f"\n{args.rows:,} rows in chunks of {args.chunk:,}, into an empty table; "
            f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}"
        )
        base = results.get("before")
        for name, runs in results.items():
            ratio = ""
            if base:
                ratio = f"  {statistics.median(r / b for r, b in zip(runs, base, strict=False)):.2f}× before"
            print(f"{name:28} median {statistics.median(runs):6.1f} s{ratio}")
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{args.pg}/{ADMIN_DB}", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        for item in workdir.iterdir():
            item.unlink()
        workdir.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
