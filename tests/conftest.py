"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.object_storage import S3Server, running_s3_server
from tests.support.processes import running_worker
from tests.support.task_queue import clear_queue, task_queue_connection


def pytest_addoption(parser) -> None:
    parser.addoption(
        "--file-storage", choices=("local", "s3"), default="local",
        help="The storage backend every test stores files in: a fresh folder per test (local, the "
        "default), or a fresh key prefix in a bucket of an S3 server (moto) started for the session "
        "(s3). `make test` runs the tests marked `storage` a second time with s3.",
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """An S3 server (moto, over HTTP on loopback) for the whole session, with its bucket."""
    with running_s3_server(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture(autouse=True)
def media_root(request, settings, tmp_path_factory) -> Path:
    """Every test stores its uploads in a storage of its own: a fresh folder, or with
    ``--file-storage=s3`` a fresh key prefix in the session's bucket (MEDIA_ROOT then stays empty).
    Processes the test starts get the same storage (tests/support/processes.py)."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    if request.config.getoption("file_storage") == "s3":
        default = request.getfixturevalue("s3_server").storage_settings()
    else:
        default = {
            "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}
        }
    settings.STORAGES = {**settings.STORAGES, "default": default}
    return root


@pytest.fixture
def process_logs(tmp_path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def celery_worker(transactional_db, process_logs):
    """A real Celery worker process on the test database and this session's queue."""
    with running_worker(process_logs) as worker:
        yield worker


@pytest.fixture
def task_queue(settings):
    """The Redis list of this test session's Celery queue, as (connection, name); emptied before
    and after the test."""
    clear_queue()
    with task_queue_connection() as connection:
        yield connection, settings.CELERY_TASK_DEFAULT_QUEUE
    clear_queue()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="wonderland-42")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="builder-4242")


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user(username="staff", password="staff-4242", is_staff=True)
