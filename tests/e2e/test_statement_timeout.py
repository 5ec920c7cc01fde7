"""The web statement timeout: a request stuck in PostgreSQL is a clear 503, an import is never cut.

Slowness is real, not simulated: the test holds an ACCESS EXCLUSIVE lock on the catalogue table
from another connection, so the product list genuinely waits in PostgreSQL.
"""

from __future__ import annotations

import time

import pytest
import requests

from tests.support.clients import token_headers
from tests.support.database import other_connection
from tests.support.jobs import finished, wait_for_job
from tests.support.processes import running_daphne, running_worker

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WEB_LIMIT_MS = "300"


def test_a_list_request_waiting_past_the_web_statement_timeout_is_a_503_and_frees_its_connection(
    transactional_db, process_logs, user
):
    headers = token_headers(user)
    with running_daphne(process_logs, DATABASE_STATEMENT_TIMEOUT_MS=WEB_LIMIT_MS) as (_, url):
        assert requests.get(f"{url}/api/products/", headers=headers, timeout=10).status_code == 200
        with other_connection() as conn, conn.transaction():
            conn.execute("LOCK TABLE catalog_product IN ACCESS EXCLUSIVE MODE")
            started = time.monotonic()
            response = requests.get(f"{url}/api/products/", headers=headers, timeout=30)
            waited = time.monotonic() - started
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "database_timeout"
        assert "took too long" in response.json()["detail"]
        assert response.headers["Retry-After"] == "5"
        assert waited < 5, f"the request waited {waited:.1f}s with a {WEB_LIMIT_MS} ms limit"
        # The lock is gone and the request's connection went back to the pool in good order.
        assert requests.get(f"{url}/api/products/", headers=headers, timeout=10).status_code == 200


def test_a_front_end_page_hitting_the_timeout_is_a_503_in_the_same_shape_not_a_500(
    transactional_db, process_logs, django_user_model
):
    django_user_model.objects.create_superuser(username="root", email="", password="root-4242-pass")
    with running_daphne(process_logs, DATABASE_STATEMENT_TIMEOUT_MS=WEB_LIMIT_MS) as (_, url):
        session = requests.Session()
        page = session.get(f"{url}/admin/login/", timeout=10)
        csrf = session.cookies["csrftoken"]
        assert page.status_code == 200
        session.post(
            f"{url}/admin/login/",
            data={
                "username": "root",
                "password": "root-4242-pass",
                "csrfmiddlewaretoken": csrf,
                "next": "/admin/",
            },
            timeout=10,
        )
        with other_connection() as conn, conn.transaction():
            conn.execute("LOCK TABLE catalog_product IN ACCESS EXCLUSIVE MODE")
            response = session.get(f"{url}/admin/catalog/product/", timeout=30)
        assert response.status_code == 503, response.text[:500]
        assert response.json()["code"] == "database_timeout"


def test_an_import_under_the_worker_is_not_cut_by_the_web_limit(transactional_db, process_logs, user):
    from django.core.files.base import ContentFile

    from importer.services import import_job_create

    rows = "".join(f"SKU-{i},Product {i},\n" for i in range(500))
    # The worker is started with the tiniest web limit: it must not apply to the worker.
    with running_worker(process_logs, DATABASE_STATEMENT_TIMEOUT_MS="1") as worker:
        with other_connection() as conn:
            with conn.transaction():
                conn.execute("LOCK TABLE catalog_product IN ACCESS EXCLUSIVE MODE")
                job = import_job_create(
                    owner=user,
                    file=ContentFile(f"sku,name,description\n{rows}".encode()),
                    filename="p.csv",
                    encoding="",
                )
                # The worker's first write waits behind the lock for far longer than the web limit.
                time.sleep(2)
            job = wait_for_job(job.pk, finished, what="finished", processes=[worker])
    assert job.status == "completed", job.message
    assert job.created_rows == 500 and job.attempts <= 1
    log = worker.log()
    assert "statement timeout" not in log and "Retry in" not in log, worker.log_excerpt()
