"""Reading: the file's records, one at a time, each with the lines it came from.

The reader streams the file line by line through ``csv`` and keeps ``offset``, the byte offset just
past the last record it returned, and ``line``, the last line it read, so a chunk can end exactly
between two records and an interrupted import can resume there. It judges nothing but what makes
a record unreadable (see ``Record``); the rules for a product row are in ``validation``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import BinaryIO

from importer.pipeline.header import csv_error_reason, describe_encoding, raw_lines

# One CSV record: ``(fields, line, last_line, problem, damage)``, its fields and its first and last
# physical line (1 is the header). ``problem`` says why the record could not be read as CSV at all
# (``fields`` is then None, or for an unclosed quote, whatever csv gathered up to the end of the
# file). ``damage`` says why one of its lines is not clean text: bytes invalid in the file's
# encoding, or a NUL, which PostgreSQL text cannot hold. A plain tuple, not a NamedTuple: the reader
# makes one per row, and a NamedTuple costs several times as much to make and to read.
Record = tuple[list[str] | None, int, int, str | None, str | None]


class RecordReader:
    """Iterates the records of ``file`` from ``start_offset`` (the first data line is ``start_line + 1``)."""

    def __init__(self, file: BinaryIO, *, encoding: str, start_offset: int, start_line: int) -> None:
        self._file = file
        self._encoding = encoding
        self.offset = start_offset
        self.line = start_line
        # The first unclean line since the last record was returned: it belongs to the next one,
        # because csv pulls the lines of one record only.
        self._damage: str | None = None
        # Set once the file has no more lines. Every line handed to csv ends with a newline, so a
        # record returned after that was still inside a quoted field when the file ended.
        self._exhausted = False

    def _lines(self) -> Iterator[str]:
        encoding = self._encoding
        self._file.seek(self.offset)
        line = self.line
        for raw in raw_lines(self._file):
            line += 1
            self.offset += len(raw)
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

    def __iter__(self) -> Iterator[Record]:
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
            first = base + previous_end + 1
            previous_end = reader.line_num
            self.line = last = base + previous_end
            if problem is None and self._exhausted:
                # Without this, csv (non-strict) silently returns the open quoted field with the
                # rest of the file inside it, which could even import as a valid row.
                problem = (
                    f"has a quote that is never closed: the record runs from line {first} to the "
                    f"end of the file (line {last}), so none of those lines was imported"
                )
            damage, self._damage = self._damage, None
            yield fields, first, last, problem, damage
