"""Load benchmark: the list API and 200 SSE subscribers, idle and while a big import runs.

    python -m tests.benchmarks.bench_load --database pi_bench_list_h8 --rows 300000

Issue 5 ("Load"): with 1,000,000 products and an import running, the list API and 200 SSE
subscribers keep working — p95 stays within 3× its idle figure.

It needs an existing catalogue database (``pi_bench…``, migrated and loaded), such as the one
``python -m tests.benchmarks.bench_list --database pi_bench_list_h8 --keep-database`` leaves
behind; it never creates or drops a database. One daphne (pooled connections, production
settings) and one Celery worker (concurrency 1, no beat) serve that database; everything runs
over loopback, and both processes are stopped at the end.

The same measurements run twice, in one process:

- **idle**: 200 token-authenticated subscribers open ``GET /api/imports/{id}/events/`` on a
  placeholder job the benchmark marks ``processing``; then ``wrk`` (bench_list's helpers, 20
  clients) loads the first page unfiltered and then ``is_active=false`` for ``--seconds`` each,
  while this process publishes ``--events`` probe states to the job's channel through
  ``importer.events.import_job_publish``, spread over the wrk window, each carrying its publish
  time (bench_sse's subscribers measure receive − publish).
- **loaded**: a generated CSV of ``--rows`` rows (csvgen; the same SKUs as the catalogue's
  first rows, names changed, so every row updates an existing product and the catalogue keeps
  its size) is imported through ``import_job_create`` and the worker; once it is past counting,
  the 200 subscribers open the import's own channel (so its real progress events count too) and
  the same wrk runs and probes follow. Real progress events are timed from their appearance on
  Redis (bench_import's ``EventRecorder``) to each subscriber.

Then it checks that the import completed correctly: status ``completed``, no errors, the row
counts add up, the product count is unchanged and every distinct SKU of the file carries the
file's new name. It leaves the updated names behind (later runs use a new suffix) and deletes its
two job rows.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks import bench_list

# bench_sse points os.environ at its own database when imported; keep ours (set later) intact.
_saved_environ = dict(os.environ)
from tests.benchmarks import bench_sse  # noqa: E402

os.environ.clear()
os.environ.update(_saved_environ)

SCENARIOS = [
    ("first page, unfiltered", "/api/products/"),
    ("first page, is_active=false", "/api/products/?is_active=false"),
]
RATIO_LIMIT = 3.0
OPEN_AT_ONCE = 50  # as bench_sse: the listen backlog is small, and a real crowd arrives over time


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", default="pi_bench_list_h8",
                        help="existing, loaded catalogue database (pi_bench…); never dropped")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database name")
    parser.add_argument("--rows", type=int, default=300_000, help="rows of the imported CSV")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per list scenario")
    parser.add_argument("--connections", type=int, default=20, help="concurrent list clients")
    parser.add_argument("--subscribers", type=int, default=200, help="SSE subscribers")
    parser.add_argument("--events", type=int, default=40, help="probe events published per phase")
    args = parser.parse_args(argv)
    if not args.database.startswith(bench_list.DB_PREFIX):
        parser.error(f"--database must start with {bench_list.DB_PREFIX!r}")
    if not shutil.which("wrk"):
        parser.error("needs wrk (Debian: apt-get install wrk)")
    return args


def _configure_environment(args: argparse.Namespace, workdir: Path, run_id: str) -> None:
    bench_list._configure_environment(args, workdir)
    # Our own queue and namespace: no other worker takes the import, and we count only our events.
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = f"product-import-bench-load-{run_id}"
    os.environ["EVENTS_NAMESPACE"] = f"bench-load-{run_id}"
    os.environ["DATABASE_POOL"] = "false"  # this process; daphne gets its pool from start_daphne
    os.environ.setdefault("LOG_LEVEL", "WARNING")


# --- Subscribers and probes ----------------------------------------------------------------------


def _event_key(payload: dict) -> str:
    return json.dumps(payload, sort_keys=True)


class LoadSubscriber(bench_sse.Subscriber):
    """bench_sse's subscriber that also notes when each real (non-probe) job event arrived."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.real: dict[str, float] = {}

    def on_job(self, payload: dict) -> None:
        super().on_job(payload)
        if "bench" not in payload:
            self.real.setdefault(_event_key(payload), time.time())


