"""Reading a product CSV: sniffing the file, parsing the header, validating rows.

Pure Python with no database access, so every rule here can be tested on its own. The reader
streams the file line by line and hands out rows in chunks; it keeps the byte offset and line
number of each chunk's end so an interrupted import can resume exactly there.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from catalog.models import NAME_MAX_LENGTH, SKU_MAX_LENGTH
from importer.upsert import staging_line

REQUIRED_COLUMNS = ("sku", "name")
OPTIONAL_COLUMNS = ("description",)
SNIFF_BYTES = 64 * 1024
# A single field may be large (long descriptions), but an unbalanced quote must not make the
# reader swallow the rest of a multi-gigabyte file into memory.
MAX_FIELD_BYTES = 32 * 1024 * 1024
UTF8_BOM = codecs.BOM_UTF8

csv.field_size_limit(MAX_FIELD_BYTES)


class FileRejected(Exception):
    """The file as a whole cannot be imported; nothing has been written.

    The message is meant for the person who chose the file.
    """


@dataclass(frozen=True)
class RowError:
    """A skipped row: its line number in the file (1 is the header), its SKU if any, and why."""

    line: int
    sku: str
    reason: str

    def as_dict(self) -> dict:
        return {"line": self.line, "sku": self.sku, "reason": self.reason}


@dataclass(frozen=True)
class CsvLayout:
    """What the header told us: where each known column is, and where the data starts."""

    sku_index: int
    name_index: int
    description_index: int | None
    field_count: int
    data_offset: int
    data_line: int


# Valid rows are gathered as text in small batches and encoded into the chunk's buffer, so a
# chunk costs about its size in bytes rather than a Python object per value.
_ENCODE_BATCH = 1024
# A chunk also ends once its rows hold this much text, so very long descriptions do not make a
# chunk (and the worker's memory) grow with them.
MAX_CHUNK_BYTES = 8 * 1024 * 1024


@dataclass
class Chunk:
    """A run of consecutive records, ready to be written in one transaction.

    ``copy_data`` holds the valid rows in the staging table's COPY format; ``errors`` the rows
    that were skipped. ``end_offset``/``end_line`` locate the first byte and line after it.
    """

    copy_data: bytearray = field(default_factory=bytearray)
    row_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    end_offset: int = 0
    end_line: int = 0
    _pending: list[str] = field(default_factory=list)

    def add_row(self, line: int, sku: str, name: str, description: str) -> None:
        pending = self._pending
        pending.append(staging_line(line, sku, name, description))
        self.row_count += 1
        if len(pending) >= _ENCODE_BATCH:
            self.copy_data += "".join(pending).encode("utf-8")
            pending.clear()

    def seal(self, *, end_offset: int, end_line: int) -> Chunk:
        if self._pending:
            self.copy_data += "".join(self._pending).encode("utf-8")
            self._pending.clear()
        self.end_offset, self.end_line = end_offset, end_line
        return self

    @property
    def record_count(self) -> int:
        return self.row_count + len(self.errors)


def resolve_encoding(name: str) -> str:
    """Return the canonical codec name for ``name``, or raise FileRejected if we cannot read it.

    The reader splits the file on newline bytes, so only encodings in which the newline, comma
    and quote are the ASCII bytes (UTF-8 and the single-byte code pages) are accepted.
    """
    try:
        info = codecs.lookup(name)
    except LookupError:
        raise FileRejected(
            f"Unknown encoding '{name}'. Use a name such as utf-8, cp1252 (Windows-1252) or latin-1."
        ) from None
    canonical = info.name
    if canonical.startswith(("utf-16", "utf-32")):
        raise FileRejected(
            f"Encoding '{name}' is not supported: save the file as UTF-8 CSV and upload it again."
        )
    if ",\"\r\n".encode(canonical) != b",\"\r\n":
        raise FileRejected(f"Encoding '{name}' is not supported: save the file as UTF-8 CSV.")
    return canonical


def _describe_encoding(codec_name: str) -> str:
    return "UTF-8" if codec_name == "utf-8" else codec_name


def sniff(head: bytes, *, encoding: str) -> None:
    """Reject files that are not CSV text at all, before anything is written.

    ``head`` is the first block of the file. Raises FileRejected with a message that says what
    the file seems to be and, for an encoding problem, which option to use.
    """
    if not head.strip():
        raise FileRejected("The file is empty: it has no header row and no products.")
    if head.startswith(b"\x1f\x8b"):
        raise FileRejected("The file is gzip-compressed. Decompress it and upload the .csv file.")
    if head.startswith(b"PK\x03\x04"):
        raise FileRejected(
            "The file is a ZIP archive (an .xlsx workbook is one). Export the sheet as CSV "
            "(comma-separated) and upload that."
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(
            "The file is UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8 "
            "(comma delimited)' and upload it again."
        )
    if b"\r" in head and b"\n" not in head:
        # Lines ended by CR alone (classic Mac OS, Excel's "CSV (Macintosh)"): the reader splits
        # lines on LF, so the whole file would be one line that csv cannot read.
        raise FileRejected(
            "The file's lines end with a carriage return only (the old Mac format). Save it as "
            "'CSV UTF-8 (comma delimited)', or with Windows (CRLF) or Unix (LF) line endings, and "
            "upload it again."
        )
    if b"\x00" in head:
        if _looks_like_utf16(head):
            # Without a BOM, UTF-16 is recognisable only by its pattern: ASCII characters (the
            # commas, digits and header names of any CSV) have a NUL in every other byte.
            raise FileRejected(
                "The file seems to be UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8 "
                "(comma delimited)' and upload it again."
            )
        raise FileRejected("This is not a CSV text file: it contains binary data.")
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    try:
        # final=False: a multi-byte character cut at the end of the block is not an error.
        decoder.decode(head, final=False)
    except UnicodeDecodeError as exc:
        bad = head[exc.start : exc.start + 1].hex()
        hint = (
            " If it was saved by Excel or another older program, choose its encoding, "
            "for example cp1252 (Windows-1252) or latin-1, with the 'encoding' option."
            if encoding == "utf-8"
            else " Choose the encoding the file was saved with, using the 'encoding' option."
        )
        raise FileRejected(
            f"The file is not valid {_describe_encoding(encoding)} text (byte 0x{bad} at "
            f"position {exc.start}).{hint}"
        ) from None


def _looks_like_utf16(head: bytes) -> bool:
    sample = head[:4096]
    evens, odds = sample[0::2], sample[1::2]
    if len(odds) < 2:
        return False
    for nul_side, other_side in ((odds, evens), (evens, odds)):
        if nul_side.count(0) >= len(nul_side) / 2 and other_side.count(0) <= len(other_side) / 20:
            return True
    return False


def parse_header(file: BinaryIO, *, encoding: str) -> CsvLayout:
    """Read and check the header row at the start of ``file``; leave the file after it."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    sniff(head, encoding=encoding)
    file.seek(0)
    first = file.readline()
    offset = len(first)
    line = 1
    if first.startswith(UTF8_BOM):
        first = first[len(UTF8_BOM) :]
    text = first.decode(encoding, errors="replace")
    # A quoted header name may contain a newline; keep reading physical lines until the record ends.
    while _open_quote(text):
        more = file.readline()
        if not more:
            break
        offset += len(more)
        line += 1
        text += more.decode(encoding, errors="replace")
    try:
        records = list(csv.reader([text]))
    except csv.Error as exc:
        # Found by the bad-input corpus: left alone, this failed the job as "unexpected error".
        raise FileRejected(f"The header row {csv_error_reason(exc)}.") from None
    header = records[0] if records else []
    names = [name.strip().lower() for name in header]

    duplicated = sorted({n for n in names if n in REQUIRED_COLUMNS + OPTIONAL_COLUMNS and names.count(n) > 1})
    if duplicated:
        raise FileRejected(
            "The header names the column(s) " + ", ".join(f"'{n}'" for n in duplicated)
            + " more than once; keep one of each."
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        shown = text.strip()[:200]
        message = (
            "The header is missing the required column(s) "
            + ", ".join(f"'{m}'" for m in missing)
            + f". Expected a comma-separated header such as 'sku,name,description'; found '{shown}'."
        )
        for separator, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if len(header) == 1 and separator in header[0]:
                message += f" The file seems to be separated by {label}: save it with commas."
                break
        raise FileRejected(message)
    return CsvLayout(
        sku_index=names.index("sku"),
        name_index=names.index("name"),
        description_index=names.index("description") if "description" in names else None,
        field_count=len(names),
        data_offset=offset,
        data_line=line,
    )


def csv_error_reason(exc: csv.Error) -> str:
    """Why ``csv`` could not read a record, worded for the person who made the file.

    Python's own message for a bare carriage return mentions "universal-newline mode", which
    means nothing to them.
    """
    if "new-line character seen in unquoted field" in str(exc):
        return (
            "could not be read as CSV: it has a line break (a carriage return) inside a field "
            "that is not in double quotes"
        )
    return f"could not be read as CSV: {exc}"


def _open_quote(text: str) -> bool:
    return text.count('"') % 2 == 1


def _raw_lines(file: BinaryIO) -> Iterator[bytes]:
    """The lines of ``file`` from its current position, each with its newline.

    Not ``for line in file``: Django's ``File`` (what a job's FieldFile opens) iterates from byte 0
    whatever the position, which would re-read the header as data and defeat resuming.
    """
    return iter(file.readline, b"")


COUNT_REPORT_BYTES = 16 * 1024 * 1024


def count_records(
    file: BinaryIO, *, start_offset: int, on_progress: Callable[[int], None] | None = None
) -> int:
    """Count the data records after ``start_offset`` without parsing them.

    Quote parity per line tells whether a newline ends a record or sits inside a quoted field;
    blank lines are not records. Fast enough (~1 s per million lines) to give a real total
    before the import starts; ``on_progress(offset)`` is called every 16 MiB so a very large
    file still shows signs of life while it is counted.
    """
    file.seek(start_offset)
    records = 0
    in_quotes = False
    offset = start_offset
    next_report = offset + COUNT_REPORT_BYTES
    for raw in _raw_lines(file):
        offset += len(raw)
        if raw.count(b'"') & 1:
            in_quotes = not in_quotes
        if not in_quotes and raw.strip(b"\r\n"):
            records += 1
        if on_progress is not None and offset >= next_report:
            next_report = offset + COUNT_REPORT_BYTES
            on_progress(offset)
    file.seek(start_offset)
    return records


class RowReader:
    """Streams the records of a CSV file in chunks, validating each row.

    The underlying ``csv.reader`` pulls one physical line at a time from ``_lines()``, so
    ``self._offset`` is always the byte offset just past the last record returned.
    """

    def __init__(
        self,
        file: BinaryIO,
        *,
        layout: CsvLayout,
        encoding: str,
        start_offset: int,
        start_line: int,
    ) -> None:
        self._file = file
        self._layout = layout
        self._encoding = encoding
        self._offset = start_offset
        self._line = start_line
        # Lines whose bytes were unusable, by line number, with the reason.
        self._bad_lines: dict[int, str] = {}
        # Set once the file has no more lines. Every line handed to csv ends with a newline, so a
        # record returned after that was still inside a quoted field when the file ended.
        self._exhausted = False

    def _lines(self) -> Iterator[str]:
        encoding = self._encoding
        self._file.seek(self._offset)
        line = self._line
        for raw in _raw_lines(self._file):
            line += 1
            self._offset += len(raw)
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError as exc:
                self._bad_lines[line] = (
                    f"contains bytes that are not valid {_describe_encoding(encoding)} "
                    f"(0x{raw[exc.start:exc.start + 1].hex()})"
                )
                text = raw.decode(encoding, errors="replace")
            if "\x00" in text:
                # PostgreSQL text cannot hold NUL characters.
                self._bad_lines[line] = "contains a NUL character"
                text = text.replace("\x00", "")
            if not text.endswith("\n"):
                # Only the last line can lack its newline; adding one makes csv end the record
                # at the line's end like any other, unless a quote is still open.
                text += "\n"
            yield text
        self._exhausted = True

    def chunks(self, chunk_size: int) -> Iterator[Chunk]:
        """Yield chunks of up to ``chunk_size`` records until the file ends.

        ``self.chunk_rows``, when set, lowers the size of the chunks still to come: the pipeline
        uses it to keep each chunk's commit about a second apart on a slow or busy machine.
        """
        self.chunk_rows = chunk_size
        layout = self._layout
        sku_i, name_i, desc_i = layout.sku_index, layout.name_index, layout.description_index
        field_count = layout.field_count
        bad_lines = self._bad_lines
        base_line = self._line
        reader = csv.reader(self._lines(), strict=False)
        chunk = Chunk()
        add_row, errors = chunk.add_row, chunk.errors
        previous_end = 0
        while True:
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start = base_line + previous_end + 1
                previous_end = reader.line_num
                errors.append(RowError(start, "", csv_error_reason(exc)))
                record = None
            else:
                start = base_line + previous_end + 1
                end = reader.line_num
                previous_end = end
                if self._exhausted:
                    # Without this, csv (non-strict) silently returns the open quoted field with
                    # the rest of the file inside it, which could even import as a valid row.
                    errors.append(self._unclosed_quote_error(record, start, base_line + end))
                elif len(record) != field_count:
                    if not any(value.strip() for value in record):
                        continue  # a blank line, or one of only commas: nothing to import
                    errors.append(self._field_count_error(record, start, base_line + end))
                else:
                    sku = record[sku_i].strip()
                    name = record[name_i].strip()
                    description = record[desc_i] if desc_i is not None else ""
                    reason = None
                    if bad_lines:
                        reason = self._bad_line_reason(start, base_line + end)
                    if reason is None:
                        if not sku:
                            if not name and not any(value.strip() for value in record):
                                continue
                            reason = "SKU is empty"
                        elif not name:
                            reason = "name is empty"
                        elif len(sku) > SKU_MAX_LENGTH:
                            reason = f"SKU is longer than {SKU_MAX_LENGTH} characters ({len(sku)})"
                        elif len(name) > NAME_MAX_LENGTH:
                            reason = f"name is longer than {NAME_MAX_LENGTH} characters ({len(name)})"
                    if reason is None:
                        add_row(start, sku, name, description)
                    else:
                        errors.append(RowError(start, sku[:SKU_MAX_LENGTH], reason))
            if chunk.row_count + len(errors) >= self.chunk_rows or len(chunk.copy_data) >= MAX_CHUNK_BYTES:
                yield chunk.seal(end_offset=self._offset, end_line=base_line + previous_end)
                chunk = Chunk()
                add_row, errors = chunk.add_row, chunk.errors
        if chunk.record_count:
            yield chunk.seal(end_offset=self._offset, end_line=base_line + previous_end)

    def _bad_line_reason(self, first: int, last: int) -> str | None:
        for line in range(first, last + 1):
            reason = self._bad_lines.pop(line, None)
            if reason is not None:
                for other in range(line + 1, last + 1):
                    self._bad_lines.pop(other, None)
                return reason
        return None

    def _unclosed_quote_error(self, record: list[str], first: int, last: int) -> RowError:
        self._bad_line_reason(first, last)
        sku = record[self._layout.sku_index].strip() if len(record) > self._layout.sku_index else ""
        reason = (
            f"has a quote that is never closed: the record runs from line {first} to the end of "
            f"the file (line {last}), so none of those lines was imported"
        )
        return RowError(first, sku[:SKU_MAX_LENGTH], reason)

    def _field_count_error(self, record: list[str], first: int, last: int) -> RowError:
        self._bad_line_reason(first, last)
        sku = record[self._layout.sku_index].strip() if len(record) > self._layout.sku_index else ""
        reason = f"expected {self._layout.field_count} fields, found {len(record)}"
        if last > first:
            reason += (
                f" (the record runs from line {first} to line {last}; check for an unbalanced "
                "quote)"
            )
        return RowError(first, sku[:SKU_MAX_LENGTH], reason)
