"""Fixtures of the fault tests: real workers and web servers that are always stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.benchmarks.csvgen import generate_products_csv
from tests.faults.redis_server import RedisServer
from tests.support.processes import ServiceProcess, free_port, start_daphne, start_worker


@pytest.fixture
def workers(transactional_db, process_logs):
    """Start Celery workers on demand (small chunks: many short transactions to interrupt).

    Depends on ``transactional_db`` so the workers are gone before the database is flushed.
    """
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        worker = start_worker(log_dir=process_logs, **{"IMPORT_CHUNK_SIZE": "500", **env})
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def daphnes(transactional_db, process_logs):
    """Start daphne web servers on demand; returns (process, base URL)."""
    started: list[ServiceProcess] = []

    def start(**kwargs) -> tuple[ServiceProcess, str]:
        server, url = start_daphne(log_dir=process_logs, **kwargs)
        started.append(server)
        return server, url

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def own_redis(process_logs):
    """A redis-server of this test's own (never the machine's shared one), stopped afterwards."""
    server = RedisServer(port=free_port(), log_dir=process_logs)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def make_csv(tmp_path) -> Callable[..., Path]:
    """Write a generated product CSV (ASCII SKUs, ~5% repeated in another case) into tmp_path."""

    def make(rows: int, *, name: str = "products.csv", seed: int = 7, variant: str = "") -> Path:
        return generate_products_csv(tmp_path / name, rows, seed=seed, variant=variant)

    return make
