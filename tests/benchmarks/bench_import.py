"""Import benchmark: the engine through a real Celery worker against a bare COPY + upsert.

Run it as ``python -m tests.benchmarks.bench_import --rows 1000000 --repeat 3`` (or ``make bench``).
It creates a throw-away database (``pi_bench_<random>`` by default; a given name must start with
``pi_bench`` and must not exist yet), migrates it, and drops it at the end; no other database is
touched, and two runs at once do not meet.

In one run, on a generated CSV (csvgen: ~5% case-variant duplicate SKUs, multi-line quoted
descriptions, non-ASCII text) it measures, for each repeat:

1. **engine**: ``import_job_create`` on the stored file, executed by a real Celery worker
   process (concurrency 1, production chunk size); wall time from enqueue to the job's
   ``finished_at``. The worker's processes are sampled with psutil every 50 ms: the peak RSS of
   the pool child running the task and of the main process are reported separately.
2. **reference**: one COPY of the whole file into an unlogged staging table (``rownum
   bigserial``) and one ``INSERT … SELECT DISTINCT ON (lower(sku)) … ORDER BY lower(sku), rownum
   DESC ON CONFLICT ((lower(sku))) DO UPDATE``, in one transaction: no validation, no progress.
3. both paths into an empty table, again with the same file over the existing rows (the engine
   skips unchanged rows; the reference rewrites them), and with a modified file (same SKUs,
   changed names), which makes both rewrite every product.
4. Django ``bulk_create(update_conflicts=True)`` in batches of 1000 on the same file (or its
   first ``--bulk-rows`` rows), into an empty table and again over its own rows, in the first
   ``--bulk-repeat`` repeats. It cannot target the ``lower(sku)`` expression index
   (``unique_fields`` takes columns only), so it writes into a scratch table with a real
   ``sku_lower`` column under a plain unique constraint, and otherwise the catalogue's shape: the
   same secondary indexes and the same count triggers (into a count table of its own). Rows are
   de-duplicated per batch in Python (last wins, as in the engine). Its rows/s is compared with
   the engine's and the bare reference's of the same repeat (paired, as the machine's speed
   drifts between repeats), on the same number of rows.

It also runs the engine on a ``--small-rows`` prefix of the file to show the worker's peak RSS
does not grow with the file, and records the longest interval between two consecutive events of
the job on the Redis pub/sub channel the SSE server relays (what a browser would see).

Every run starts from the same table: empty, or (update paths) the base file freshly loaded by
the reference SQL, then ``VACUUM ANALYZE``; then ``CHECKPOINT``, so no run pays for an earlier
one's dirty pages, dead rows or free space. Engine and reference alternate which goes first. Both
paths write the same ``catalog_product`` table, with whatever indexes the migrations give it; a
checksum checks that they produce the same catalogue.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ADMIN_DB = "postgres"
DB_PREFIX = "pi_bench"


# --- Configuration (before Django loads its settings) ------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the main file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians)")
    parser.add_argument("--small-rows", type=int, default=250_000,
                        help="rows of the smaller file used to show memory does not grow")
    parser.add_argument("--bulk-rows", type=int, default=None,
                        help="rows for bulk_create (default: all of --rows, the engine's own file)")
    parser.add_argument("--bulk-repeat", type=int, default=None,
                        help="repeats that also run bulk_create (default: all; it takes minutes per "
                             "million rows)")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="IMPORT_CHUNK_SIZE for the worker (default: the settings' default)")
    parser.add_argument("--database", default=f"{DB_PREFIX}_{uuid.uuid4().hex[:8]}",
                        help="throw-away database to create and drop (pi_bench…; must not exist)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--keep-files", action="store_true", help="keep the generated CSVs")
    args = parser.parse_args(argv)
    if not args.database.startswith(DB_PREFIX):
        parser.error(f"--database must start with {DB_PREFIX!r}: this benchmark drops it at the end")
    args.bulk_rows = min(args.bulk_rows or args.rows, args.rows)
    args.bulk_repeat = args.repeat if args.bulk_repeat is None else args.bulk_repeat
    return args


def _configure_environment(args: argparse.Namespace, workdir: Path) -> None:
    run_id = uuid.uuid4().hex[:8]
    os.environ["DATABASE_URL"] = f"{args.pg.rstrip('/')}/{args.database}"
    os.environ["DATABASE_POOL"] = "false"
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    # Its own queue and event namespace: nobody else's worker takes the benchmark's jobs, and the
    # benchmark counts only its own events on the shared Redis.
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"product-import-bench-{run_id}"
    os.environ["EVENTS_NAMESPACE"] = f"bench-{run_id}"
    # Production settings: with DEBUG on, Django keeps and formats every query it runs, which
    # would tax bulk_create's big statements (and the worker) for nothing a real server does.
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SECRET_KEY", f"benchmark-only-{uuid.uuid4().hex}")
    if args.chunk_size:
        os.environ["IMPORT_CHUNK_SIZE"] = str(args.chunk_size)
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"


def _admin_execute(args: argparse.Namespace, statement: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(f"{args.pg.rstrip('/')}/{ADMIN_DB}", autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(args.database)))


# --- Measurements --------------------------------------------------------------------------------


@dataclass
class EngineRun:
    seconds: float
    child_peak_mb: float
    child_idle_mb: float
    main_peak_mb: float
    max_event_gap: float
    counting_seconds: float
    attempts: int
    created: int
    updated: int
    unchanged: int
    superseded: int
    phases: dict[str, float] = field(default_factory=dict)  # a bulk load's, from the worker's log
    path: str = "chunks"


# The worker's log line of a bulk load (importer/pipeline/bulk.py, BulkTimings.summary).
_BULK_LOG = re.compile(r"Bulk load (\d+) of [\d,]+ rows: (.*)")
_BULK_PART = re.compile(r"(loading|de-duplicating|indexing|analyzing|publishing) ([\d.]+) s")
_BULK_INDEX = re.compile(r"(\w+) ([\d.]+)(?:,|\))")


def _bulk_phases(log: str, job_id: int) -> dict[str, float]:
    """The phases of job ``job_id``'s bulk load as the worker logged them (empty: chunked)."""
    for match in _BULK_LOG.finditer(log):
        if int(match.group(1)) != job_id:
            continue
        text = match.group(2)
        phases = {name: float(seconds) for name, seconds in _BULK_PART.findall(text)}
        builds = text[text.find("(") + 1: text.find(")") + 1]
        for name, seconds in _BULK_INDEX.findall(builds):
            phases[f"index {name}"] = float(seconds)
        return phases
    return {}


