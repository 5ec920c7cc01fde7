"""Storing the files of uploads and imports: names we choose, and a full disk said plainly.

Everything goes through Django's storage API, so the backend can change without the callers
knowing. The client's name for a file is metadata only; stored names are ours (uuids, upload ids),
so no path trick reaches storage.
"""

from __future__ import annotations

import errno
import logging
import uuid
from pathlib import PurePath

logger = logging.getLogger(__name__)

# What a full disk (or quota, or file size limit) looks like when a file is written.
STORAGE_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
IMPORT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})


class StorageFull(Exception):
    """The server has no room left to store an uploaded file; nothing of it was kept."""

    message = (
        "The server has no room left to store this file (its disk is full), so nothing was "
        "imported. Try again later, or ask the administrator to free some space."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class StorageUnavailable(OSError):
    """The file storage (an object store) did not answer, or refused a request; nothing was kept.

    An OSError, like a local disk's errors, so callers that tolerate a failed delete tolerate it.
    """

    message = (
        "The file storage is not answering right now, so the file could not be stored or read. "
        "Nothing was imported; try again in a minute."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    def __str__(self) -> str:
        return self.args[0]


def storage_save_or_full(storage, name: str, content) -> str:
    """``storage.save(name, content)``; a full disk raises StorageFull and leaves no partial file.

    Django's FileSystemStorage leaves whatever it managed to write behind when the disk fills up,
    which keeps the disk full. ``name`` must be unique (ours always are), so a partial file under
    it is certainly this call's own.
    """
    try:
        return storage.save(name, content)
    except OSError as exc:
        if exc.errno not in STORAGE_FULL_ERRNOS:
            raise
        try:
            storage.delete(name)
        except OSError:
            logger.warning("Could not delete the partial file %s", name, exc_info=True)
        logger.error("Storage is full: could not store %s", name)
        raise StorageFull() from exc


def clean_filename(filename: str) -> str:
    """The last path component of a client-supplied name, without control characters."""
    name = PurePath(filename.replace("\\", "/")).name
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    # "a/.." has ".." as its last component: not a file's name, and misleading when shown.
    return name[:255] if name.strip(".") else "upload.csv"


def import_file_suffix(filename: str) -> str:
    """The suffix a stored import file gets: the client's, if it is one we expect, else .csv."""
    suffix = PurePath(filename).suffix.lower()
    return suffix if suffix in IMPORT_SUFFIXES else ".csv"


def unique_stored_name(filename: str) -> str:
    """A fresh storage name (a uuid) with the suffix of ``filename``."""
    return f"{uuid.uuid4().hex}{import_file_suffix(filename)}"
