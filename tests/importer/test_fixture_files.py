"""Nasty real-world files (in tests/bad_files/) through the pipeline and through a job.

- excel_cp1252_crlf.csv: an old Excel export in Windows-1252 with CRLF, smart quotes, a euro
  sign, a multi-line quoted description and a case-variant duplicate.
- utf8_bom_messy.csv: UTF-8 with BOM, padded re-ordered headers, an unknown column, non-ASCII
  case variants (É/é, the Kelvin sign), blank lines, one bad row per rule and a quote left open
  in the last record.
- excel_semicolons.csv: a German Excel export separated by semicolons.
"""

from __future__ import annotations

import pytest

from importer.models import ImportRowError
from importer.pipeline import FileRejected, import_csv
from importer.services import import_job_run
from importer.states import ImportStatus
from tests.support.bad_files import BAD_FILES
from tests.support.catalogue import catalogue
from tests.support.jobs import create_job

pytestmark = pytest.mark.django_db


def _import(name: str, **options):
    path = BAD_FILES / name
    with path.open("rb") as handle:
        return import_csv(file=handle, size_bytes=path.stat().st_size, **options)


def test_excel_cp1252_export_imports_with_the_encoding_option():
    result = _import("excel_cp1252_crlf.csv", encoding="cp1252", chunk_size=2)
    assert result.errors == []
    assert result.progress.processed_rows == 3
    assert catalogue() == {
        "caf-001": ("Café crème (new)", "Now with 20% more €é"),
        "TEA-002": ("Thé vert", "Green tea\r\nfrom Japan, 100g"),
    }


def test_excel_cp1252_export_without_the_option_is_rejected_with_a_hint():
    with pytest.raises(FileRejected, match="not valid UTF-8 text.*cp1252.*'encoding' option"):
        _import("excel_cp1252_crlf.csv")
    assert catalogue() == {}


def test_german_semicolon_export_is_rejected_with_a_hint():
    with pytest.raises(FileRejected, match="separated by semicolons"):
        _import("excel_semicolons.csv")


MESSY_ERRORS = [
    (6, "EMPTY-NAME", "name is empty"),
    (7, "", "SKU is empty"),
    (8, "EXTRA-1", "expected 4 fields, found 5"),
]


@pytest.mark.parametrize("chunk_size", [2, 1000])
def test_messy_utf8_file_imports_its_good_rows_and_reports_each_bad_one(chunk_size):
    result = _import("utf8_bom_messy.csv", chunk_size=chunk_size)
    assert [(e.line, e.sku, e.reason) for e in result.errors[:3]] == MESSY_ERRORS
    last = result.errors[3]
    assert (last.line, last.sku) == (12, "BROKEN-1") and "never closed" in last.reason
    assert catalogue() == {
        "dessert-é1": ("Crème brûlée (light)", "Less sugar"),
        "SANDWICH-1": ("Smørrebrød", "Open-faced"),
        # PostgreSQL's lower() maps the Kelvin sign to "k": one product, the last row's.
        "k-bar": ("k bar", "plain k SKU"),
    }
    progress = result.progress
    assert progress.processed_rows == 9
    # Two rows are replaced by later rows of their SKU (the Kelvin sign one among them).
    assert (progress.created, progress.updated, progress.unchanged, progress.superseded, progress.skipped) == (
        3, 0, 0, 2, 4)


def test_messy_utf8_file_through_a_job_records_its_row_errors(settings):
    settings.IMPORT_CHUNK_SIZE = 3
    job = create_job((BAD_FILES / "utf8_bom_messy.csv").read_bytes(), filename="utf8_bom_messy.csv")
    import_job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMPLETED
    assert job.message == "Imported 9 rows: 3 created, 0 updated, 2 superseded by a later row, 4 skipped."
    assert [(e["line"], e["sku"], e["reason"]) for e in job.errors[:3]] == MESSY_ERRORS
    assert list(ImportRowError.objects.filter(job=job).values_list("line", flat=True)) == [6, 7, 8, 12]
    assert set(catalogue()) == {"dessert-é1", "SANDWICH-1", "k-bar"}