@dataclass
class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds in a background thread."""

    root_pid: int
    interval: float = 0.05
    peaks: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self):
        try:
            root = self._psutil.Process(self.root_pid)
            return [root, *root.children(recursive=True)]
        except self._psutil.NoSuchProcess:
            return []

    def _run(self) -> None:
        procs = self._processes()
        refresh = time.monotonic() + 1
        while not self._stop.is_set():
            if time.monotonic() > refresh:
                procs, refresh = self._processes(), time.monotonic() + 1
            for proc in procs:
                try:
                    rss = proc.memory_info().rss
                except self._psutil.NoSuchProcess:
                    continue
                if rss > self.peaks.get(proc.pid, 0):
                    self.peaks[proc.pid] = rss
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class EventRecorder:
    """Records when each job event arrives on django-eventstream's Redis pub/sub channel."""

    def __init__(self) -> None:
        import redis
        from django.conf import settings

        self._pubsub = redis.Redis(**settings.EVENTSTREAM_REDIS).pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe("events_channel")
        self.events: dict[str, list[tuple[float, dict]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.1)
            if not message:
                continue
            received = time.time()
            try:
                body = json.loads(message["data"])
                data = json.loads(body["data"])
            except (TypeError, ValueError, KeyError):
                continue
            self.events.setdefault(body.get("channel", ""), []).append((received, data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pubsub.close()


def engine_run(*, stored_name: str, user, worker, recorder: EventRecorder) -> EngineRun:
    """One import through the real worker; returns its wall time, memory and event gaps."""
    from importer.events import import_job_channel
    from importer.locks import JOB_LOCK_CLASS
    from importer.services import import_job_create
    from tests.support.jobs import finished, wait_for_job
    from tests.support.processes import pid_holding_advisory_lock

    children = worker.children()
    idle = max((proc.memory_info().rss for proc in children), default=0)
    with RssSampler(worker.pid) as sampler:
        started = time.time()
        job = import_job_create(owner=user, stored_name=stored_name, filename=Path(stored_name).name)
        runner = None
        while runner is None and time.time() - started < 60:
            runner = pid_holding_advisory_lock(key1=JOB_LOCK_CLASS, key2=job.pk)
            if runner is None:
                time.sleep(0.05)
        job = wait_for_job(job.pk, finished, what="finished", timeout=3600, interval=0.1)
    if job.status != "completed":
        raise RuntimeError(f"import {job.pk} ended {job.status}: {job.message}\n{worker.log()[-3000:]}")
    seconds = job.finished_at.timestamp() - started

    time.sleep(0.3)  # the completion event is published just after the commit we polled
    events = recorder.events.get(import_job_channel(job.pk), [])
    running = [(at, data) for at, data in events if data.get("status") in ("processing", "completed")]
    gaps = [b[0] - a[0] for a, b in zip(running, running[1:], strict=False)]
    counting = [at for at, data in events if data.get("phase") == "counting"]
    # The phase after counting: "importing" on the chunked path, "loading" on the bulk path.
    importing = [at for at, data in events if data.get("phase") in ("importing", "loading")]
    deadline = time.time() + 5
    phases = _bulk_phases(worker.log(), job.pk)
    while "bulk" in job.message.lower() and not phases and time.time() < deadline:
        time.sleep(0.1)
        phases = _bulk_phases(worker.log(), job.pk)
    child_pids = {proc.pid for proc in children}
    child_peak = sampler.peaks.get(runner) if runner else None
    if child_peak is None:
        child_peak = max((rss for pid, rss in sampler.peaks.items() if pid in child_pids), default=0)
    return EngineRun(
        seconds=seconds,
        child_peak_mb=child_peak / 2**20,
        child_idle_mb=idle / 2**20,
        main_peak_mb=sampler.peaks.get(worker.pid, 0) / 2**20,
        max_event_gap=max(gaps, default=float("nan")),
        counting_seconds=(importing[0] - counting[0]) if counting and importing else float("nan"),
        attempts=job.attempts,
        created=job.created_rows,
        updated=job.updated_rows,
        unchanged=job.unchanged_rows,
        superseded=job.superseded_rows,
        phases=phases,
        path="bulk" if phases else "chunks",
    )


def raw_copy_run(*, path: Path) -> float:
    """The ingest limit: one COPY of the whole file into an unlogged table without any index."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("CREATE UNLOGGED TABLE bench_raw (sku text, name text, description text)")
        with path.open("rb") as handle, cursor.copy(
            "COPY bench_raw (sku, name, description) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        cursor.execute("COMMIT")
    seconds = time.perf_counter() - started
    _sql("DROP TABLE bench_raw")
    return seconds


_REFERENCE_MERGE = """
INSERT INTO catalog_product AS p (sku, name, description, is_active, created_at, updated_at)
SELECT DISTINCT ON (lower(sku)) sku, name, description, true, now(), now()
FROM bench_staging
ORDER BY lower(sku), rownum DESC
ON CONFLICT ((lower(sku))) DO UPDATE
    SET sku = EXCLUDED.sku, name = EXCLUDED.name, description = EXCLUDED.description,
        updated_at = EXCLUDED.updated_at
"""


def reference_run(*, path: Path) -> float:
    """One COPY into an unlogged staging table + one INSERT … ON CONFLICT, in one transaction."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_staging (rownum bigserial, sku text, name text, description text)"
        )
        with path.open("rb") as handle, cursor.copy(
            "COPY bench_staging (sku, name, description) FROM STDIN WITH (FORMAT csv, HEADER true)"
        ) as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        cursor.execute(_REFERENCE_MERGE)
        cursor.execute("DROP TABLE bench_staging")
        cursor.execute("COMMIT")
    return time.perf_counter() - started


def _scratch_model():
    """A Product twin with a real ``sku_lower`` column, which bulk_create can use as conflict target."""
    from django.db import models
    from django.utils import timezone

    class BenchBulkProduct(models.Model):
        sku = models.CharField(max_length=255)
        sku_lower = models.CharField(max_length=255, unique=True)
        name = models.CharField(max_length=255)
        description = models.TextField(blank=True, default="")
        is_active = models.BooleanField(default=True)
        created_at = models.DateTimeField(default=timezone.now)
        updated_at = models.DateTimeField(default=timezone.now)

        class Meta:
            app_label = "catalog"
            db_table = "bench_bulk_product"
            managed = False

    return BenchBulkProduct


def _mirror_catalogue_shape() -> None:
    """Give the scratch table the catalogue's storage parameters, secondary indexes and count triggers.

    Every write path to the catalogue pays for them (they serve the list's filters and keep its
    counts exact) or gains from them (a fillfactor, say), so a bulk_create importer would too.
    The count triggers write to a count table of the scratch table's own.
    """
    import importlib

    if options := _catalogue_storage_options():
        _sql(f"ALTER TABLE bench_bulk_product SET ({', '.join(options)})")
    # The catalogue's generated search column (migration 0007), which its search indexes are on.
    generated = _sql(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a JOIN pg_attrdef d "
        "ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = 'catalog_product'::regclass AND a.attname = 'search_vector'"
    )
    if generated:
        _sql(f"ALTER TABLE bench_bulk_product ADD COLUMN search_vector tsvector "
             f"GENERATED ALWAYS AS ({generated[0][0]}) STORED")

    for name, definition in _sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'catalog_product' "
        "AND indexname NOT IN ('catalog_product_pkey', 'catalog_product_sku_ci_unique')"
    ):
        _sql(definition.replace(name, f"bench_bulk_{name}", 1).replace(".catalog_product ", ".bench_bulk_product "))
    migration = importlib.import_module("catalog.migrations.0002_product_counts")
    _sql("CREATE TABLE bench_bulk_productcountblock "
         "(block bigint, is_active boolean, products bigint, PRIMARY KEY (block, is_active))")
    _sql(migration.CREATE_TRIGGERS.replace("catalog_product", "bench_bulk_product"))


def bulk_create_run(*, path: Path, rows: int, model) -> float:
    """The usual Django way: read the CSV, bulk_create(update_conflicts=True) per 1000 rows."""
    from django.db import transaction
    from django.utils import timezone

    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        batch: dict[str, object] = {}
        read = 0

        def flush() -> None:
            with transaction.atomic():
                model.objects.bulk_create(
                    list(batch.values()), update_conflicts=True, unique_fields=["sku_lower"],
                    update_fields=["sku", "name", "description", "updated_at"],
                )
            batch.clear()

        for row in reader:
            if read >= rows:
                break
            read += 1
            sku, name = row[0].strip(), row[1].strip()
            now = timezone.now()
            # One statement may not meet a key twice: the last row of the batch wins.
            batch[sku.lower()] = model(sku=sku, sku_lower=sku.lower(), name=name,
                                       description=row[2] if len(row) > 2 else "",
                                       created_at=now, updated_at=now)
            if read % 1000 == 0:
                flush()
        if batch:
            flush()
    return time.perf_counter() - started


# --- Database helpers ----------------------------------------------------------------------------


def _sql(statement: str) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement)
        return cursor.fetchall() if cursor.description else []


