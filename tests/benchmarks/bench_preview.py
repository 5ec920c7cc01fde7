"""Preview benchmark: previewing a file against importing the same file, through a real worker.

Run it as ``python -m tests.benchmarks.bench_preview --rows 1000000 --repeat 3``. Like
``bench_import`` it creates a throw-away database (``pi_bench_<random>``), migrates it, and drops
it at the end.

On the generated CSV of ``bench_import`` (csvgen: ~5% case-variant duplicate SKUs, multi-line
descriptions, non-ASCII text), for each repeat and each path, side by side (alternating which goes
first):

- **import**: ``import_job_create`` executed by a real Celery worker; wall time from enqueue to the
  job's ``finished_at``;
- **preview**: the same with ``preview=True``; wall time from enqueue to the moment it is
  ``previewed`` (its last ``heartbeat_at``, written in that transition).

Paths: the base file into an empty catalogue, and a modified file (same SKUs, changed names) over
the freshly loaded base (every row would be updated). Each run starts from the same table (empty,
or the base loaded and ``VACUUM ANALYZE``d, then ``CHECKPOINT``). It checks that a preview leaves
the catalogue exactly as it was (count + checksum) and that its counts equal the import's on the
same starting table. Target: preview ≤ 0.6× the import's time.
"""

from __future__ import annotations

import argparse
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
    _catalogue_checksum,
    _configure_environment,
    _empty_catalogue,
    _load_base,
    _median,
    _spread,
)

COUNTS = ("create", "update", "unchanged", "superseded", "skipped")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians)")
    parser.add_argument("--database", default=f"{DB_PREFIX}_{uuid.uuid4().hex[:8]}",
                        help="throw-away database to create and drop (pi_bench…; must not exist)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    args = parser.parse_args(argv)
    if not args.database.startswith(DB_PREFIX):
        parser.error(f"--database must start with {DB_PREFIX!r}: this benchmark drops it at the end")
    args.chunk_size = None
    return args


def job_run(*, stored_name: str, user, preview: bool) -> tuple[float, dict]:
    """One import or preview through the worker: (seconds, counts)."""
    from importer.services import import_job_create
    from tests.support.jobs import wait_for_job

    started = time.time()
    job = import_job_create(
        owner=user, stored_name=stored_name, filename=Path(stored_name).name, preview=preview
    )
    target = "previewed" if preview else "completed"
    job = wait_for_job(job.pk, lambda j: j.status in (target, "failed", "cancelled"), what=target,
                       timeout=3600, interval=0.1)
    if job.status != target:
        raise RuntimeError(f"job {job.pk} ended {job.status}: {job.message}")
    ended = job.heartbeat_at if preview else job.finished_at
    counts = job.preview if preview else {
        "create": job.created_rows, "update": job.updated_rows, "unchanged": job.unchanged_rows,
        "superseded": job.superseded_rows, "skipped": job.skipped_rows,
    }
    return ended.timestamp() - started, counts


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="pi-bench-preview-"))
    _configure_environment(args, workdir)
    try:
        _admin_execute(args, "CREATE DATABASE {}")
    except Exception as exc:  # noqa: BLE001 - never drop a database this run did not create
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"Cannot create database {args.database!r} ({exc}). Pick another --database.", file=sys.stderr)
        return 2
    worker = None
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from tests.benchmarks.csvgen import generate_products_csv
        from tests.support.processes import start_worker

        call_command("migrate", verbosity=0)
        media = Path(settings.MEDIA_ROOT) / "bench"
        media.mkdir(parents=True)
        log_dir = workdir / "logs"
        log_dir.mkdir()
        print(f"Generating CSVs ({args.rows:,} rows)…", flush=True)
        base = generate_products_csv(media / "base.csv", args.rows)
        generate_products_csv(media / "modified.csv", args.rows, variant=" v2")
        user = get_user_model().objects.create_user(username="bench", password="bench-only-42")
        worker = start_worker(log_dir=log_dir, concurrency=1, beat=False)
        print(f"Worker pid {worker.pid} started; chunk size {settings.IMPORT_CHUNK_SIZE:,}.", flush=True)

        times: dict[tuple[str, str], list[float]] = {}
        checks: list[str] = []
        paths = (("empty", "base.csv", True), ("modified", "modified.csv", False))
        for repeat in range(1, args.repeat + 1):
            print(f"Repeat {repeat}/{args.repeat}", flush=True)
            for key, name, empty in paths:
                counts: dict[str, dict] = {}
                order = ("preview", "import") if repeat % 2 else ("import", "preview")
                for side in order:
                    _empty_catalogue() if empty else _load_base(base)
                    before = _catalogue_checksum()
                    seconds, counts[side] = job_run(stored_name=f"bench/{name}", user=user,
                                                    preview=side == "preview")
                    if side == "preview" and _catalogue_checksum() != before:
                        checks.append(f"NO: the preview of {name} changed the catalogue")
                    times.setdefault((key, side), []).append(seconds)
                    print(f"  {side:<8} {key:<9} {seconds:7.2f} s  {counts[side]}", flush=True)
                checks.append("yes" if counts["preview"] == counts["import"] else
                              f"NO ({key}: preview {counts['preview']} import {counts['import']})")
        line = "-" * 96
        print()
        print(line)
        print(f"Preview benchmark: {args.rows:,} rows ({base.stat().st_size / 2**20:.1f} MB), chunk size "
              f"{settings.IMPORT_CHUNK_SIZE:,}, medians of {args.repeat} (min–max), real worker")
        print(line)
        print(f"{'path':<34}{'import s':>9}{'(min–max)':>13}{'preview s':>11}{'(min–max)':>13}"
              f"{'preview/import':>16}{'paired':>9}")
        labels = {"empty": "into an empty catalogue", "modified": "modified file over the base"}
        for key, label in labels.items():
            imp, pre = times[(key, "import")], times[(key, "preview")]
            paired = _median([p / i for p, i in zip(pre, imp, strict=True)])
            print(f"{label:<34}{_median(imp):9.2f}{_spread(imp):>13}{_median(pre):11.2f}{_spread(pre):>13}"
                  f"{_median(pre) / _median(imp):15.2f}×{paired:8.2f}×")
        print("target: preview ≤ 0.6× the import of the same file")
        print(f"preview leaves the catalogue unchanged and counts what the import does: {', '.join(checks)}")
        print(line)
        return 0 if all(check == "yes" for check in checks) else 1
    finally:
        if worker is not None:
            worker.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not even be set up; the drop below still runs
            pass
        _admin_execute(args, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
