"""GET /healthz: the state of the database, Redis and the import workers."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.support.processes import free_port, start_worker

pytestmark = pytest.mark.django_db


def test_needs_no_login_and_is_503_when_no_worker_consumes_the_queue(anonymous):
    # Workers of other test runs may be up on this Redis; none consumes this session's queue.
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.data == {
        "status": "unavailable", "database": "ok", "redis": "ok", "storage": "ok", "workers": 0,
        "detail": "No worker is running.",
    }


def test_redis_down_is_503_naming_redis(anonymous, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.data["redis"] == "down"
    assert response.data["database"] == "ok"
    assert response.data["workers"] is None
    assert response.data["detail"] == "Redis is down."


def test_unwritable_storage_folder_is_503_naming_the_storage(anonymous, settings, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(blocked / "media")}}}
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.data["storage"] == "down"
    assert response.data["detail"].startswith("The file storage is down")


def test_unreachable_bucket_is_503_naming_the_storage(anonymous, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "importer.s3_storage.ImportS3Storage",
        "OPTIONS": {"bucket_name": "nowhere", "endpoint_url": f"http://127.0.0.1:{free_port()}",
                    "access_key": "test", "secret_key": "test", "region_name": "us-east-1"}}}
    started = time.monotonic()
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.data["storage"] == "down"
    assert time.monotonic() - started < 5


@pytest.mark.slow
@pytest.mark.e2e
def test_all_up_with_a_real_worker_is_200(anonymous, celery_worker):
    response = anonymous.get("/healthz")
    assert response.status_code == 200, response.data
    assert response.data == {"status": "ok", "database": "ok", "redis": "ok", "storage": "ok", "workers": 1}


@pytest.mark.slow
@pytest.mark.e2e
def test_is_cheap_one_query_and_one_redis_command_with_no_wait_for_workers(anonymous, celery_worker):
    # Before heartbeats, each call broadcast to the workers and waited out a 1 s timeout.
    anonymous.get("/healthz")  # the first call opens the connections this process then reuses
    timings = []
    for _ in range(10):
        started = time.perf_counter()
        response = anonymous.get("/healthz")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.data
    assert statistics.median(timings) < 0.2, timings


@pytest.mark.slow
@pytest.mark.e2e
def test_a_worker_that_stops_is_gone_at_once_and_a_killed_one_within_the_heartbeat_ttl(
    anonymous, transactional_db, process_logs, settings
):
    settings.WORKER_HEARTBEAT_TTL = 3
    worker = start_worker(log_dir=process_logs, beat=False, WORKER_HEARTBEAT_INTERVAL="1")
    try:
        assert anonymous.get("/healthz").data["workers"] == 1
    finally:
        worker.stop()
    # A warm shutdown removes the worker's heartbeat.
    assert anonymous.get("/healthz").data["workers"] == 0

    worker = start_worker(log_dir=process_logs, beat=False, WORKER_HEARTBEAT_INTERVAL="1")
    assert anonymous.get("/healthz").data["workers"] == 1
    worker.crash()
    # SIGKILL leaves the heartbeat behind; it stops counting once older than the TTL.
    deadline = time.monotonic() + 10
    while anonymous.get("/healthz").data["workers"] != 0:
        assert time.monotonic() < deadline, "a killed worker still counts after its heartbeat's TTL"
        time.sleep(0.5)
