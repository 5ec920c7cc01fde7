"""Two imports over overlapping SKUs at the same time.

The outcome, by design: every chunk takes the catalogue write lock (a transaction-level advisory
lock) after staging its rows, so chunks of the two imports take turns and never deadlock on each
other's product rows. Each import still applies its own file in order. For a SKU that only one
file contains, that file's last row wins; for a SKU in both files, the chunk that commits last
wins, which depends on timing — so the test asserts only that it is one of the two files' rows.
Either way every SKU exists exactly once (in PostgreSQL's ``lower()`` sense) and each job's
counts add up to its rows.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from catalog.models import Product
from importer.models import ImportJob
from importer.services import import_job_run
from importer.states import ImportStatus
from tests.support.catalogue import pg_lower
from tests.support.jobs import create_job

ROWS_PER_FILE = 60


def _file(label: str, skus: list[str]) -> tuple[bytes, dict[str, tuple[str, str]]]:
    """A CSV of ``skus`` and, per lower-case SKU, the (sku, name) of its last row."""
    last: dict[str, tuple[str, str]] = {}
    lines = ["sku,name"]
    for index, sku in enumerate(skus):
        name = f"{label} {index}"
        lines.append(f"{sku},{name}")
        last[sku.lower()] = (sku, name)
    return ("\n".join(lines) + "\n").encode(), last


@pytest.mark.django_db(transaction=True)
def test_two_imports_over_overlapping_skus_both_complete_and_each_sku_exists_once(settings):
    settings.IMPORT_CHUNK_SIZE = 3
    # ASCII SKUs, so Python's lower() is PostgreSQL's here. File A: SKU-000..059, file B:
    # sku-030..089 in the opposite order and case, and each file repeats some of its own SKUs.
    skus_a = [f"SKU-{i:03d}" for i in range(ROWS_PER_FILE)] + [f"sku-{i:03d}" for i in range(0, 60, 7)]
    skus_b = [f"sku-{i:03d}" for i in reversed(range(30, 30 + ROWS_PER_FILE))] + ["SKU-045", "SKU-088"]
    data_a, last_a = _file("A", skus_a)
    data_b, last_b = _file("B", skus_b)
    jobs = [create_job(data_a, filename="a.csv"), create_job(data_b, filename="b.csv")]

    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(job_id: int) -> None:
        try:
            start.wait(timeout=10)
            import_job_run(job_id=job_id)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job.pk,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    finished = [ImportJob.objects.get(pk=job.pk) for job in jobs]
    for job, rows in zip(finished, (skus_a, skus_b), strict=True):
        assert job.status == ImportStatus.COMPLETED, job.message
        assert job.processed_rows == len(rows)
        assert (job.created_rows + job.updated_rows + job.unchanged_rows + job.superseded_rows
                + job.skipped_rows) == len(rows)
        assert job.skipped_rows == 0

    products = list(Product.objects.all())
    keys = pg_lower([p.sku for p in products])
    assert len(keys) == len(set(keys))
    stored = {key: (p.sku, p.name) for key, p in zip(keys, products, strict=True)}
    assert set(stored) == set(last_a) | set(last_b)
    # Each SKU was created by exactly one of the two imports.
    assert sum(job.created_rows for job in finished) == len(stored)
    for key, value in stored.items():
        if key in last_a and key in last_b:
            assert value in (last_a[key], last_b[key])
        else:
            assert value == (last_a.get(key) or last_b[key])