def _publish_probes(job_id: int, *, count: int, interval: float) -> None:
    """Publish ``count`` snapshots of the job, ``interval`` apart, each with its publish time."""
    from django.db import connection

    from importer.events import import_job_publish
    from importer.models import ImportJob
    from importer.serializers import import_job_payload

    try:
        for seq in range(count):
            time.sleep(interval)
            # The job's real current state: a probe shows clients nothing that is not true.
            payload = import_job_payload(ImportJob.objects.get(pk=job_id))
            payload["bench"] = {"seq": seq, "at": time.time()}
            import_job_publish(payload)
    finally:
        connection.close()


# --- One phase -----------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    wrk: dict[str, dict] = field(default_factory=dict)
    opened: int = 0
    open_seconds: float = 0.0
    probe_latencies: list[float] = field(default_factory=list)
    probes_lost: int = 0
    real_events: int = 0
    real_latencies: list[float] = field(default_factory=list)
    real_lost: int = 0
    ended: int = 0
    errors: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)


async def run_phase(*, name: str, base: str, token: str, job_id: int, args: argparse.Namespace,
                    script: Path, recorder, finish) -> Phase:
    """Open the subscribers on ``job_id``'s channel, run wrk and the probes, then ``finish()``.

    ``finish`` (a blocking callable, run in a thread) must bring the job to an end, so that every
    stream ends by itself; the subscribers stay open until then.
    """
    import aiohttp

    from importer.events import import_job_channel

    phase = Phase(name=name)
    channel = import_job_channel(job_id)
    headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
    url = f"{base}/api/imports/{job_id}/events/"
    open_slots = asyncio.Semaphore(OPEN_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                     timeout=timeout) as session:
        subscribers = [LoadSubscriber(i) for i in range(args.subscribers)]
        started = time.monotonic()
        tasks = [asyncio.create_task(s.run(session, url, headers, open_slots)) for s in subscribers]
        try:
            async with asyncio.timeout(120):
                await asyncio.gather(*(s.opened.wait() for s in subscribers))
        except TimeoutError:
            phase.errors.append("not every stream opened within 120 s")
        phase.open_seconds = time.monotonic() - started
        phase.opened = sum(1 for s in subscribers if s.opened.is_set() and not s.error)
        opened_at = time.time()

        async def list_load() -> None:
            for label, path in SCENARIOS:
                phase.wrk[label] = await asyncio.to_thread(bench_list._run_wrk, base, path, script, args)
                print(f"  {name}: {label}: p95 {phase.wrk[label]['p95'] / 1000:.0f} ms", flush=True)

        window = len(SCENARIOS) * args.seconds
        window_start = time.time()
        await asyncio.gather(
            list_load(),
            asyncio.to_thread(_publish_probes, job_id, count=args.events, interval=window / (args.events + 1)),
        )
        phase.window = (window_start, time.time())
        await asyncio.sleep(2)  # the last probe's deliveries

        await asyncio.to_thread(finish)
        try:
            async with asyncio.timeout(60):
                await asyncio.gather(*tasks)
        except TimeoutError:
            phase.errors.append("some streams did not end within 60 s of the job finishing")
            for task in tasks:
                task.cancel()
    await asyncio.sleep(0.5)  # the recorder thread's last messages

    # Real events: those that reached Redis after every stream was open, each expected by everyone.
    real = [(at, _event_key(data)) for at, data in recorder.events.get(channel, [])
            if "bench" not in data and at > opened_at]
    phase.real_events = len(real)
    for s in subscribers:
        phase.probe_latencies.extend(s.received.values())
        phase.probes_lost += sum(1 for seq in range(args.events) if seq not in s.received)
        for at, key in real:
            if key in s.real:
                phase.real_latencies.append(s.real[key] - at)
            else:
                phase.real_lost += 1
        phase.ended += s.ended
        if s.error:
            phase.errors.append(s.error)
    return phase


