"""A job's scan of its file, kept in file storage while the job may still resume.

The scan (``importer.pipeline.scan``) reads the whole file before the first row is imported. A run
that resumes after a crash needs the same result, and without this it would read, and on object
storage download, the whole file again before going on from its offset. The scan is a few MB at
most (compressed), stored beside the import files as ``scans/<job id>.scan``: in the bucket with
object storage, so a worker on another host resumes from it. It is an optimisation only: if it
cannot be stored or read, the resumed run scans the file again.
"""

from __future__ import annotations

import io
import logging

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction

from importer.pipeline.scan import FileScan, ScanKey

logger = logging.getLogger(__name__)


def scan_name(job_id: int) -> str:
    return f"scans/{job_id}.scan"


class StoredScan:
    """The ``ScanCache`` of one job (see ``importer.pipeline.scan.ScanCache``)."""

    def __init__(self, *, job_id: int) -> None:
        self.name = scan_name(job_id)

    def load(self, key: ScanKey) -> FileScan | None:
        try:
            with default_storage.open(self.name, "rb") as handle:
                scan = FileScan.load(handle, key=key)
        except FileNotFoundError:
            return None
        except Exception:  # noqa: BLE001 - an unreadable scan only costs a new one
            logger.warning("Could not read the stored scan %s; scanning the file again", self.name,
                           exc_info=True)
            return None
        if scan is None:
            logger.warning("The stored scan %s is not this file's; scanning the file again", self.name)
        return scan

    def save(self, scan: FileScan, key: ScanKey) -> None:
        buffer = io.BytesIO()
        scan.dump(buffer, key=key)
        buffer.seek(0)
        try:
            # Deleted first: the local backend would store a second copy under another name.
            default_storage.delete(self.name)
            default_storage.save(self.name, File(buffer, name=self.name))
        except Exception:  # noqa: BLE001 - the import goes on; only a resume would scan again
            logger.warning("Could not store the scan %s; a resumed run will scan again", self.name,
                           exc_info=True)

    def forget(self) -> None:
        """Delete the stored scan once the surrounding transaction commits (at once outside one)."""
        transaction.on_commit(self._delete)

    def _delete(self) -> None:
        try:
            default_storage.delete(self.name)
        except Exception:  # noqa: BLE001 - a left-over scan costs a few MB; retention deletes it
            logger.warning("Could not delete the stored scan %s", self.name, exc_info=True)
