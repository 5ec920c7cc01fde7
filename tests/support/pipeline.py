"""Running the import pipeline in the test process on an in-memory file."""

from __future__ import annotations

import io

from importer.pipeline import ImportResult, import_csv


def import_bytes(data: bytes, **options) -> ImportResult:
    """Run the real pipeline on an in-memory CSV file."""
    return import_csv(file=io.BytesIO(data), size_bytes=len(data), **options)


def errors_by_line(result: ImportResult) -> dict[int, str]:
    """The row errors of a result as {line: reason}."""
    return {error.line: error.reason for error in result.errors}
