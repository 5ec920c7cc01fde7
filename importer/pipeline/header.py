"""Opening a file: can it be read at all, and what does its header say?

Everything here runs before a single row is read, so a file that cannot be imported is refused
with a message for the person who chose it and nothing is written: the encoding is checked, the
first block is sniffed for things that are not CSV text (archives, UTF-16, old Mac line ends,
binary data), and the header row is parsed into a ``CsvLayout``.
"""

from __future__ import annotations

import codecs
import csv
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

REQUIRED_COLUMNS = ("sku", "name")
OPTIONAL_COLUMNS = ("description",)
SNIFF_BYTES = 64 * 1024
# The bounds that keep reading linear in the file's size and bounded in memory, whatever the file.
# A header is a few hundred bytes (a shop system's export with fifty columns, about 2 KB): one
# longer than this is refused, which is also where a header's unclosed quote is caught.
MAX_HEADER_BYTES = 64 * 1024
# A record (all the physical lines of one CSV row) longer than this is a row error, found without
# ever holding it whole. A valid row is far smaller: a 20,000-character description is at most
# 80 KB even in UTF-8's widest characters. It also bounds what csv builds for one record (a line
# of a million one-letter fields is a list of a million strings).
MAX_RECORD_BYTES = 1024 * 1024
UTF8_BOM = codecs.BOM_UTF8

# csv's own limit counts characters, which are never more than bytes: the record bound comes first.
csv.field_size_limit(MAX_RECORD_BYTES)


class FileRejected(Exception):
    """The file as a whole cannot be imported; nothing has been written.

    The message is meant for the person who chose the file.
    """


@dataclass(frozen=True)
class CsvLayout:
    """What the header told us: where each known column is, and where the data starts."""

    sku_index: int
    name_index: int
    description_index: int | None
    field_count: int
    data_offset: int
    data_line: int


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


def describe_encoding(codec_name: str) -> str:
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
            f"The file is not valid {describe_encoding(encoding)} text (byte 0x{bad} at "
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
    text, offset, line = _header_record(file, encoding=encoding)
    try:
        records = list(csv.reader([text]))
    except csv.Error as exc:
        raise FileRejected(f"The header row {csv_error_reason(exc)}.") from None
    header = records[0] if records else []
    names = [name.strip().lower() for name in header]

    occurrences = Counter(names)
    duplicated = sorted(n for n in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if occurrences[n] > 1)
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


def _header_record(file: BinaryIO, *, encoding: str) -> tuple[str, int, int]:
    """The header record's text, the byte offset just after it and its last line.

    A quoted header name may contain a newline, so physical lines are read until the quotes
    balance, counting only each new line's quotes (re-counting the growing text made a header with
    an unclosed quote quadratic), and never more than ``MAX_HEADER_BYTES``.
    """
    file.seek(0)
    parts: list[bytes] = []
    offset = line = 0
    open_quote = False
    while True:
        raw = file.readline(MAX_HEADER_BYTES + 1 - offset)
        if not raw:
            break
        parts.append(raw)
        offset += len(raw)
        line += 1
        if raw.count(b'"') & 1:
            open_quote = not open_quote
        if offset > MAX_HEADER_BYTES:
            why = (
                f"has a quote that is not closed within its first {MAX_HEADER_BYTES // 1024} KB "
                f"(by line {line})" if open_quote else "has no line break"
            )
            raise FileRejected(
                f"The header row is longer than {MAX_HEADER_BYTES // 1024} KB: it {why}. The first "
                "line should name the columns, such as 'sku,name,description'."
            )
        if not open_quote and raw.endswith(b"\n"):
            break
    head = b"".join(parts)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM) :]
    return head.decode(encoding, errors="replace"), offset, max(line, 1)


def raw_lines(file: BinaryIO, *, limit: int) -> Iterator[bytes]:
    """The lines of ``file`` from its current position, each with its newline, in pieces of at
    most ``limit`` bytes (only the last piece of a line ends with its newline).

    Not ``for line in file``: Django's ``File`` (what a job's FieldFile opens) iterates from byte 0
    whatever the position, which would re-read the header as data and defeat resuming.
    """
    return iter(lambda: file.readline(limit), b"")
