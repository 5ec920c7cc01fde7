"""Storage benchmark: the same import read from object storage (S3 API, moto) and from local disk.

Run it as ``python -m tests.benchmarks.bench_storage --rows 1000000 --repeat 2``. Like
bench_import it creates a throw-away database (``pi_bench_<random>``), migrates it and drops it at
the end, and it starts its own ``moto_server`` on a free loopback port (stopped at the end).

For each repeat, on one generated CSV (csvgen), into an empty catalogue each time:

1. **local**: a Celery worker started with ``FILE_STORAGE=local`` imports the file from its
   MEDIA_ROOT;
2. **s3**: a worker started with ``FILE_STORAGE=s3`` imports the same file from the bucket, read in
   ranges (importer/s3_storage.py).

The two sides alternate which goes first. Each worker is a real one (concurrency 1, production
chunk size); the wall time runs from enqueue to the job's ``finished_at``, and the pool child
running the import is sampled every 50 ms for its peak RSS (the engine's target: 150 MB). Both
catalogues are checked to be the same. moto keeps objects in its own memory and answers on
loopback, so the S3 side measures this project's reading path (requests, ranges, botocore's CPU),
not a network: against a real service, add its latency per 8 MiB range.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from tests.benchmarks.bench_import import (
    DB_PREFIX,
    ROOT,
    EventRecorder,
    _admin_execute,
    _catalogue_checksum,
    _configure_environment,
    _empty_catalogue,
    engine_run,
)

# The engine's memory target for a worker's pool child (README: "Memory").
CHILD_TARGET_MB = 150


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the file")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each side (medians)")
    parser.add_argument("--database", default=f"{DB_PREFIX}_{uuid.uuid4().hex[:8]}",
                        help="throw-away database to create and drop (pi_bench…; must not exist)")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--chunk-size", type=int, default=None, help="IMPORT_CHUNK_SIZE for the workers")
    args = parser.parse_args(argv)
    if not args.database.startswith(DB_PREFIX):
        parser.error(f"--database must start with {DB_PREFIX!r}: this benchmark drops it at the end")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    sys.path.insert(0, str(ROOT))
    workdir = Path(tempfile.mkdtemp(prefix="pi-bench-storage-"))
    _configure_environment(args, workdir)
    try:
        _admin_execute(args, "CREATE DATABASE {}")
    except Exception as exc:  # noqa: BLE001 - never drop a database this run did not create
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"Cannot create database {args.database!r} ({exc}). Pick another --database.", file=sys.stderr)
        return 2
    recorder = None
    try:
        import django

        django.setup()
        import psutil
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.core.files import File
        from django.core.management import call_command
        from django.test.utils import override_settings

        from tests.benchmarks.csvgen import generate_products_csv
        from tests.support.object_storage import running_s3_server, storage_environment
        from tests.support.processes import start_worker

        call_command("migrate", verbosity=0)
        log_dir = workdir / "logs"
        log_dir.mkdir()
        media = Path(settings.MEDIA_ROOT) / "bench"
        media.mkdir(parents=True)
        print(f"Generating the CSV ({args.rows:,} rows)…", flush=True)
        path = generate_products_csv(media / "base.csv", args.rows)
        size_mb = path.stat().st_size / 2**20
        user = get_user_model().objects.create_user(username="bench", password="bench-only-42")
        recorder = EventRecorder()

        with running_s3_server(log_dir) as s3:
            s3_default = s3.storage_settings(location="bench")
            with override_settings(STORAGES={**settings.STORAGES, "default": s3_default}):
                from django.core.files.storage import default_storage

                started = time.perf_counter()
                with path.open("rb") as handle:
                    default_storage.save("bench/base.csv", File(handle, name="base.csv"))
                upload_seconds = time.perf_counter() - started
            print(f"  stored in the bucket in {upload_seconds:.1f} s ({size_mb:.0f} MB)", flush=True)

            sides = {
                "local": {"FILE_STORAGE": "local"},
                "s3": storage_environment(s3_default),
            }
            runs: dict[str, list] = {"local": [], "s3": []}
            # moto serves a range by copying the whole object, then slicing it (moto/s3/responses.py,
            # _handle_range_header): its CPU, on the same cores as the import, is counted apart.
            moto = psutil.Process(s3.pid)
            moto_cpu: list[float] = []
            sums: dict[str, tuple[int, int]] = {}
            for repeat in range(1, args.repeat + 1):
                order = ("local", "s3") if repeat % 2 else ("s3", "local")
                print(f"Repeat {repeat}/{args.repeat} ({' then '.join(order)})", flush=True)
                for side in order:
                    worker = start_worker(log_dir=log_dir, concurrency=1, beat=False, **sides[side])
                    try:
                        _empty_catalogue()
                        default = s3_default if side == "s3" else settings.STORAGES["default"]
                        moto_before = moto.cpu_times()
                        with override_settings(STORAGES={**settings.STORAGES, "default": default}):
                            run = engine_run(stored_name="bench/base.csv", user=user, worker=worker,
                                             recorder=recorder)
                        moto_after = moto.cpu_times()
                        sums[side] = _catalogue_checksum()
                    finally:
                        worker.stop()
                    runs[side].append(run)
                    moto_seconds = sum(moto_after[:2]) - sum(moto_before[:2])  # user + system
                    if side == "s3":
                        moto_cpu.append(moto_seconds)
                    print(f"  {side:<5} {run.seconds:7.2f} s  child peak {run.child_peak_mb:6.1f} MB  "
                          f"(idle {run.child_idle_mb:5.1f} MB)  main peak {run.main_peak_mb:6.1f} MB  "
                          f"max event gap {run.max_event_gap:.2f} s  moto CPU {moto_seconds:5.1f} s",
                          flush=True)
                if sums["local"] != sums["s3"]:
                    print(f"Catalogues differ: local {sums['local']}, s3 {sums['s3']}", file=sys.stderr)
                    return 1

        def median(side: str, attribute: str) -> float:
            return statistics.median(getattr(run, attribute) for run in runs[side])

        line = "-" * 96
        print()
        print(line)
        print(f"Storage benchmark: {args.rows:,} rows ({size_mb:.0f} MB), chunk size "
              f"{settings.IMPORT_CHUNK_SIZE:,}, medians of {args.repeat}; load average "
              f"{' '.join(f'{value:.1f}' for value in os.getloadavg())}")
        print(line)
        print(f"{'side':<8}{'import s':>10}{'(min-max)':>16}{'rows/s':>10}{'child peak MB':>15}"
              f"{'(max)':>8}{'child idle MB':>15}{'main peak MB':>14}")
        for side in ("local", "s3"):
            seconds = [run.seconds for run in runs[side]]
            peaks = [run.child_peak_mb for run in runs[side]]
            spread = f"({min(seconds):.1f}-{max(seconds):.1f})"
            print(f"{side:<8}{median(side, 'seconds'):>10.2f}{spread:>16}"
                  f"{args.rows / median(side, 'seconds'):>10,.0f}{median(side, 'child_peak_mb'):>15.1f}"
                  f"{max(peaks):>8.1f}{median(side, 'child_idle_mb'):>15.1f}"
                  f"{median(side, 'main_peak_mb'):>14.1f}")
        ratio = median("s3", "seconds") / median("local", "seconds")
        paired = statistics.median(s.seconds / local.seconds for s, local in zip(runs["s3"], runs["local"],
                                                                                strict=True))
        peak = max(run.child_peak_mb for run in runs["s3"])
        print(line)
        print(f"moto_server's CPU during an s3 import: median {statistics.median(moto_cpu):.1f} s (a real S3 "
              "service spends none of this machine's cores)")
        print(f"s3 / local time: {ratio:.2f}x (paired median {paired:.2f}x); s3 child peak {peak:.1f} MB "
              f"(target {CHILD_TARGET_MB} MB: {'met' if peak <= CHILD_TARGET_MB else 'NOT met'}); "
              f"catalogues equal: yes")
        return 0 if peak <= CHILD_TARGET_MB else 1
    finally:
        if recorder is not None:
            recorder.close()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not even be set up; the drop below still runs
            pass
        _admin_execute(args, "DROP DATABASE IF EXISTS {} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
