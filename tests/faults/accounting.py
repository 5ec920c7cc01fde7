"""Whether an interrupted import accounts for every row: its counts, its file and the catalogue.

Each fault test compares the final catalogue with the oracle (``tests.support.catalogue``) and
the job's counts with both.
"""

from __future__ import annotations

from django.db import connection

from catalog.models import Product
from importer.models import ImportJob
from importer.states import ImportStatus
from tests.support.catalogue import Catalogue


def assert_completed_and_accounts_for(job: ImportJob, *, rows: int, expected: Catalogue,
                                      products_before: int = 0) -> None:
    """The job completed, its counts add up to the file, and they match what the catalogue holds."""
    assert job.status == ImportStatus.COMPLETED, job.message
    assert (job.processed_rows, job.total_rows, job.progress) == (rows, rows, 100)
    assert (job.created_rows + job.updated_rows + job.unchanged_rows + job.superseded_rows
            + job.skipped_rows) == rows
    assert job.skipped_rows == 0
    assert products_before + job.created_rows == Product.objects.count() == len(expected)


def products_and_created_rows(job_id: int) -> tuple[int, int, int]:
    """(products in the catalogue, the job's created_rows, its processed_rows), in one snapshot.

    One statement sees one snapshot: it shows whether what is committed in the catalogue is
    exactly what the job says it has written.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM catalog_product), created_rows, processed_rows "
            "FROM importer_importjob WHERE id = %s", [job_id])
        return cursor.fetchone()
