"""GET /healthz: the state of the database, Redis and the import workers."""

from __future__ import annotations

import pytest

from tests.support.processes import free_port

pytestmark = pytest.mark.django_db


def test_needs_no_login_and_is_503_when_no_worker_consumes_the_queue(anonymous):
    # Workers of other test runs may be up on this Redis; none consumes this session's queue.
    response = anonymous.get("/healthz")
    assert response.status_code == 503
    assert response.data == {
        "status": "unavailable", "database": "ok", "redis": "ok", "workers": 0,
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


@pytest.mark.slow
@pytest.mark.e2e
def test_all_up_with_a_real_worker_is_200(anonymous, celery_worker):
    response = anonymous.get("/healthz")
    assert response.status_code == 200, response.data
    assert response.data == {"status": "ok", "database": "ok", "redis": "ok", "workers": 1}
