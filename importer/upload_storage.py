"""The stored objects of resumable uploads: their names, and streaming them in small pieces.

A part is ``uploads/<id>/<offset>-<random>.part``; an assembled file is
``imports/<date>/<id><suffix>``, where import jobs read it. Bodies and parts are copied in
``COPY_BUFFER_SIZE`` pieces, so memory stays flat whatever the file's size. A backend that can
concatenate stored objects itself (object storage: ``importer.s3_storage``) assembles the file
without the bytes passing through this process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import IO

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from importer.models import Upload
from importer.storage import import_file_suffix, storage_save_or_full

logger = logging.getLogger(__name__)

COPY_BUFFER_SIZE = 1024 * 1024


def parts_prefix(upload: Upload) -> str:
    return f"uploads/{upload.id.hex}"


class BodyPart(File):
    """Exactly ``size`` bytes of a request body, handed to storage in small pieces.

    Storage backends either iterate ``chunks()`` or ``read()`` in pieces; neither ever holds more
    than ``COPY_BUFFER_SIZE`` bytes. ``received`` counts what actually arrived.
    """

    def __init__(self, stream: IO[bytes], size: int) -> None:
        super().__init__(stream, name="part")
        self.size = size
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        remaining = self.size - self.received
        if remaining <= 0:
            return b""
        size = remaining if size is None or size < 0 else min(size, remaining)
        data = self.file.read(size)
        self.received += len(data)
        return data

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        while data := self.read(chunk_size or COPY_BUFFER_SIZE):
            yield data

    def seek(self, offset: int, whence: int = 0) -> int:
        # Storage backends rewind before reading; a request body can only be read once.
        if offset == 0 and whence == 0 and self.received == 0:
            return 0
        raise OSError("a request body cannot be rewound")

    def tell(self) -> int:
        return self.received


class ConcatenatedParts(File):
    """The parts of an upload read one after another, as one file, in small pieces."""

    def __init__(self, names: list[str], size: int) -> None:
        super().__init__(None, name="upload")
        self.names = names
        self.size = size

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        for name in self.names:
            with default_storage.open(name, "rb") as handle:
                while data := handle.read(chunk_size or COPY_BUFFER_SIZE):
                    yield data

    def open(self, mode=None):
        return self

    def close(self) -> None:
        pass


def store_concatenated(name: str, parts: list[tuple[str, int]], *, size: int) -> str:
    """Store the part objects ``parts`` ([(name, size)], in order) as one file ``name``; return
    its stored name. The parts stay; the caller deletes them once the file is recorded."""
    concatenate = getattr(default_storage, "concatenate", None)
    if concatenate is not None:
        return concatenate(name, parts)
    return storage_save_or_full(default_storage, name, ConcatenatedParts([part for part, _ in parts], size))


def assembled_name(upload: Upload) -> str:
    return f"imports/{timezone.now():%Y/%m/%d}/{upload.id.hex}{import_file_suffix(upload.filename)}"


def delete_stored(names: list[str], *, prefix: str | None = None) -> None:
    """Delete stored objects, then anything left under ``prefix`` (parts of crashed requests)."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("Could not delete stored upload object %s", name, exc_info=True)
    if prefix is None:
        return
    try:
        _, files = default_storage.listdir(prefix)
    except (FileNotFoundError, NotImplementedError):
        files = []
    for file in files:
        default_storage.delete(f"{prefix}/{file}")
    try:
        # A local folder outlives its files; object stores have no folders (path() is unsupported).
        os.rmdir(default_storage.path(prefix))
    except (NotImplementedError, OSError):
        pass
