"""The file through which commands run beside `make run` find the services it chose.

While `make run` runs, ``project.devservices`` writes ``<DEV_DATA_DIR>/devservices.env``
(``var/devservices.env`` by default) with the ``DATABASE_URL`` and ``REDIS_URL`` it gives its
processes, and ``DJANGO_DEBUG=true`` (what `make run` runs with); it deletes the file when it ends.
``project/settings.py`` reads it for any variable the environment does not set, so
``manage.py changepassword admin`` in another terminal reaches the embedded PostgreSQL instead of
waiting 30 s for one on 5432 (or quietly using another one that happens to answer there).

A file left behind by a `make run` that was killed is ignored: it is only used while the launcher
that wrote it is alive and both of its services answer (the embedded servers run in sessions of
their own, so they may outlive a launcher killed with SIGKILL, and servers found on the usual local
ports outlive it anyway: neither alone proves a `make run` is up).

Like ``devservices``, this module must not import Django.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlparse

BASE_DIR = Path(__file__).resolve().parent.parent
FILE_NAME = "devservices.env"
VARIABLES = ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG")
# The launcher's process id: the file only counts while that process lives.
PID_VARIABLE = "DEVSERVICES_PID"


def env_file_path(*, environ: Mapping[str, str]) -> Path:
    """Where `make run` writes the file: in ``DEV_DATA_DIR`` (``var/`` by default)."""
    return Path(environ.get("DEV_DATA_DIR") or BASE_DIR / "var").resolve() / FILE_NAME


def env_file_write(*, path: Path, values: Mapping[str, str]) -> None:
    """Write ``values`` as ``NAME=value`` lines, atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    lines = [f"{PID_VARIABLE}={os.getpid()}"]
    lines += [f"{name}={values[name]}" for name in VARIABLES if name in values]
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)


def env_file_read(*, path: Path) -> dict[str, str]:
    """The file's variables, or nothing when it is missing or its services do not answer."""
    try:
        text = path.read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in (*VARIABLES, PID_VARIABLE):
            values[name] = value
    if not _process_alive(values.pop(PID_VARIABLE, "")):
        return {}
    urls = [values.get("DATABASE_URL"), values.get("REDIS_URL")]
    if not all(urls) or not all(_answers(url) for url in urls):
        return {}
    return values


def _process_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True  # alive, under another user
    return True


def _answers(url: str, timeout: float = 0.3) -> bool:
    """Whether the server of a postgres:// or redis:// URL accepts connections (TCP or Unix socket)."""
    parsed = urlparse(url)
    # Not parsed.hostname: it lowercases, and a %2F-encoded socket folder is a case-sensitive path.
    host = unquote(parsed.netloc.rpartition("@")[2])
    if not host.startswith("/"):
        host = parsed.hostname or ""
    if not host:
        # postgres://user@/db?host=/dir
        for part in parsed.query.split("&"):
            if part.startswith("host="):
                host = unquote(part[len("host=") :])
    try:
        if host.startswith("/"):
            port = parsed.port or 5432
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(str(Path(host) / f".s.PGSQL.{port}"))
            return True
        default_port = 6379 if parsed.scheme.startswith("redis") else 5432
        with socket.create_connection((host or "127.0.0.1", parsed.port or default_port), timeout=timeout):
            return True
    except OSError:
        return False


def environ_with_dev_services(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of a live `make run` that ``environ`` does not set itself."""
    values = env_file_read(path=env_file_path(environ=environ))
    return {name: value for name, value in values.items() if not environ.get(name)}
