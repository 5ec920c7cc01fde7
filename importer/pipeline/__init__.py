"""The import pipeline: plain Python that a test, the Celery task and the management command all
call the same way. It knows nothing about jobs, Redis or SSE: it reports through an
``ImportObserver``. One module per stage, in the order a file goes through them:

- ``header``: encoding, sniffing and the header row; refuses a file before anything is written;
- ``scan``: counts the records and finds the SKUs that appear more than once;
- ``records``: the file's CSV records with their lines and byte offsets;
- ``validation``: the rules that make a record a product row or a row error;
- ``chunks``: rows gathered into chunks of about a second's work (``readahead`` runs this in a
  thread of its own, ahead of the writes);
- ``staging``: the COPY encoding and the set-based merge of a chunk into the catalogue;
- ``run``: ``import_csv``, which ties them together; ``results``: what it reports.
"""

from importer.pipeline.header import API_WORDING, CLI_WORDING, FileRejected, Wording, resolve_encoding
from importer.pipeline.results import (
    FIRST_ERRORS_KEPT,
    ImportInterrupted,
    ImportObserver,
    ImportProgress,
    ImportResult,
    RowError,
)
from importer.pipeline.run import import_csv
from importer.pipeline.staging import DeferredRows

__all__ = [
    "API_WORDING",
    "CLI_WORDING",
    "FIRST_ERRORS_KEPT",
    "DeferredRows",
    "FileRejected",
    "ImportInterrupted",
    "ImportObserver",
    "ImportProgress",
    "ImportResult",
    "RowError",
    "Wording",
    "import_csv",
    "resolve_encoding",
]
