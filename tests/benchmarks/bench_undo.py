"""Undo benchmark: what recording undo data costs an import, and what an undo costs, through a real worker.

Run it as ``python -m tests.benchmarks.bench_undo --rows 1000000 --repeat 2``. Like ``bench_import``
it creates a throw-away database (``pi_bench_<random>``), migrates it, and drops it at the end.

On the generated CSV of ``bench_import`` (csvgen: ~5% case-variant duplicate SKUs, multi-line
descriptions, non-ASCII text), for each repeat and each path, back to back (alternating which goes
first), wall time from enqueue to the job's ``finished_at``:

- **today's engine**: the import with ``IMPORT_UNDO_DAYS=0``, which records no undo data: the
  merge statement is then main's, byte for byte but for ``RETURNING p.id``;
- **with undo data**: the same import with undo on (the default), in a worker started with it;
- **undo**: right after the import with undo data, the undo of it (``import_job_undo``), in the
  same worker, compared with that import's time.

Paths: the base file into an empty catalogue (the undo deletes every product), and a modified
file (same SKUs, changed names) over the freshly loaded base (the undo restores every product).
Each run starts from the same table (empty, or the base loaded and ``VACUUM ANALYZE``d, then
``CHECKPOINT``). Checks: the undo leaves the catalogue exactly as before the import (count and a
checksum over sku, name, description, is_active, created_at and updated_at).
Targets: undo data ≤ 1.15× into an empty table, ≤ 1.3× on the modified path; undo ≤ 1.0× its import.

``--statements`` also measures the merge statement alone, paired per chunk, which a busy machine
disturbs much less than whole imports: each 25,000-row chunk of the file is staged, then merged
with and without undo data (alternating which goes first), each in a transaction that is rolled
back, so both meet exactly the same table — empty, or the base loaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.benchmarks.bench_import import (
    DB_PREFIX,
    ROOT,
    _admin_execute,
    _configure_environment,
    _load_base,
    _median,
    _spread,
    _sql,
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the file")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each measurement (medians)")
    parser.add_argument("--database", default=f"{DB_PREFIX}_{uuid.uuid4().hex[:8]}",
                        help="throw-away database to create and drop (pi_bench…; must not exist)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--statements", action="store_true",
                        help="also time the merge statement alone, with and without undo data, paired per chunk")
    parser.add_argument("--statements-only", action="store_true", help="only that (no worker runs)")
    args = parser.parse_args(argv)
    if not args.database.startswith(DB_PREFIX):
        parser.error(f"--database must start with {DB_PREFIX!r}: this benchmark drops it at the end")
    args.chunk_size = None
    return args


def _checksum() -> tuple[int, int]:
    """Every column an undo must put back (not only the ones an import writes)."""
    count, digest = _sql(
        "SELECT count(*), coalesce(sum(hashtextextended(id || '|' || sku || '|' || name || '|' || "
        "description || '|' || is_active || '|' || created_at || '|' || updated_at, 0)), 0) "
        "FROM catalog_product"
    )[0]
    return int(count), int(digest)


def _fresh_start(*, base: Path | None) -> None:
    _sql("TRUNCATE importer_productbeforeimage, importer_createdproducts")
    if base is None:
        _sql("TRUNCATE catalog_product")
        _sql("CHECKPOINT")
    else:
        _load_base(base)


def _wait(job_id: int) -> float:
    from importer.models import ImportJob
    from tests.support.jobs import wait_for_job

    job = wait_for_job(job_id, lambda j: j.is_finished, what="finished", timeout=3600, interval=0.1)
    if job.status != "completed":
        raise RuntimeError(f"job {job.pk} ({job.kind}) ended {job.status}: {job.message}")
    return ImportJob.objects.get(pk=job_id).finished_at.timestamp()


def import_run(*, stored_name: str, user):
    from importer.models import ImportJob
    from importer.services import import_job_create

    started = time.time()
    job = import_job_create(owner=user, stored_name=stored_name, filename=Path(stored_name).name)
    seconds = _wait(job.pk) - started
    return seconds, ImportJob.objects.get(pk=job.pk)


def undo_run(*, job, user) -> tuple[float, object]:
    from importer.models import ImportJob
    from importer.undo import import_job_undo

    started = time.time()
    undo = import_job_undo(job=job, owner=user)
    seconds = _wait(undo.pk) - started
    return seconds, ImportJob.objects.get(pk=undo.pk)


def statements_run(*, path: Path, job_id: int, chunk_rows: int = 25_000) -> list[tuple[float, float]]:
    """(seconds with undo data, seconds without) of the merge statement, for each chunk of ``path``."""
    import csv

    from django.db import transaction

    from importer.pipeline.staging import DeferredRows, StagedRows, merge_chunk

    pairs: list[tuple[float, float]] = []
    deferred = DeferredRows(job_id=job_id)

    def timed(staged: StagedRows, undo: bool) -> float:
        with transaction.atomic():
            started = time.perf_counter()
            merge_chunk(staged, deferred=deferred, record_undo=undo)
            seconds = time.perf_counter() - started
            transaction.set_rollback(True)
        return seconds

    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        staged, line = StagedRows(), 1
        for sku, name, description in reader:
            line += 1
            staged.add(line, sku.strip(), name.strip(), description, None, False)
            if len(staged) < chunk_rows:
                continue
            staged.seal()
            first = len(pairs) % 2 == 0
            times = {first: timed(staged, first), not first: timed(staged, not first)}
            pairs.append((times[True], times[False]))
            staged = StagedRows()
    return pairs


def _statements_report(results: dict[str, list[tuple[float, float]]]) -> None:
    print(f"{'merge statement, paired per chunk':<34}{'chunks':>7}{'today s':>10}{'undo data s':>13}"
          f"{'ratio of sums':>15}{'median ratio':>14}")
    for key, pairs in results.items():
        with_undo, today = sum(p[0] for p in pairs), sum(p[1] for p in pairs)
        print(f"{key:<34}{len(pairs):>7}{today:10.2f}{with_undo:13.2f}{with_undo / today:14.2f}×"
              f"{_median([u / t for u, t in pairs]):13.2f}×")


class Workers:
    """One worker at a time, started with undo on or off (a setting read when it starts)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir, self.current, self.undo_on = log_dir, None, None

    def use(self, *, undo_on: bool) -> None:
        from tests.support.processes import start_worker

        if self.current is not None and self.undo_on == undo_on:
            return
        self.stop()
        self.current = start_worker(log_dir=self.log_dir, concurrency=1, beat=False,
                                    IMPORT_UNDO_DAYS="7" if undo_on else "0")
        self.undo_on = undo_on

    def stop(self) -> None:
        if self.current is not None:
            self.current.stop()
            self.current = None


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="pi-bench-undo-"))
    _configure_environment(args, workdir)
    try:
        _admin_execute(args, "CREATE DATABASE {}")
    except Exception as exc:  # noqa: BLE001 - never drop a database this run did not create
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"Cannot create database {args.database!r} ({exc}). Pick another --database.", file=sys.stderr)
        return 2
    log_dir = workdir / "logs"
    log_dir.mkdir()
    workers = Workers(log_dir)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from tests.benchmarks.csvgen import generate_products_csv

        call_command("migrate", verbosity=0)
        media = Path(settings.MEDIA_ROOT) / "bench"
        media.mkdir(parents=True)
        print(f"Generating CSVs ({args.rows:,} rows)…", flush=True)
        base = generate_products_csv(media / "base.csv", args.rows)
        generate_products_csv(media / "modified.csv", args.rows, variant=" v2")
        user = get_user_model().objects.create_user(username="bench", password="bench-only-42")

        times: dict[tuple[str, str], list[float]] = {}
        checks: list[str] = []
        paths = (("empty", "base.csv", None), ("modified", "modified.csv", base))
        statements: dict[str, list[tuple[float, float]]] = {}
        if args.statements or args.statements_only:
            from importer.models import ImportJob

            owner = ImportJob.objects.create(filename="statements", status="processing")
            for key, name, start in paths:
                _fresh_start(base=start)
                print(f"Merge statements, {key} (load average {os.getloadavg()[0]:.2f})…", flush=True)
                statements[key] = statements_run(path=media / name, job_id=owner.pk)
            if args.statements_only:
                _statements_report(statements)
                return 0
        for repeat in range(1, args.repeat + 1):
            print(f"Repeat {repeat}/{args.repeat}  (load average {os.getloadavg()[0]:.2f})", flush=True)
            for key, name, start in paths:
                order = (False, True) if repeat % 2 else (True, False)
                for undo_on in order:
                    workers.use(undo_on=undo_on)
                    _fresh_start(base=start)
                    before = _checksum()
                    seconds, job = import_run(stored_name=f"bench/{name}", user=user)
                    side = "with undo data" if undo_on else "today's engine"
                    times.setdefault((key, side), []).append(seconds)
                    print(f"  {side:<15} {key:<9} {seconds:7.2f} s  created {job.created_rows:,} "
                          f"updated {job.updated_rows:,}", flush=True)
                    if not undo_on:
                        continue
                    times.setdefault((key, "import before undo"), []).append(seconds)
                    undo_seconds, undo = undo_run(job=job, user=user)
                    times.setdefault((key, "undo"), []).append(undo_seconds)
                    exact = _checksum() == before
                    checks.append("yes" if exact and not undo.conflict_rows else
                                  f"NO ({key}: exact {exact}, conflicts {undo.conflict_rows})")
                    print(f"  {'undo':<15} {key:<9} {undo_seconds:7.2f} s  deleted {undo.deleted_rows:,} "
                          f"restored {undo.restored_rows:,} ({undo_seconds / seconds:.2f}× its import)",
                          flush=True)
        _report(args, base, settings, times, checks)
        if statements:
            _statements_report(statements)
        return 0 if all(check == "yes" for check in checks) else 1
    finally:
        workers.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not even be set up; the drop below still runs
            pass
        _admin_execute(args, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def _report(args, base: Path, settings, times, checks) -> None:
    line = "-" * 100
    print()
    print(line)
    print(f"Undo benchmark: {args.rows:,} rows ({base.stat().st_size / 2**20:.1f} MB), chunk size "
          f"{settings.IMPORT_CHUNK_SIZE:,}, medians of {args.repeat} (min–max), real worker, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(line)
    print(f"{'path':<30}{'today s':>9}{'(min–max)':>13}{'undo data s':>13}{'(min–max)':>13}{'ratio':>8}"
          f"{'undo s':>9}{'(min–max)':>13}{'undo/import':>13}")
    labels = {"empty": "into an empty catalogue", "modified": "modified file over the base"}
    for key, label in labels.items():
        today, with_undo = times[(key, "today's engine")], times[(key, "with undo data")]
        undo, own = times[(key, "undo")], times[(key, "import before undo")]
        paired = _median([u / i for u, i in zip(undo, own, strict=True)])
        print(f"{label:<30}{_median(today):9.2f}{_spread(today):>13}{_median(with_undo):13.2f}"
              f"{_spread(with_undo):>13}{_median(with_undo) / _median(today):7.2f}×"
              f"{_median(undo):9.2f}{_spread(undo):>13}{paired:12.2f}×")
    print("targets: undo data ≤ 1.15× (empty), ≤ 1.3× (modified); undo ≤ 1.0× its import")
    print(f"the undo left the catalogue exactly as before the import: {', '.join(checks)}")
    print(line)


if __name__ == "__main__":
    sys.exit(main())
