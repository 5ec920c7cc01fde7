"""Every file of the bad-input corpus (tests/corpus/cases.py) through the real upload path.

One daphne and one Celery worker serve the whole module (starting them per file would cost more
than all the imports). Each file is its own test: a fresh user uploads it with the real tuspy
client and its API token, starts the import with ``POST /api/imports/``, waits for the job to end,
and the test checks the job's outcome, its row errors, the catalogue, and that the worker is still
alive. ``transactional_db`` empties every table after each test, so the cases do not see each
other's products; the processes hold no state of their own between jobs.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from tusclient.client import TusClient

from catalog.models import Product
from importer.models import ImportJob, ImportRowError
from importer.states import ImportStatus
from tests.corpus.cases import CASES, CorpusCase, write_corpus
from tests.support.bad_files import BAD_FILES
from tests.support.clients import token_headers
from tests.support.jobs import finished, wait_for_job
from tests.support.processes import ServiceProcess, start_daphne, start_worker

# The states a corpus job may be left in: ended, or waiting for a person to map its columns.
FINISHED = (ImportStatus.COMPLETED, ImportStatus.FAILED, ImportStatus.NEEDS_MAPPING)
JOB_TIMEOUT = 120
# Descriptions longer than this are compared (and shown in a failure) by length and digest.
SHOWN_DESCRIPTION = 200
# The product list API is compared too unless the file's text is too big to page through cheaply.
API_COMPARED_MAX_TEXT = 1024 * 1024


@dataclass
class Services:
    worker: ServiceProcess
    server: ServiceProcess
    url: str


@pytest.fixture(scope="module")
def corpus_files(tmp_path_factory) -> dict[str, Path]:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def services(django_db_setup, django_db_blocker, tmp_path_factory):
    """A worker and a web server on the test database, with their own (temporary) MEDIA_ROOT.

    MEDIA_ROOT is passed explicitly: the suite's per-test ``media_root`` fixture is not active
    while a module fixture starts, and the processes must not write into the project's var/.
    Chunks of 3 rows put every file's case variants and bad rows across chunk boundaries.
    """
    logs = tmp_path_factory.mktemp("corpus-logs")
    media = str(tmp_path_factory.mktemp("corpus-media"))
    with django_db_blocker.unblock():
        worker = start_worker(log_dir=logs, MEDIA_ROOT=media, IMPORT_CHUNK_SIZE="3")
        try:
            server, url = start_daphne(log_dir=logs, MEDIA_ROOT=media)
        except BaseException:
            worker.stop()
            raise
    try:
        yield Services(worker, server, url)
    finally:
        server.stop()
        worker.stop()


def _shown(product: tuple[str, str, str]) -> tuple[str, str, str]:
    sku, name, description = product
    if len(description) > SHOWN_DESCRIPTION:
        digest = hashlib.sha256(description.encode()).hexdigest()[:16]
        description = f"<{len(description)} characters, sha256 {digest}>"
    return sku, name, description


def stored_catalogue() -> list[tuple[str, str, str]]:
    return sorted(_shown(p) for p in Product.objects.values_list("sku", "name", "description"))


def tus_upload(url: str, path: Path, headers: dict[str, str]) -> str:
    """Upload ``path`` with tuspy in 4 MiB parts (below TUS_MAX_CHUNK_SIZE); return the upload's id."""
    uploader = TusClient(f"{url}/api/uploads/", headers=headers).uploader(
        str(path), chunk_size=4 * 1024 * 1024, metadata={"filename": path.name}
    )
    uploader.upload()
    return uploader.url.rstrip("/").rsplit("/", 1)[1]


def wait_for_end(services: Services, job_id: int, headers: dict[str, str]) -> dict:
    """Wait for the job to end (or to wait for a column mapping); return it as the API shows it."""
    wait_for_job(job_id, lambda job: finished(job) or job.status == "needs_mapping", what="finished",
                 timeout=JOB_TIMEOUT,
                 processes=[services.worker, services.server], interval=0.1)
    response = requests.get(f"{services.url}/api/imports/{job_id}/", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def api_catalogue(url: str, headers: dict[str, str]) -> list[tuple[str, str, str]]:
    response = requests.get(f"{url}/api/products/", params={"page_size": 1000}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return sorted(_shown((p["sku"], p["name"], p["description"])) for p in response.json()["results"])


def errors_csv(url: str, job_id: int, headers: dict[str, str]) -> list[dict[str, str]]:
    response = requests.get(f"{url}/api/imports/{job_id}/errors/", headers={**headers, "Accept": "text/csv"},
                            timeout=30)
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_corpus_file_ends_in_its_expected_state_without_harming_the_worker(
    case: CorpusCase, services: Services, corpus_files, transactional_db, django_user_model
):
    user = django_user_model.objects.create_user(username="corpus", password="corpus-4242")
    auth = token_headers(user)
    log_start = len(services.worker.log())

    upload_id = tus_upload(services.url, corpus_files[case.id], auth)
    body = {"upload": upload_id, **({"encoding": case.encoding} if case.encoding else {})}
    created = requests.post(f"{services.url}/api/imports/", json=body, headers=auth, timeout=30)
    assert created.status_code == 201, created.text
    job = wait_for_end(services, created.json()["id"], auth)

    assert job["status"] == case.status, job["message"]
    assert case.message in job["message"]
    stored_errors = list(ImportRowError.objects.filter(job_id=job["id"]).order_by("line")
                         .values_list("line", "reason"))
    assert job["skipped"] == len(stored_errors)
    assert [line for line, _ in stored_errors] == [line for line, _ in case.row_errors], stored_errors
    for (_, reason), (_, expected) in zip(stored_errors, case.row_errors):
        assert expected in reason

    expected_products = sorted(_shown(p) for p in case.products())
    assert stored_catalogue() == expected_products
    if sum(len(p[2]) for p in case.products()) <= API_COMPARED_MAX_TEXT:
        # The API returns exactly what the file held: formulas, SQL and markup are just text.
        assert api_catalogue(services.url, auth) == expected_products

    if case.neutralised_skus:
        skus = [row["sku"] for row in errors_csv(services.url, job["id"], auth)]
        assert skus == ["'" + sku for sku in case.neutralised_skus]

    assert not ImportJob.objects.exclude(status__in=FINISHED).exists()
    assert services.worker.popen.poll() is None, "the worker died"
    assert services.worker.children(), "the worker lost its pool process"
    new_log = services.worker.log()[log_start:]
    assert "Traceback" not in new_log and "WorkerLostError" not in new_log, new_log[-4000:]


@pytest.mark.parametrize("case", [case for case in CASES if case.checked_in], ids=lambda case: case.id)
def test_checked_in_corpus_file_matches_its_generator(case: CorpusCase):
    assert (BAD_FILES / case.filename).read_bytes() == case.build(), (
        "regenerate with: .venv/bin/python -m tests.corpus.cases"
    )
