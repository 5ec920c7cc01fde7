"""Start real service processes (Celery worker, daphne) against the test database.

End-to-end tests use these for behaviour that crosses processes. Each process gets the test
database's URL and the session's Celery queue, and its output goes to a log file that is
printed when a test fails to start it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
from django.conf import settings
from django.db import connection

from tests.support.database import test_database_url
from tests.support.object_storage import storage_environment

ROOT = Path(__file__).resolve().parents[2]


def service_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process that must see the same world as the test process."""
    env = dict(os.environ)
    # Set in this process for Playwright's event loop (tests/browser); a server must run with
    # Django's async-safety checks on, as in production.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(
        DATABASE_URL=test_database_url(),
        CELERY_TASK_DEFAULT_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
        **storage_environment(settings.STORAGES["default"]),
        EVENTS_NAMESPACE=settings.EVENTS_NAMESPACE or connection.settings_dict["NAME"],
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (free when this returns, not reserved)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServiceProcess:
    """A started child process with its log file."""

    def __init__(self, name: str, popen: subprocess.Popen, log_path: Path) -> None:
        self.name = name
        self.popen = popen
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_excerpt(self) -> str:
        """The first traceback of the log (the likely cause of a failure), or the end of the log."""
        log = self.log()
        start = log.find("Traceback")
        text = log[start:start + 4000] if start >= 0 else log[-3000:]
        return f"--- {self.name} ({self.log_path}) ---\n{text}"

    def children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the main process only (its children are left to fend for themselves)."""
        try:
            os.kill(self.pid, sig)
        except ProcessLookupError:
            pass

    def processes(self) -> list[psutil.Process]:
        """The main process (if still alive) followed by everything it started."""
        procs = self.children()
        try:
            procs.insert(0, psutil.Process(self.pid))
        except psutil.NoSuchProcess:
            pass
        return procs

    def crash(self) -> None:
        """SIGKILL the main process and every descendant at once: a real crash, nothing cleans up.

        The processes share the test runner's process group, so they are killed one by one (the
        list is taken first, so children re-parented by the main process's death are not missed).
        """
        procs = self.processes()
        _signal_each(procs, "kill")
        psutil.wait_procs(procs, timeout=10)
        self._wait_main(timeout=10)

    def stop(self) -> None:
        """Terminate the process and everything it started (killing what does not stop)."""
        procs = self.processes()
        _signal_each(procs, "terminate")
        _, alive = psutil.wait_procs(procs, timeout=10)
        _signal_each(alive, "kill")
        psutil.wait_procs(alive, timeout=5)
        self._wait_main(timeout=5)

    def _wait_main(self, *, timeout: float) -> None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass


def _signal_each(procs: list[psutil.Process], action: str) -> None:
    """Call ``kill`` or ``terminate`` on each process that is still there."""
    for proc in procs:
        try:
            getattr(proc, action)()
        except psutil.NoSuchProcess:
            pass


def pid_holding_advisory_lock(*, key1: int, key2: int) -> int | None:
    """The client process id of the local connection holding advisory lock (key1, key2), if any.

    PostgreSQL knows which backend holds the lock and that backend's client TCP port; the client
    process is the local process with a socket on that port. This tells which pool child of a
    worker is running a given import (the import's session-level job lock).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.classid = %s AND l.objid = %s
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """,
            [key1, key2],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    server_port = int(connection.settings_dict.get("PORT") or 5432)
    for conn in psutil.net_connections(kind="tcp"):
        if (conn.pid and conn.laddr and conn.raddr and conn.laddr.port == row[0]
                and conn.raddr.port == server_port):
            return conn.pid
    return None


def _start(name: str, args: list[str], env: dict[str, str], log_dir: Path, cwd: Path | None = None
           ) -> ServiceProcess:
    """Start ``args`` in ``cwd`` (the checkout by default; elsewhere it imports the project from
    PYTHONPATH, as a process on another host with the code installed would)."""
    log_path = log_dir / f"{name}-{int(time.time() * 1000)}.log"
    log = log_path.open("wb")
    if cwd is not None:
        env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))}
    popen = subprocess.Popen(args, cwd=cwd or ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
    log.close()
    return ServiceProcess(name, popen, log_path)


def _wait_until(check, *, what: str, process: ServiceProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.log()[-4000:]}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} not {what} after {timeout}s:\n{process.log()[-4000:]}")


def start_worker(*, log_dir: Path, concurrency: int = 1, beat: bool = True, cwd: Path | None = None,
                 **env_overrides: str) -> ServiceProcess:
    """Start a Celery worker (with the reaper's beat schedule embedded) and wait until it is ready."""
    env = service_env(DATABASE_POOL="false", IMPORT_REAPER_INTERVAL="1", **env_overrides)
    args = [
        sys.executable, "-m", "celery", "-A", "project", "worker", "-l", "info",
        "-c", str(concurrency), "-Q", env["CELERY_TASK_DEFAULT_QUEUE"], "-n", f"test-{os.getpid()}-{time.time_ns()}@%h",
        "--without-gossip", "--without-mingle",
    ]
    if beat:
        args += ["-B", "-s", str(Path(tempfile.mkdtemp(dir=cwd or log_dir)) / "beat-schedule")]
    worker = _start("worker", args, env, log_dir, cwd)
    _wait_until(lambda: " ready." in worker.log(), what="ready", process=worker, timeout=60)
    return worker


def start_beat(*, log_dir: Path, cwd: Path | None = None, **env_overrides: str) -> ServiceProcess:
    """Start the Procfile's beat process alone (the reaper and the clean-ups, every second)."""
    env = service_env(DATABASE_POOL="false", IMPORT_REAPER_INTERVAL="1", **env_overrides)
    schedule = Path(tempfile.mkdtemp(dir=cwd or log_dir)) / "beat-schedule"
    args = [sys.executable, "-m", "celery", "-A", "project", "beat", "-l", "info", "-s", str(schedule)]
    beat = _start("beat", args, env, log_dir, cwd)
    _wait_until(lambda: "beat: Starting" in beat.log(), what="started", process=beat, timeout=60)
    return beat


def start_daphne(
    *, log_dir: Path, port: int | None = None, processes: int = 1, cwd: Path | None = None,
    **env_overrides: str,
) -> tuple[ServiceProcess, str]:
    """Start daphne serving project.asgi on a free port; return it and its base URL.

    ``processes`` > 1 starts the Procfile's web process instead (``python -m project.serve``):
    that many daphne processes sharing the listening socket.
    """
    port = port or free_port()
    # Like production: the web process pools its database connections (the test process does not).
    env = service_env(**{"DATABASE_POOL": "true", **env_overrides})
    if processes > 1:
        env.update(WEB_BIND="127.0.0.1", PORT=str(port), WEB_CONCURRENCY=str(processes))
        args = [sys.executable, "-m", "project.serve"]
    else:
        args = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "project.asgi:application"]
    server = _start("daphne", args, env, log_dir, cwd)

    def answering() -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    _wait_until(answering, what="listening", process=server, timeout=30)
    return server, f"http://127.0.0.1:{port}"


@contextmanager
def running_worker(log_dir: Path, **kwargs) -> Iterator[ServiceProcess]:
    worker = start_worker(log_dir=log_dir, **kwargs)
    try:
        yield worker
    finally:
        worker.stop()


@contextmanager
def running_daphne(log_dir: Path, **kwargs) -> Iterator[tuple[ServiceProcess, str]]:
    server, url = start_daphne(log_dir=log_dir, **kwargs)
    try:
        yield server, url
    finally:
        server.stop()