# --- Jobs ----------------------------------------------------------------------------------------


def _placeholder_job(owner):
    """A job that looks like a running import, for the idle phase's subscribers to follow."""
    from importer.models import ImportJob
    from importer.states import ImportPhase, ImportStatus

    return ImportJob.objects.create(owner=owner, filename="bench-load-idle.csv", status=ImportStatus.PROCESSING,
                                    phase=ImportPhase.IMPORTING, total_rows=1000, message="Benchmark placeholder.")


def _finish_placeholder(job_id: int) -> None:
    from django.db import connection

    from importer.events import import_job_publish
    from importer.models import ImportJob
    from importer.serializers import import_job_payload
    from importer.states import ImportStatus

    try:
        job = ImportJob.objects.get(pk=job_id)
        job.status, job.progress = ImportStatus.COMPLETED, 100
        job.save()
        import_job_publish(import_job_payload(job))
    finally:
        connection.close()


def _wait_for_job(job_id: int, *, until, what: str, timeout: float):
    """``wait_for_job``, then close this thread's database connection (``finish`` runs in a thread)."""
    from django.db import connection

    from tests.support.jobs import wait_for_job

    try:
        return wait_for_job(job_id, until, what=what, timeout=timeout, interval=0.1)
    finally:
        connection.close()


