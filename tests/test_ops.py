"""Operations: the commands and the launcher behind `make run`."""

from __future__ import annotations

import io
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from project import devservices


def run_command(name: str, *args: str) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


# --- ensure_admin -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_admin_creates_a_superuser_with_a_random_password_shown_once():
    output = run_command("ensure_admin", "--url", "http://127.0.0.1:8123/")

    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    password = next(line.strip() for line in output.splitlines()[2:] if line.startswith("    "))
    assert admin.check_password(password)
    assert len(password) >= 16
    assert "http://127.0.0.1:8123/admin/" in output

    again = run_command("ensure_admin", "--url", "http://127.0.0.1:8123/")
    assert password not in again
    assert "superuser exists" in again
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
    admin.refresh_from_db()
    assert admin.check_password(password), "a second run must not reset the password"


@pytest.mark.django_db
def test_ensure_admin_passwords_differ_between_fresh_databases():
    first = run_command("ensure_admin")
    get_user_model().objects.all().delete()
    second = run_command("ensure_admin")

    def password_of(output: str) -> str:
        return next(line.strip() for line in output.splitlines()[2:] if line.startswith("    "))

    assert password_of(first) != password_of(second)


@pytest.mark.django_db
def test_ensure_admin_creates_nobody_when_another_superuser_exists(django_user_model):
    django_user_model.objects.create_superuser(username="root", email="", password="x-long-pass-42")

    output = run_command("ensure_admin")

    assert not django_user_model.objects.filter(username="admin").exists()
    assert "with the password" not in output


@pytest.mark.django_db
def test_ensure_admin_refuses_to_promote_an_existing_ordinary_user(django_user_model):
    django_user_model.objects.create_user(username="admin", password="ordinary-4242")

    with pytest.raises(CommandError, match="not one"):
        run_command("ensure_admin")
    assert not django_user_model.objects.get(username="admin").is_superuser


# --- ensure_database ----------------------------------------------------------------------------


@pytest.fixture
def missing_database_name(monkeypatch) -> Iterator[str]:
    """Point the default connection's settings at a database that does not exist yet; drop it after."""
    name = f"test_pi_ops_{uuid.uuid4().hex[:8]}"
    params = connection.get_connection_params()
    monkeypatch.setitem(connection.settings_dict, "NAME", name)
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, host=params.get("host"), port=params.get("port"),
                         user=params.get("user"), password=params.get("password")) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_ensure_database_creates_a_missing_database_and_is_idempotent(missing_database_name):
    name = missing_database_name

    assert f"Created database {name!r}" in run_command("ensure_database")
    assert f"Database {name!r} exists" in run_command("ensure_database")


# --- the launcher's choice ----------------------------------------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused for as long as the test runs."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_launcher_starts_embedded_services_when_nothing_answers_and_no_url_is_set(closed_port):
    database, redis = devservices.services_choose(
        environ={"DEV_PG_PORT": str(closed_port), "DEV_REDIS_PORT": str(closed_port)})

    assert database.embedded and redis.embedded
    assert str(closed_port) in database.reason


def test_launcher_uses_configured_urls_without_probing(closed_port):
    database, redis = devservices.services_choose(environ={
        "DATABASE_URL": "postgres://u@db.example.com/x", "REDIS_URL": "redis://cache.example.com/1",
        "DEV_PG_PORT": str(closed_port), "DEV_REDIS_PORT": str(closed_port),
    })

    assert (database.embedded, database.url) == (False, "postgres://u@db.example.com/x")
    assert (redis.embedded, redis.url) == (False, "redis://cache.example.com/1")


def test_launcher_uses_a_server_that_answers_on_the_probed_port():
    # The suite's own Redis is running (the tests need it), so the probe must find it.
    database, redis = devservices.services_choose(environ={"DEV_REDIS_PORT": "6379"})

    assert not redis.embedded
    assert redis.url == "redis://127.0.0.1:6379/0"


def test_launcher_external_mode_explains_what_is_missing(closed_port):
    with pytest.raises(devservices.DevServicesError, match=f"nothing answers on 127.0.0.1:{closed_port}"):
        devservices.services_choose(environ={
            "DEV_SERVICES": "external", "DEV_PG_PORT": str(closed_port), "REDIS_URL": "redis://x/0"})


def test_dotenv_values_do_not_override_the_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("PORT=9000\nDEV_SERVICES=embedded  # comment\n")
    environ = {"PORT": "8123"}

    added = devservices.dotenv_load(path=env_file, environ=environ)

    assert environ == {"PORT": "8123", "DEV_SERVICES": "embedded"}
    assert added == ["DEV_SERVICES"]


# --- embedded servers, for real -----------------------------------------------------------------


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: pytest resets /tmp/pytest-of-<user> to mode 0700 whenever a
    # session starts, which would lock out the OS user that runs PostgreSQL when tests run as root.
    path = Path(tempfile.mkdtemp(prefix="pi-embedded-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.slow
def test_embedded_postgres_and_redis_start_answer_and_stop(embedded_data_dir):
    tmp_path = embedded_data_dir
    postgres = devservices.EmbeddedPostgres(data_dir=tmp_path / "postgres")
    redis_port = devservices._free_port()
    redis = devservices.EmbeddedRedis(data_dir=tmp_path / "redis", port=redis_port)
    try:
        database_url = postgres.start(db_name="postgres")
        redis_url = redis.start()

        import dj_database_url
        import redis as redis_client

        params = dj_database_url.parse(database_url)
        with psycopg.connect(host=params["HOST"], user=params["USER"], dbname=params["NAME"]) as conn:
            assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 160000
        assert redis_client.Redis.from_url(redis_url).ping()
    finally:
        redis.stop()
        postgres.stop()

    assert not devservices.port_answers(host="127.0.0.1", port=redis_port)
    assert not (tmp_path / "postgres" / "postmaster.pid").exists()


# --- periodic tasks -----------------------------------------------------------------------------


def test_every_beat_schedule_entry_names_a_registered_task(settings):
    from project.celery import app

    app.loader.import_default_modules()

    missing = [entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] not in app.tasks]
    assert missing == []
    assert {"importer.reap_stale_jobs", "importer.expire_stale_uploads"} <= {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}


@pytest.mark.django_db
def test_upload_expiry_task_deletes_expired_uploads_only(user):
    from datetime import timedelta

    from django.utils import timezone

    from importer.models import Upload
    from importer.tasks import expire_stale_uploads
    from importer.uploads import upload_create

    stale = upload_create(owner=user, length=10, filename="stale.csv")
    fresh = upload_create(owner=user, length=10, filename="fresh.csv")
    Upload.objects.filter(pk=stale.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    assert expire_stale_uploads.apply().get() == 1
    assert list(Upload.objects.values_list("pk", flat=True)) == [fresh.pk]
