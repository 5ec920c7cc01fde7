"""A read-only, seekable file over an object that is fetched a range of bytes at a time.

The worker reads an import file from object storage through this: memory stays bounded by one
range whatever the file's size, and a seek costs nothing until the next read, so a resumed import
that seeks to its ``resume_offset`` never downloads the bytes before it. Reads right after a seek
start small (the header is a few hundred bytes) and grow, read after sequential read, up to
``max_range_bytes``, so a sequential scan makes few requests.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterable

logger = logging.getLogger(__name__)

FIRST_RANGE_BYTES = 64 * 1024
# A range whose body breaks off mid-way (a dropped connection) is fetched again, this many times.
FETCH_ATTEMPTS = 3


class RangedReader(io.RawIOBase):
    """``fetch(start, end)`` yields bytes ``[start, end)`` of an object of ``size`` bytes, in
    pieces: they are copied into the reader's buffer as they arrive, so a range is never held
    twice (once whole as bytes, once in the buffer).

    Wrap it in ``io.BufferedReader(reader, buffer_size=max_range_bytes)``: the buffered reader's
    C ``readline`` and small reads are then served from one range in memory. ``requests`` and
    ``bytes_fetched`` count what was downloaded (tests and benchmarks read them).
    """

    def __init__(
        self,
        fetch: Callable[[int, int], Iterable[bytes]],
        *,
        size: int,
        max_range_bytes: int,
        retry_on: tuple[type[BaseException], ...] = (),
    ) -> None:
        super().__init__()
        self._fetch = fetch
        self._size = size
        self._max_range = max(max_range_bytes, FIRST_RANGE_BYTES)
        self._next_range = FIRST_RANGE_BYTES
        self._retry_on = retry_on
        self._position = 0
        self._kept: tuple[int, bytes] = (0, b"")
        self.requests = 0
        self.bytes_fetched = 0

    @property
    def size(self) -> int:
        return self._size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence!r}")
        if position < 0:
            raise OSError("negative seek position")
        if position != self._position:
            self._next_range = FIRST_RANGE_BYTES  # a jump: the next read starts small again
        self._position = position
        return position

    def readinto(self, buffer) -> int:
        if self._position >= self._size or not len(buffer):
            return 0
        kept_start, kept = self._kept
        target = memoryview(buffer).cast("B")
        if kept_start <= self._position < kept_start + len(kept):
            # The start of the file is read several times (sniffing, the header, the scan):
            # the small first range stays, so those reads cost one request.
            data = kept[self._position - kept_start:self._position - kept_start + len(target)]
            got = len(data)
            target[:got] = data
        else:
            want = min(len(target), self._next_range, self._size - self._position)
            got = self._fetch_into(target[:want], self._position)
            if self._position == 0 and want <= FIRST_RANGE_BYTES:
                self._kept = (0, bytes(target[:got]))
            self._next_range = min(self._next_range * 2, self._max_range)
        self._position += got
        return got

    def readall(self) -> bytes:
        # RawIOBase's own reads 8 KiB at a time: one request each.
        pieces = []
        buffer = bytearray(self._max_range)
        while got := self.readinto(buffer):
            pieces.append(bytes(buffer[:got]))
        return b"".join(pieces)

    def _fetch_into(self, target: memoryview, start: int) -> int:
        """Fill ``target`` with the bytes from ``start`` on; a range that breaks off is fetched again."""
        end = start + len(target)
        for attempt in range(1, FETCH_ATTEMPTS + 1):
            got = 0
            try:
                for piece in self._fetch(start, end):
                    target[got:got + len(piece)] = piece
                    got += len(piece)
            except self._retry_on:
                if attempt == FETCH_ATTEMPTS:
                    raise
                logger.warning("Reading bytes %s-%s broke off; fetching them again", start, end,
                               exc_info=True)
                continue
            self.requests += 1
            self.bytes_fetched += got
            if got != len(target):
                raise OSError(f"bytes {start:,}-{end:,} of the object came back as {got:,} bytes")
            return got
        raise AssertionError("unreachable")


def buffered_ranged_reader(reader: RangedReader, *, buffer_bytes: int) -> io.BufferedReader:
    """``reader`` behind a buffer of one range (see ``RangedReader``)."""
    return io.BufferedReader(reader, buffer_size=buffer_bytes)
