"""How many live-progress subscribers one daphne process holds, and how fast events reach them.

    python -m tests.benchmarks.bench_sse --subscribers 1000          (reference run: --reference 100)

For each subscriber count (the reference first), on a throw-away database and a fresh daphne
process: N token-authenticated clients open ``GET /api/imports/{id}/events/`` over a few job
channels and wait for the current state; then another process (this one, from a thread) publishes
K job states through ``importer.events.import_job_publish`` (database log + Redis), each carrying
its publish time; every client records when each arrives. Finally the jobs complete, and every
stream must end by itself.

Reported side by side: delivery latency p50/p95/max, events lost, PostgreSQL connections (daphne's
own sockets and everything on the benchmark database, peak while streams are open), daphne's RSS
and threads, time to open all streams, streams that ended properly, errors. Loopback only; every
phase has a time limit; daphne and the database are removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = f"pi_bench_sse_{os.getpid()}"

# Set before Django loads its settings: the benchmark's own database, events namespace, no pool
# in this process (the publisher is one thread).
os.environ["DATABASE_URL"] = f"{PG_SERVER}/{DB_NAME}"
os.environ["DATABASE_POOL"] = "false"
os.environ["EVENTS_NAMESPACE"] = f"bench-sse-{os.getpid()}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")


@dataclass
class RunResult:
    subscribers: int
    open_seconds: float = 0.0
    opened: int = 0
    latencies: list[float] = field(default_factory=list)
    lost: int = 0
    ended: int = 0
    errors: list[str] = field(default_factory=list)
    daphne_pg_sockets_peak: int = 0
    db_connections_peak: int = 0
    rss_mb_open: float = 0.0
    rss_mb_peak: float = 0.0
    threads_peak: int = 0


class Subscriber:
    """One client: reads the stream, remembers when each benchmark event arrived."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.opened = asyncio.Event()
        self.received: dict[int, float] = {}
        self.ended = False
        self.error: str | None = None

    def on_job(self, payload: dict) -> None:
        """Record when a benchmark event arrived (bench_load's subscribers record real ones too)."""
        sent = payload.get("bench")
        if sent:
            self.received.setdefault(sent["seq"], time.time() - sent["at"])

    async def run(self, session, url: str, headers: dict[str, str], open_slots: asyncio.Semaphore) -> None:
        import aiohttp

        await open_slots.acquire()
        released = False
        try:
            async with session.get(url, headers=headers) as response:
                if response.status != 200:
                    self.error = f"HTTP {response.status}"
                    return
                event, data = "", []
                async for raw in response.content:
                    line = raw.decode().rstrip("\r\n")
                    if line:
                        name, _, value = line.partition(":")
                        value = value[1:] if value.startswith(" ") else value
                        if name == "event":
                            event = value
                        elif name == "data":
                            data.append(value)
                        continue
                    if event == "job":
                        if not self.opened.is_set():
                            self.opened.set()
                            open_slots.release()
                            released = True
                        self.on_job(json.loads("\n".join(data)))
                    elif event == "stream-end":
                        self.ended = True
                    event, data = "", []
        except (aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            if not released:
                open_slots.release()
                self.opened.set()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def setup_database() -> None:
    env = dict(os.environ)
    for command in (["ensure_database"], ["migrate", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def drop_database() -> None:
    import psycopg

    with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')


def start_daphne(port: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_POOL="true", PYTHONUNBUFFERED="1")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("daphne exited early")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError("daphne did not start listening")


class Sampler(threading.Thread):
    """Samples daphne's RSS, threads and PostgreSQL connections every 0.2 s."""

    def __init__(self, pid: int, result: RunResult) -> None:
        super().__init__(daemon=True)
        self.pid, self.result = pid, result
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil
        import psycopg

        process = psutil.Process(self.pid)
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as conn:
            while not self.stopped.is_set():
                try:
                    rss = process.memory_info().rss / 2**20
                    threads = process.num_threads()
                    sockets = sum(1 for c in process.net_connections(kind="tcp")
                                  if c.raddr and c.raddr.port == 5432)
                except psutil.Error:
                    break
                (db,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                                     [DB_NAME]).fetchone()
                r = self.result
                r.rss_mb_peak = max(r.rss_mb_peak, rss)
                r.threads_peak = max(r.threads_peak, threads)
                r.daphne_pg_sockets_peak = max(r.daphne_pg_sockets_peak, sockets)
                r.db_connections_peak = max(r.db_connections_peak, db)
                self.stopped.wait(0.2)


def prepare_jobs(count: int) -> tuple[str, list[int]]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from importer.events import import_job_publish
    from importer.models import ImportJob
    from importer.serializers import import_job_payload
    from importer.states import ImportStatus
    from tests.support.clients import token_key

    user, _ = get_user_model().objects.get_or_create(username="bench-sse")
    token = token_key(user)
    jobs = [ImportJob.objects.create(owner=user, filename="bench.csv", status=ImportStatus.PROCESSING,
                                     total_rows=1000) for _ in range(count)]
    for job in jobs:
        import_job_publish(import_job_payload(job))
    connection.close()
    return token, [job.pk for job in jobs]


def publish_events(job_ids: list[int], *, count: int, interval: float, finish: bool) -> None:
    """Publish ``count`` progress states round-robin over the jobs, then (optionally) finish them."""
    from django.db import connection

    from importer.events import import_job_publish
    from importer.models import ImportJob
    from importer.serializers import import_job_payload
    from importer.states import ImportStatus

    jobs = {job.pk: job for job in ImportJob.objects.filter(pk__in=job_ids)}
    try:
        for seq in range(count):
            job = jobs[job_ids[seq % len(job_ids)]]
            job.processed_rows = seq + 1
            payload = import_job_payload(job)
            payload["bench"] = {"seq": seq, "at": time.time()}
            import_job_publish(payload)
            time.sleep(interval)
        if finish:
            for job in jobs.values():
                job.status = ImportStatus.COMPLETED
                job.progress = 100
                job.save()
                import_job_publish(import_job_payload(job))
    finally:
        connection.close()


async def run_once(n: int, *, jobs: int, events: int, interval: float, log_dir: Path) -> RunResult:
    import aiohttp

    from tests.support.processes import free_port

    result = RunResult(subscribers=n)
    token, job_ids = await asyncio.to_thread(prepare_jobs, jobs)
    port = free_port()
    daphne = start_daphne(port, log_dir / f"daphne-{n}.log")
    sampler = Sampler(daphne.pid, result)
    try:
        wait_listening(port, daphne)
        sampler.start()
        headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
        # At most 50 streams opening at once: the listen backlog is small, and a real crowd
        # arrives over time too.
        open_slots = asyncio.Semaphore(50)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                         timeout=timeout) as session:
            subscribers = [Subscriber(i) for i in range(n)]
            started = time.monotonic()
            tasks = [asyncio.create_task(s.run(session, f"http://127.0.0.1:{port}/api/imports/"
                                                        f"{job_ids[s.index % jobs]}/events/", headers, open_slots))
                     for s in subscribers]
            try:
                async with asyncio.timeout(180):
                    await asyncio.gather(*(s.opened.wait() for s in subscribers))
            except TimeoutError:
                result.errors.append("not every stream opened within 180 s")
            result.open_seconds = time.monotonic() - started
            result.opened = sum(1 for s in subscribers if s.opened.is_set() and not s.error)
            await asyncio.sleep(1.0)
            import psutil

            result.rss_mb_open = psutil.Process(daphne.pid).memory_info().rss / 2**20

            await asyncio.to_thread(publish_events, job_ids, count=events, interval=interval, finish=True)
            try:
                async with asyncio.timeout(60):
                    await asyncio.gather(*tasks)
            except TimeoutError:
                result.errors.append("some streams did not end within 60 s of the jobs finishing")
                for task in tasks:
                    task.cancel()
            for s in subscribers:
                # Each subscriber follows one job: it should see every event published to that job.
                expected = [seq for seq in range(events) if seq % jobs == s.index % jobs]
                result.latencies.extend(s.received[seq] for seq in expected if seq in s.received)
                result.lost += sum(1 for seq in expected if seq not in s.received)
                result.ended += s.ended
                if s.error:
                    result.errors.append(s.error)
    finally:
        sampler.stopped.set()
        if sampler.is_alive():
            sampler.join(timeout=5)
        daphne.terminate()
        try:
            daphne.wait(timeout=15)
        except subprocess.TimeoutExpired:
            daphne.kill()
            daphne.wait()
    return result


def summarize_errors(errors: list[str]) -> str:
    if not errors:
        return "0"
    counts: dict[str, int] = {}
    for error in errors:
        counts[error] = counts.get(error, 0) + 1
    return f"{len(errors)} (" + "; ".join(f"{k} ×{v}" for k, v in list(counts.items())[:3]) + ")"


def report(results: list[RunResult]) -> None:
    ref, *others = results
    rows = [
        ("streams opened", lambda r: f"{r.opened}/{r.subscribers}"),
        ("time to open all (s)", lambda r: f"{r.open_seconds:.1f}"),
        ("latency p50 (ms)", lambda r: f"{percentile(r.latencies, 0.5) * 1000:.0f}"),
        ("latency p95 (ms)", lambda r: f"{percentile(r.latencies, 0.95) * 1000:.0f}"),
        ("latency max (ms)", lambda r: f"{max(r.latencies, default=float('nan')) * 1000:.0f}"),
        ("deliveries", lambda r: f"{len(r.latencies)}"),
        ("events lost", lambda r: f"{r.lost}"),
        ("streams ended by server", lambda r: f"{r.ended}/{r.subscribers}"),
        ("daphne PG sockets (peak)", lambda r: f"{r.daphne_pg_sockets_peak}"),
        ("all PG conns on bench DB (peak)", lambda r: f"{r.db_connections_peak}"),
        ("daphne RSS, streams open (MB)", lambda r: f"{r.rss_mb_open:.0f}"),
        ("daphne RSS peak (MB)", lambda r: f"{r.rss_mb_peak:.0f}"),
        ("daphne threads (peak)", lambda r: f"{r.threads_peak}"),
        ("errors", lambda r: summarize_errors(r.errors)),
    ]
    headers = [f"N={r.subscribers}" + (" (reference)" if r is ref else "") for r in results]
    width = max(len(name) for name, _ in rows) + 2
    print("\n" + "".ljust(width) + "".join(h.rjust(20) for h in headers) + "   ratio")
    for name, fmt in rows:
        cells = [fmt(r) for r in results]
        ratio = ""
        if name.startswith(("latency p", "daphne RSS", "daphne PG", "all PG")) and others:
            try:
                ratio = f"×{float(cells[-1]) / float(cells[0]):.2f}"
            except (ValueError, ZeroDivisionError):
                ratio = ""
        print(name.ljust(width) + "".join(c.rjust(20) for c in cells) + f"   {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--reference", type=int, default=100, help="the smaller run printed alongside")
    parser.add_argument("--jobs", type=int, default=4, help="job channels the subscribers spread over")
    parser.add_argument("--events", type=int, default=20, help="progress events published per run")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between published events")
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * args.subscribers + 1024))
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # daphne inherits it

    import tempfile

    log_dir = Path(tempfile.mkdtemp(prefix="bench-sse-"))
    print(f"Database {DB_NAME}; daphne logs in {log_dir}")
    setup_database()
    try:
        import django

        django.setup()
        results = []
        for n in (args.reference, args.subscribers):
            print(f"Running N={n}…", flush=True)
            results.append(asyncio.run(run_once(n, jobs=args.jobs, events=args.events,
                                                interval=args.interval, log_dir=log_dir)))
        report(results)
        print(f"\n{args.events} events over {args.jobs} job channels, {args.interval}s apart; latency = "
              "receive time − publish time embedded in the payload (same clock), measured in one "
              "asyncio client process that shares the 2 CPUs with daphne.")
    finally:
        from django.db import connections

        connections.close_all()
        drop_database()


if __name__ == "__main__":
    main()
