"""Reading: the file's records, one at a time, each with the lines it came from.

The reader streams the file line by line through ``csv`` and keeps ``offset``, the byte offset just
past the last record it returned, and ``line``, the last line it read, so a chunk can end exactly
between two records and an interrupted import can resume there. It judges nothing but what makes
a record unreadable (see ``Record``); the rules for a product row are in ``validation``.

Whatever the file, reading is linear in its size and bounded in memory: no line is read whole
past ``MAX_RECORD_BYTES``, and a record that grows past it (one endless line, or a quote that never
closes) is skipped to its end by counting quotes, a block at a time, and reported as one row error.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

from importer.pipeline.header import MAX_RECORD_BYTES, csv_error_reason, describe_encoding, raw_lines

# How much of an over-long record is read at a time while skipping it.
SKIP_BLOCK_BYTES = 1024 * 1024

# One CSV record: ``(fields, line, last_line, problem, damage)``, its fields and its first and last
# physical line (1 is the header). ``problem`` says why the record could not be read as CSV at all
# (``fields`` is then None, or for an unclosed quote, whatever csv gathered up to the end of the
# file). ``damage`` says why one of its lines is not clean text: bytes invalid in the file's
# encoding, or a NUL, which PostgreSQL text cannot hold. A plain tuple, not a NamedTuple: the reader
# makes one per row, and a NamedTuple costs several times as much to make and to read.
Record = tuple[list[str] | None, int, int, str | None, str | None]


class ReadingStopped(Exception):
    """Raised inside the reader once ``RecordReader.stop()`` was called (the import was stopped)."""


class RecordReader:
    """Iterates the records of ``file`` from ``start_offset`` (the first data line is ``start_line + 1``).

    Records longer than ``max_record_bytes`` are reported as unreadable without being held.
    ``stop()`` may be called from another thread: a reader skipping an over-long record then ends
    within one block read (elsewhere the consumer stops it between chunks, which are short).
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        encoding: str,
        start_offset: int,
        start_line: int,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self._file = file
        self._encoding = encoding
        self._limit = max_record_bytes
        self.offset = start_offset
        self.line = start_line
        # Where the record csv is reading began.
        self._record_start = start_offset
        # The first unclean line since the last record was returned: it belongs to the next one,
        # because csv pulls the lines of one record only.
        self._damage: str | None = None
        # Set once the file has no more lines. Every line handed to csv ends with a newline, so a
        # record returned after that was still inside a quoted field when the file ended.
        self._exhausted = False
        # Set when a record outgrew the limit: (its last line, whether the file ended inside it).
        self._overlong: tuple[int, bool] | None = None
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def _lines(self) -> Iterator[str]:
        encoding, limit = self._encoding, self._limit
        self._file.seek(self.offset)
        line = self.line  # a csv reader starts right after the last record returned
        # Pieces one byte longer than the limit: a piece without its newline is then always either
        # the file's last line or a record already too long, never a line cut in two.
        for raw in raw_lines(self._file, limit=limit + 1):
            self.offset += len(raw)
            if self.offset - self._record_start > limit:
                self._overlong = self._skip_overlong(line, ends_line=raw.endswith(b"\n"))
                return  # csv's input ends here; __iter__ reports the record and starts a new csv
            line += 1
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                if self._damage is None:
                    self._damage = (
                        f"contains bytes that are not valid {describe_encoding(encoding)} "
                        f"(0x{raw[exc.start:exc.start + 1].hex()})"
                    )
                text = raw.decode(encoding, errors="replace")
            if "\x00" in text:
                if self._damage is None:
                    self._damage = "contains a NUL character"
                text = text.replace("\x00", "")
            if not text.endswith("\n"):
                # Only the last line can lack its newline; adding one makes csv end the record
                # at the line's end like any other, unless a quote is still open.
                text += "\n"
            yield text
        self._exhausted = True

    def _skip_overlong(self, line: int, *, ends_line: bool) -> tuple[int, bool]:
        """Move past the rest of a record that outgrew the limit; ``line`` lines were read before
        the piece that crossed it (which ``ends_line`` or not). Returns the record's last line and
        whether the file ended inside a quoted field.

        Where the record ends is decided the way the scan counts records: a newline ends it when
        the quotes since its start are balanced. The bytes already read are read again for that
        count (at most the limit), so the common path pays nothing for it.
        """
        file = self._file
        end = self.offset
        file.seek(self._record_start)
        quotes = 0
        position = self._record_start
        while position < end:
            block = file.read(min(SKIP_BLOCK_BYTES, end - position))
            quotes += block.count(b'"')
            position += len(block)
        if ends_line:
            line += 1
            if not quotes & 1:
                return line, False
        while True:
            if self._stopped:
                raise ReadingStopped
            piece = file.readline(SKIP_BLOCK_BYTES)
            if not piece:
                return line + (0 if ends_line else 1), bool(quotes & 1)
            self.offset += len(piece)
            quotes += piece.count(b'"')
            ends_line = piece.endswith(b"\n")
            if ends_line:
                line += 1
                if not quotes & 1:
                    return line, False

    def __iter__(self) -> Iterator[Record]:
        try:
            while True:
                yield from self._records()
                if self._overlong is None:
                    return
                last, unclosed = self._overlong
                self._overlong = None
                yield self._overlong_record(self.line + 1, last, unclosed=unclosed)
        except ReadingStopped:
            return

    def _records(self) -> Iterator[Record]:
        """The records one csv reader finds, until the file ends or a record outgrows the limit."""
        base = self.line
        reader = csv.reader(self._lines(), strict=False)
        previous_end = 0
        while True:
            try:
                fields = next(reader)
                problem = None
            except StopIteration:
                return
            except csv.Error as exc:
                fields, problem = None, csv_error_reason(exc)
            if self._overlong is not None:
                return  # what csv gathered is the start of the record that outgrew the limit
            first = base + previous_end + 1
            previous_end = reader.line_num
            self.line = last = base + previous_end
            if problem is None and self._exhausted:
                # Without this, csv (non-strict) silently returns the open quoted field with the
                # rest of the file inside it, which could even import as a valid row.
                problem = _unclosed_quote(first, last)
            damage, self._damage = self._damage, None
            self._record_start = self.offset
            yield fields, first, last, problem, damage

    def _overlong_record(self, first: int, last: int, *, unclosed: bool) -> Record:
        self.line = last
        self._record_start = self.offset
        self._damage = None
        if unclosed:
            problem = _unclosed_quote(first, last)
        else:
            limit = self._limit
            size = f"{limit // 1024:,} KB" if limit % (1024 * 1024) else f"{limit >> 20:,} MB"
            problem = f"is longer than {size}, more than a product row can hold"
            if last > first:
                problem += f" (lines {first} to {last})"
        return None, first, last, problem, None


def _unclosed_quote(first: int, last: int) -> str:
    return (
        f"has a quote that is never closed: the record runs from line {first} to the end of the "
        f"file (line {last}), so none of those lines was imported"
    )