def _catalogue_storage_options() -> list[str]:
    """The catalogue table's storage parameters, e.g. ``["fillfactor=50"]``."""
    (options,) = _sql("SELECT reloptions FROM pg_class WHERE oid = 'catalog_product'::regclass")[0]
    return options or []


def _empty_catalogue() -> None:
    _sql("TRUNCATE catalog_product")
    _sql("CHECKPOINT")


def _load_base(base: Path) -> None:
    """Give every update-path run the same starting table: ``base`` freshly loaded, then settled.

    Without this the runs inherit each other's layout: a path that rewrites every row leaves
    half of each page free after VACUUM, so the next run's updates fit on the same pages (HOT)
    and are much cheaper than on a freshly loaded, packed table.
    """
    _empty_catalogue()
    reference_run(path=base)
    _sql("VACUUM ANALYZE catalog_product")
    _sql("CHECKPOINT")


def _catalogue_checksum() -> tuple[int, int]:
    count, digest = _sql(
        "SELECT count(*), coalesce(sum(hashtextextended("
        "lower(sku) || '|' || sku || '|' || name || '|' || description, 0)), 0) FROM catalog_product"
    )[0]
    return int(count), int(digest)


# --- Report --------------------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else ""


def _mb(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="pi-bench-"))
    _configure_environment(args, workdir)
    try:
        _admin_execute(args, "CREATE DATABASE {}")
    except Exception as exc:  # noqa: BLE001 - never drop a database this run did not create
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"Cannot create database {args.database!r} ({exc}). Pick another --database.", file=sys.stderr)
        return 2
    worker = None
    recorder = None
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection

        from tests.benchmarks.csvgen import generate_products_csv
        from tests.support.processes import start_worker

        call_command("migrate", verbosity=0)
        media = Path(settings.MEDIA_ROOT) / "bench"
        media.mkdir(parents=True)
        log_dir = workdir / "logs"
        log_dir.mkdir()

        print(f"Generating CSVs ({args.rows:,} / {args.small_rows:,} rows)…", flush=True)
        started = time.perf_counter()
        base = generate_products_csv(media / "base.csv", args.rows)
        modified = generate_products_csv(media / "modified.csv", args.rows, variant=" v2")
        generate_products_csv(media / "small.csv", args.small_rows)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
        with base.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            distinct = len({row[0].lower() for row in reader})

        user = get_user_model().objects.create_user(username="bench", password="bench-only-42")
        bulk_model = _scratch_model()
        with connection.schema_editor() as editor:
            editor.create_model(bulk_model)
        _mirror_catalogue_shape()

        recorder = EventRecorder()
        worker = start_worker(log_dir=log_dir, concurrency=1, beat=False)
        print(f"Worker pid {worker.pid} started; chunk size {settings.IMPORT_CHUNK_SIZE:,}.", flush=True)

        engine: dict[str, list[EngineRun]] = {"empty": [], "same": [], "modified": [], "small": []}
        reference: dict[str, list[float]] = {"empty": [], "same": [], "modified": [], "raw copy": []}
        bulk: dict[str, list[float]] = {"empty": [], "update": []}
        checks: list[str] = []

        for repeat in range(1, args.repeat + 1):
            print(f"Repeat {repeat}/{args.repeat}", flush=True)

            def timed_engine(key: str, name: str, *, empty: bool) -> EngineRun:
                _empty_catalogue() if empty else _load_base(base)
                run = engine_run(stored_name=f"bench/{name}", user=user, worker=worker, recorder=recorder)
                engine[key].append(run)
                print(f"  engine    {key:<9} {run.seconds:7.2f} s  child peak {run.child_peak_mb:6.1f} MB  "
                      f"main peak {run.main_peak_mb:6.1f} MB  max event gap {run.max_event_gap:.2f} s  "
                      f"(created {run.created:,}, updated {run.updated:,}, unchanged {run.unchanged:,}, "
                      f"superseded {run.superseded:,})",
                      flush=True)
                return run

            def timed_reference(key: str, path: Path, *, empty: bool) -> None:
                _empty_catalogue() if empty else _load_base(base)
                seconds = reference_run(path=path)
                reference[key].append(seconds)
                print(f"  reference {key:<9} {seconds:7.2f} s", flush=True)

            # Engine and reference take turns going first, so a drift of the shared machine's
            # speed during a repeat does not always favour the same one.
            engine_first = repeat % 2 == 1
            timed_engine("small", "small.csv", empty=True)
            _empty_catalogue()
            raw = raw_copy_run(path=base)
            reference["raw copy"].append(raw)
            print(f"  raw COPY into an unlogged table {raw:7.2f} s", flush=True)
            sums: dict[str, tuple[int, int]] = {}
            for key, name, path, empty in (("empty", "base.csv", base, True), ("same", "base.csv", base, False),
                                           ("modified", "modified.csv", modified, False)):
                for side in ("engine", "reference") if engine_first else ("reference", "engine"):
                    if side == "engine":
                        timed_engine(key, name, empty=empty)
                    else:
                        timed_reference(key, path, empty=empty)
                    sums[f"{side} {key}"] = _catalogue_checksum()
            engine_base, reference_base = sums["engine empty"], sums["reference empty"]
            engine_modified, reference_modified = sums["engine modified"], sums["reference modified"]
            checks.append(
                "yes" if engine_base == reference_base and engine_modified == reference_modified
                and engine_base[0] == distinct else
                f"NO (engine {engine_base}/{engine_modified}, reference {reference_base}/{reference_modified})"
            )

            if repeat > args.bulk_repeat:
                continue
            _sql("TRUNCATE bench_bulk_product")
            seconds = bulk_create_run(path=base, rows=args.bulk_rows, model=bulk_model)
            bulk["empty"].append(seconds)
            seconds_update = bulk_create_run(path=base, rows=args.bulk_rows, model=bulk_model)
            bulk["update"].append(seconds_update)
            print(f"  bulk_create {args.bulk_rows:,} rows: empty {seconds:.2f} s, update {seconds_update:.2f} s",
                  flush=True)

        indexes = [row[0] for row in _sql(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'catalog_product' ORDER BY indexname")]
        storage = ", ".join(_catalogue_storage_options())
        _print_report(args=args, base=base, distinct=distinct, engine=engine, reference=reference,
                      bulk=bulk, checks=checks, indexes=indexes, storage=storage,
                      chunk_size=settings.IMPORT_CHUNK_SIZE)
        return 0 if all(check == "yes" for check in checks) else 1
    finally:
        if recorder is not None:
            recorder.close()
        if worker is not None:
            worker.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not even be set up; the drop below still runs
            pass
        _admin_execute(args, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
        if args.keep_files:
            print(f"Files kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _print_report(*, args, base: Path, distinct: int, engine, reference, bulk, checks, indexes,
                  storage: str, chunk_size: int) -> None:
    rows = args.rows
    line = "-" * 100
    print()
    print(line)
    print(f"Import benchmark: {rows:,} rows ({_mb(base)}, {distinct:,} distinct SKUs, "
          f"{rows - distinct:,} case-variant duplicates), chunk size {chunk_size:,}, "
          f"medians of {args.repeat} (min–max)")
    print(f"catalog_product indexes: {'; '.join(index.split(' USING ')[-1] for index in indexes)}; "
          f"storage: {storage or 'defaults'}")
    print(line)
    print(f"{'path':<32}{'engine s':>9}{'(min–max)':>13}{'reference s':>13}{'(min–max)':>13}"
          f"{'engine/ref':>12}{'paired':>9}{'engine rows/s':>15}{'ref rows/s':>12}")
    labels = {
        "empty": "into an empty table",
        "same": "same file again (update path)",
        "modified": "modified file (update path)",
    }
    for key, label in labels.items():
        e = [run.seconds for run in engine[key]]
        r = reference[key]
        me, mr = _median(e), _median(r)
        # Each repeat runs the two side by side: the median of their ratios cancels the drift of
        # a shared machine's speed between repeats.
        paired = _median([a / b for a, b in zip(e, r, strict=True)])
        paths = "/".join(sorted({run.path for run in engine[key]}))
        print(f"{label:<32}{me:9.2f}{_spread(e):>13}{mr:13.2f}{_spread(r):>13}{me / mr:11.2f}×"
              f"{paired:8.2f}×{rows / me:15,.0f}{rows / mr:12,.0f}  ({paths})")
    print("engine/ref: ratio of the medians; paired: median of each repeat's ratio. Targets: into an "
          "empty table ≤ 0.6× (bulk path); the update paths no slower than before the bulk path")
    raw = reference["raw copy"]
    empty = [run.seconds for run in engine["empty"]]
    print(f"raw COPY of the same file into an unlogged table, no index: {_median(raw):.2f} s "
          f"({_spread(raw) or 'one run'}); engine into an empty table / raw COPY: "
          f"{_median([a / b for a, b in zip(empty, raw, strict=True)]):.2f}× (paired)")
    phases = [run.phases for run in engine["empty"] if run.phases]
    if phases:
        names = list(dict.fromkeys(name for run in phases for name in run))
        parts = ", ".join(f"{name} {_median([run[name] for run in phases if name in run]):.2f} s"
                          for name in names)
        print(f"bulk load into an empty table, where the time goes (medians, the worker's log): {parts}; "
              f"the rest of the wall time is the queue, the job's start and its completion")
    print(line)
    all_runs = [run for runs in engine.values() for run in runs]
    small = engine["small"]
    big = engine["empty"] + engine["same"] + engine["modified"]
    print(f"worker peak RSS, pool child running the task: {rows:,} rows "
          f"{_median([r.child_peak_mb for r in big]):.1f} MB (max {max(r.child_peak_mb for r in big):.1f}); "
          f"{args.small_rows:,} rows {_median([r.child_peak_mb for r in small]):.1f} MB "
          f"(max {max(r.child_peak_mb for r in small):.1f}); idle before a job "
          f"{_median([r.child_idle_mb for r in all_runs]):.1f} MB   target ≤ 150 MB, flat")
    print(f"worker peak RSS, main process: {max(r.main_peak_mb for r in all_runs):.1f} MB (max over all runs)")
    gaps = [r.max_event_gap for r in all_runs]
    counting = [r.counting_seconds for r in engine["empty"]]
    print(f"longest interval between two job events (Redis pub/sub), any run: {max(gaps):.2f} s "
          f"(median of per-run maxima {_median(gaps):.2f} s); counting phase on {rows:,} rows "
          f"{_median(counting):.2f} s   target ≤ 2 s")
    print(f"attempts per job: {sorted({r.attempts for r in all_runs})}")
    print(line)
    n = args.bulk_rows

    def faster(runs: list[float], bulk_runs: list[float]) -> str:
        # Rows per second against bulk_create's, paired with the run of the same repeat (bulk_create
        # runs in the first --bulk-repeat repeats only): the machine's speed drifts between repeats.
        pairs = zip(runs, bulk_runs, strict=False)
        ratios = [(rows / seconds) / (n / bulk_seconds) for seconds, bulk_seconds in pairs]
        return f"{_median(ratios):.1f}×" + (f" ({_spread(ratios)})" if len(ratios) > 1 else "")

    be, bu = _median(bulk["empty"]), _median(bulk["update"])
    engine_empty = faster([run.seconds for run in engine["empty"]], bulk["empty"])
    engine_modified = faster([run.seconds for run in engine["modified"]], bulk["update"])
    print(f"Django bulk_create(update_conflicts=True), batches of 1000, {n:,} rows (median of "
          f"{len(bulk['empty'])}) into a scratch table with a real unique sku_lower column, the "
          "catalogue's other indexes and its count triggers; paired with the same repeat's runs:")
    print(f"  empty table {be:.2f} s ({n / be:,.0f} rows/s); engine into an empty table is "
          f"{engine_empty} faster, the bare reference {faster(reference['empty'], bulk['empty'])}")
    print(f"  update      {bu:.2f} s ({n / bu:,.0f} rows/s, every row rewritten); engine on the modified "
          f"file (every row rewritten) is {engine_modified} faster, the bare reference "
          f"{faster(reference['modified'], bulk['update'])}   target ≥ 5×")
    print(line)
    print(f"engine and reference give the same catalogue (count + checksum): {', '.join(checks)}")
    print(line)


if __name__ == "__main__":
    sys.exit(main())
