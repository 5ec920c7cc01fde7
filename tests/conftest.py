"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import running_worker
from tests.support.task_queue import clear_queue, task_queue_connection


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path_factory) -> Path:
    """Every test stores its uploads in a fresh folder of its own."""
    root = tmp_path_factory.mktemp("media")
    settings.MEDIA_ROOT = root
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(root)}}}
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