def _scalar(sql: str, params: list | None = None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()[0]


# --- Report --------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:.1f}"


def _report(idle: Phase, loaded: Phase, args: argparse.Namespace, import_lines: list[str]) -> bool:
    pct = bench_sse.percentile
    rows: list[tuple[str, str, str, str, str]] = []  # label, idle, loaded, ratio, verdict
    within = True

    def compare(label: str, a: float, b: float, *, judged: bool) -> None:
        nonlocal within
        ratio = b / a if a else float("nan")
        verdict = ""
        if judged:
            ok = ratio <= RATIO_LIMIT
            within &= ok
            verdict = "yes" if ok else "NO"
        rows.append((label, _ms(a), _ms(b), f"×{ratio:.2f}", verdict))

    for label, _ in SCENARIOS:
        a, b = idle.wrk[label], loaded.wrk[label]
        rows.append((f"list {label}: req/s", f"{a['requests'] / a['seconds']:.0f}",
                     f"{b['requests'] / b['seconds']:.0f}", "", ""))
        compare(f"list {label}: p50 ms", a["p50"] / 1000, b["p50"] / 1000, judged=False)
        compare(f"list {label}: p95 ms", a["p95"] / 1000, b["p95"] / 1000, judged=True)
        compare(f"list {label}: p99 ms", a["p99"] / 1000, b["p99"] / 1000, judged=False)
        rows.append((f"list {label}: non-2xx / socket errors", f"{a['non2xx']} / {a['errors']}",
                     f"{b['non2xx']} / {b['errors']}", "", ""))
    n = args.subscribers
    rows.append(("SSE streams opened", f"{idle.opened}/{n}", f"{loaded.opened}/{n}", "", ""))
    rows.append(("SSE time to open all (s)", f"{idle.open_seconds:.1f}", f"{loaded.open_seconds:.1f}", "", ""))
    compare("SSE probe delivery p50 ms", pct(idle.probe_latencies, 0.5) * 1000,
            pct(loaded.probe_latencies, 0.5) * 1000, judged=False)
    compare("SSE probe delivery p95 ms", pct(idle.probe_latencies, 0.95) * 1000,
            pct(loaded.probe_latencies, 0.95) * 1000, judged=True)
    compare("SSE probe delivery max ms", max(idle.probe_latencies, default=float("nan")) * 1000,
            max(loaded.probe_latencies, default=float("nan")) * 1000, judged=False)
    rows.append(("SSE probe deliveries / lost", f"{len(idle.probe_latencies)} / {idle.probes_lost}",
                 f"{len(loaded.probe_latencies)} / {loaded.probes_lost}", "", ""))
    rows.append(("SSE real progress events (after open)", str(idle.real_events), str(loaded.real_events), "", ""))
    rows.append(("SSE real events: Redis→client p50 ms", "-",
                 _ms(pct(loaded.real_latencies, 0.5) * 1000), "", ""))
    rows.append(("SSE real events: Redis→client p95 ms", "-",
                 _ms(pct(loaded.real_latencies, 0.95) * 1000), "", ""))
    rows.append(("SSE real event deliveries / lost", f"{len(idle.real_latencies)} / {idle.real_lost}",
                 f"{len(loaded.real_latencies)} / {loaded.real_lost}", "", ""))
    rows.append(("SSE streams ended by server", f"{idle.ended}/{n}", f"{loaded.ended}/{n}", "", ""))
    rows.append(("SSE client errors", bench_sse.summarize_errors(idle.errors),
                 bench_sse.summarize_errors(loaded.errors), "", ""))

    width = max(len(r[0]) for r in rows) + 2
    print()
    print(f"{'':{width}}{'idle':>14}{'loaded':>14}{'ratio':>9}  p95 ≤ {RATIO_LIMIT:g}× idle")
    print("-" * (width + 14 + 14 + 9 + 18))
    for label, a, b, ratio, verdict in rows:
        print(f"{label:{width}}{a:>14}{b:>14}{ratio:>9}  {verdict}")
    print()
    for line in import_lines:
        print(line)
    failures = (sum(p.wrk[label]["non2xx"] + p.wrk[label]["errors"] for p in (idle, loaded) for label, _ in SCENARIOS)
                + sum(len(p.errors) + p.probes_lost + p.real_lost + (n - p.ended) for p in (idle, loaded)))
    print(f"\n{args.connections} wrk clients, {args.seconds} s per list scenario; {n} subscribers; "
          f"{args.events} probes per phase spread over the wrk window; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared machine: read ratios, not absolutes).")
    print(f"p95 within {RATIO_LIMIT:g}× idle on every judged row: {'yes' if within else 'NO'}; "
          f"errors, losses and unended streams: {failures}")
    return within and not failures


# --- Main ----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    run_id = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    _configure_environment(args, workdir, run_id)
    if not bench_list._database_exists(args):
        print(f"Database {args.database!r} does not exist. Load one first: python -m "
              f"tests.benchmarks.bench_list --database {args.database} --keep-database", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.subscribers + 1024))
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # daphne inherits it

    server = worker = recorder = None
    job_ids: list[int] = []
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model
        from django.db import connection

        from importer.models import ImportJob
        from importer.services import import_job_create
        from importer.states import ImportPhase
        from tests.benchmarks.bench_import import EventRecorder
        from tests.benchmarks.csvgen import generate_products_csv
        from tests.support.processes import start_daphne, start_worker

        products = _scalar("SELECT count(*) FROM catalog_product")
        inactive = _scalar("SELECT count(*) FROM catalog_product WHERE NOT is_active")
        if not products:
            print(f"Database {args.database!r} has no products: load it with bench_list first.", file=sys.stderr)
            return 2
        print(f"{args.database}: {products:,} products, {inactive:,} inactive", flush=True)

        variant = f" load-{run_id}"
        media = Path(settings.MEDIA_ROOT) / "bench"
        media.mkdir(parents=True)
        started = time.monotonic()
        # Same seed as bench_list's catalogue: the first --rows rows are its rows, so every SKU exists.
        path = generate_products_csv(media / "load.csv", args.rows, variant=variant)
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            distinct = len({row[0].lower() for row in reader})
        print(f"generated {args.rows:,} rows ({path.stat().st_size / 2**20:.0f} MB, {distinct:,} distinct SKUs) "
              f"in {time.monotonic() - started:.0f} s", flush=True)

        token = bench_list._token()
        owner = get_user_model().objects.get(auth_token__key=token)
        placeholder = _placeholder_job(owner)
        job_ids.append(placeholder.pk)
        connection.close()

        (workdir / "logs").mkdir()
        recorder = EventRecorder()
        worker = start_worker(log_dir=workdir / "logs", concurrency=1, beat=False)
        server, base = start_daphne(log_dir=workdir / "logs")
        bench_list._probe(base, token, "/api/auth/me/")  # warm up: imports, connection pool
        for _, scenario_path in SCENARIOS:
            bench_list._probe(base, token, scenario_path)
        script = workdir / "auth.lua"
        script.write_text(bench_list.WRK_SCRIPT % {"token": token})

        print("Phase A (idle)…", flush=True)
        idle = asyncio.run(run_phase(name="idle", base=base, token=token, job_id=placeholder.pk, args=args,
                                     script=script, recorder=recorder,
                                     finish=lambda: _finish_placeholder(placeholder.pk)))

        print("Phase B (import running)…", flush=True)
        job = import_job_create(owner=owner, stored_name="bench/load.csv", filename="load.csv")
        job_ids.append(job.pk)
        connection.close()
        # Measure while rows are being written, not while the file is being counted.
        job = _wait_for_job(job.pk, until=lambda j: j.phase != ImportPhase.QUEUED and j.phase != ImportPhase.COUNTING,
                            what="writing rows", timeout=300)
        print(f"  import {job.pk} is {job.status}/{job.phase}", flush=True)
        final: dict[str, ImportJob] = {}

        def finish_import() -> None:
            final["job"] = _wait_for_job(job.pk, until=lambda j: j.is_finished, what="finished", timeout=900)

        loaded = asyncio.run(run_phase(name="loaded", base=base, token=token, job_id=job.pk, args=args,
                                       script=script, recorder=recorder, finish=finish_import))

        done = final["job"]
        after = _scalar("SELECT count(*) FROM catalog_product")
        renamed = _scalar("SELECT count(*) FROM catalog_product WHERE name LIKE %s", [f"%{variant}"])
        seconds = (done.finished_at - done.started_at).total_seconds() if done.started_at and done.finished_at else 0
        window_end = loaded.window[1]
        overlap = ("yes" if done.finished_at and done.finished_at.timestamp() >= window_end else
                   "NO: it never finished" if not done.finished_at else
                   f"NO: it finished {window_end - done.finished_at.timestamp():.1f} s before the window ended")
        counted = (done.created_rows + done.updated_rows + done.unchanged_rows + done.superseded_rows
                   + done.skipped_rows)
        checks = {
            "status completed": done.status == "completed",
            "no row errors": done.skipped_rows == 0,
            f"processed = total = {args.rows:,}": done.processed_rows == done.total_rows == args.rows,
            "created+updated+unchanged+superseded+skipped = processed": counted == done.processed_rows,
            "nothing created (all SKUs exist)": done.created_rows == 0,
            f"product count unchanged ({products:,})": after == products,
            f"renamed products = distinct SKUs ({distinct:,})": renamed == distinct,
        }
        import_lines = [
            f"Import {done.pk}: {done.status} in {seconds:.1f} s ({(args.rows / seconds if seconds else 0):,.0f} rows/s) after "
            f"{done.attempts} attempt(s); created {done.created_rows:,}, updated {done.updated_rows:,}, "
            f"unchanged {done.unchanged_rows:,}, superseded {done.superseded_rows:,}, skipped {done.skipped_rows:,}",
            f"import running through the whole loaded window: {overlap}",
            "checks: " + "; ".join(f"{name}: {'ok' if ok else 'FAILED'}" for name, ok in checks.items()),
        ]
        ok = _report(idle, loaded, args, import_lines)
        ok &= all(checks.values()) and overlap == "yes"
        return 0 if ok else 1
    finally:
        if recorder is not None:
            recorder.close()
        for process in (server, worker):
            if process is not None:
                process.stop()
        if job_ids:
            try:
                from importer.models import ImportJob

                ImportJob.objects.filter(pk__in=job_ids).delete()
            except Exception as exc:  # noqa: BLE001 - cleanup must not hide the real error
                print(f"could not delete the benchmark's jobs {job_ids}: {exc}", file=sys.stderr)
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001
            pass
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
