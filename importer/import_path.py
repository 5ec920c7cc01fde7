"""Which way an import goes into the catalogue: in bulk (a shadow table swapped in) or in chunks.

The bulk path (``importer.pipeline.bulk``) builds every index once instead of keeping them up to
date row by row, which makes it several times cheaper when the file is the catalogue's whole
content; the chunked path (``importer.pipeline.run``) upserts in committed chunks and is the one
for small files and for updates of a catalogue that already holds products (it skips unchanged
rows, and a large catalogue is not rebuilt for a few changes). ``IMPORT_BULK_PATH`` decides:

- ``auto`` (default): in bulk when the catalogue is empty, in chunks otherwise;
- ``always``: in bulk whatever the catalogue holds (its products are merged at the swap);
- ``never``: always in chunks.

A preview always compares chunk by chunk (it writes nothing, so there is nothing to index), with
the same counts whichever path the import would take. A job that has committed chunks resumes
in chunks; a bulk load is never resumed, only started over.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from importer.pipeline.shadow import catalogue_is_empty

BULK_PATH_CHOICES = ("auto", "always", "never")


@dataclass(frozen=True)
class ImportPath:
    """The path chosen for one run, and the sentence that explains it in the job's message."""

    bulk: bool
    reason: str  # while it runs
    done: str = ""  # in the message of the finished job


def import_path_choose(*, preview: bool, resuming: bool) -> ImportPath:
    """Choose the path of a run (see the module's docstring)."""
    setting = settings.IMPORT_BULK_PATH
    if preview:
        return ImportPath(bulk=False, reason="")
    if resuming:
        return ImportPath(bulk=False, reason="")
    if connection.in_atomic_block:
        # A bulk load commits phase by phase; a caller holding a transaction open (a test, a
        # script) gets the chunked path, which commits inside it.
        return ImportPath(bulk=False, reason="In chunks: the caller holds a transaction open.")
    if setting == "never":
        return ImportPath(bulk=False, reason="In chunks (IMPORT_BULK_PATH=never).")
    if setting == "always":
        return ImportPath(
            bulk=True,
            reason="Loading in bulk (IMPORT_BULK_PATH=always).",
            done="Loaded in bulk (IMPORT_BULK_PATH=always).",
        )
    if catalogue_is_empty():
        return ImportPath(
            bulk=True,
            reason="Loading in bulk: the catalogue is empty.",
            done="Loaded in bulk: the catalogue was empty.",
        )
    return ImportPath(bulk=False, reason="In chunks: the catalogue already has products.")
