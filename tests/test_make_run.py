"""`make run` as a developer uses it: debug mode, Ctrl-C, and commands run beside it.

Each test runs the real thing in a subprocess (`make run`, the launcher, `manage.py`), in a
session of its own so that a signal to its process group is what a terminal's Ctrl-C sends.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from project import devservices_env
from tests.support.processes import ROOT, free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PG = "postgres://postgres@127.0.0.1:5432"


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment of a developer's shell: none of the test session's settings."""
    drop = (
        "DJANGO_",
        "DATABASE_",
        "REDIS_",
        "CELERY_",
        "CACHE_",
        "THROTTLE_",
        "DEV_",
        "PORT",
        "MEDIA_ROOT",
        "STATIC_ROOT",
        "EVENTS_",
        "PYTEST",
        "MAKE",
        "MFLAGS",
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop)}
    env.update(PYTHONUNBUFFERED="1", **overrides)
    return env


@pytest.fixture
def scratch_database() -> Iterator[str]:
    """The name of a database `make run` may create, migrate and fill; dropped afterwards."""
    name = f"pi_make_run_{uuid.uuid4().hex[:8]}"
    yield name
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def wait_for_http(url: str, *, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "make run ended before serving"
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers, which is all this waits for
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"nothing answered {url} within {timeout}s")


def test_ctrl_c_on_make_run_stops_everything_with_no_make_error(scratch_database, tmp_path):
    port = free_port()
    env = clean_env(
        DATABASE_URL=f"{PG}/{scratch_database}",
        REDIS_URL="redis://127.0.0.1:6379/0",
        PORT=str(port),
        CELERY_TASK_DEFAULT_QUEUE=f"make-run-test-{uuid.uuid4().hex[:8]}",
        WEB_CONCURRENCY="1",
        MEDIA_ROOT=str(tmp_path / "media"),
        STATIC_ROOT=str(tmp_path / "static"),
        CELERY_BEAT_SCHEDULE_FILE=str(tmp_path / "beat-schedule"),
        DEV_DATA_DIR=str(tmp_path / "var"),
    )
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        # -o: the shared virtualenv is installed already; do not let a test reinstall it.
        make = subprocess.Popen(
            ["make", "--no-print-directory", "-o", ".venv/.installed", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process=make, timeout=180)
        time.sleep(3)  # the worker and beat are up too (they start beside the web process)
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        returncode = make.wait(timeout=90)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
    output = log.read_text(errors="replace")
    assert returncode in (0, -signal.SIGINT), output[-3000:]
    make_errors = re.findall(r"^make(?:\[\d+\])?: \*\*\*.*$", output, re.M)
    assert make_errors == [], output[-3000:]
    # Everything it started has stopped: nothing is left in its process group.
    with pytest.raises(ProcessLookupError):
        os.killpg(make.pid, 0)


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    # Outside pytest's tmp_path (mode 0700 from the session start: the OS user running the
    # embedded PostgreSQL as root could not reach it).
    path = Path(tempfile.mkdtemp(prefix="pi-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_commands_beside_make_run_reach_its_embedded_services_and_not_another_server(embedded_data_dir):
    """`manage.py …` in another terminal, with no URL copied by hand, uses the embedded servers."""
    env = clean_env(
        DEV_SERVICES="embedded", DEV_DATA_DIR=str(embedded_data_dir), DEV_EMBEDDED_REDIS_PORT=str(free_port())
    )
    # Stands in for `make serve`: a command that lives until it is interrupted.
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "project.devservices",
            "--",
            sys.executable,
            "-c",
            "import time\nwhile True: time.sleep(1)",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    env_file = embedded_data_dir / devservices_env.FILE_NAME
    try:
        deadline = time.monotonic() + 120
        while not env_file.exists():
            assert launcher.poll() is None, launcher.stdout.read()
            assert time.monotonic() < deadline, "the launcher wrote no devservices.env"
            time.sleep(0.2)
        # A developer's shell: no DATABASE_URL, REDIS_URL or DJANGO_DEBUG; PostgreSQL answers on
        # 5432 (the suite's own), which is exactly the server the command must NOT quietly use.
        beside = clean_env(DEV_DATA_DIR=str(embedded_data_dir))
        probe = (
            "from django.conf import settings; from django.db import connection; import redis\n"
            "print('HOST', connection.settings_dict['HOST'])\n"
            "print('DEBUG', settings.DEBUG)\n"
            "print('REDIS', settings.REDIS_URL, redis.Redis.from_url(settings.REDIS_URL).ping())\n"
            "with connection.cursor() as c:\n"
            "    c.execute('SHOW data_directory'); print('DATA', c.fetchone()[0])\n"
        )
        result = manage("ensure_database", env=beside)
        assert result.returncode == 0, result.stderr
        result = manage("shell", "-c", probe, env=beside)
        assert result.returncode == 0, result.stderr
        assert f"DATA {embedded_data_dir / 'postgres'}" in result.stdout, result.stdout
        assert "DEBUG True" in result.stdout
        assert f"REDIS redis://127.0.0.1:{env['DEV_EMBEDDED_REDIS_PORT']}/0 True" in result.stdout
        # The README's own example works the same way.
        result = manage("migrate", "--noinput", env=beside)
        assert result.returncode == 0, result.stderr
        result = manage("ensure_admin", env=beside)
        assert result.returncode == 0 and "admin" in result.stdout, result.stderr
    finally:
        os.killpg(launcher.pid, signal.SIGINT)
        output, _ = launcher.communicate(timeout=90)
    assert launcher.returncode == 0, output
    assert not env_file.exists(), "devservices.env must go away with `make run`"
    # And a command run afterwards no longer reaches for the stopped servers.
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        env=clean_env(DEV_DATA_DIR=str(embedded_data_dir), DJANGO_SECRET_KEY="x" * 60),
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_a_devservices_env_left_by_a_killed_launcher_is_ignored(tmp_path):
    env_file = tmp_path / devservices_env.FILE_NAME
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    env_file.write_text(
        f"DEVSERVICES_PID={dead.pid}\nDATABASE_URL={PG}/x\nREDIS_URL=redis://127.0.0.1:6379/0\n"
        "DJANGO_DEBUG=true\n"
    )
    # The services answer (the suite's own), but the launcher that wrote the file is gone.
    assert devservices_env.env_file_read(path=env_file) == {}
    env_file.write_text(env_file.read_text().replace(str(dead.pid), str(os.getpid())))
    assert devservices_env.env_file_read(path=env_file)["DJANGO_DEBUG"] == "true"


# --- DEBUG is off unless asked for -------------------------------------------------------------


def test_settings_default_to_debug_off_and_refuse_to_start_without_a_secret_key():
    env = clean_env(DATABASE_URL=f"{PG}/postgres", DEV_DATA_DIR=tempfile.gettempdir())
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr.split("ImproperlyConfigured")[-1]

    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG)",
        env={**env, "DJANGO_SECRET_KEY": "k" * 60},
    )
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


def test_make_run_asks_for_debug_and_the_procfile_never_does():
    procfile = (ROOT / "Procfile").read_text()
    assert "DJANGO_DEBUG" not in procfile
    # The launcher gives its command DJANGO_DEBUG=true unless the shell or .env set it.
    command = [
        sys.executable,
        "-m",
        "project.devservices",
        "--",
        sys.executable,
        "-c",
        "import os; print('DJANGO_DEBUG=' + os.environ.get('DJANGO_DEBUG', '-'))",
    ]
    env = clean_env(
        DATABASE_URL=f"{PG}/postgres", REDIS_URL="redis://127.0.0.1:6379/0", DEV_DATA_DIR=tempfile.mkdtemp()
    )
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "DJANGO_DEBUG=true" in result.stdout, result.stdout + result.stderr
    result = subprocess.run(
        command, cwd=ROOT, env={**env, "DJANGO_DEBUG": "false"}, capture_output=True, text=True, timeout=60
    )
    assert "DJANGO_DEBUG=false" in result.stdout
