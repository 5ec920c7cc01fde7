"""Opening a file: can it be read at all, and what does its header say?

Everything here runs before a single row is read, so a file that cannot be imported is refused
with a message for the person who chose it and nothing is written: the encoding is checked, the
first block is sniffed for things that are not CSV text (archives, UTF-16, old Mac line ends,
binary data), and the header row is parsed into a ``CsvLayout``.
"""

from __future__ import annotations

import codecs
import csv
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

REQUIRED_COLUMNS = ("sku", "name")
OPTIONAL_COLUMNS = ("description", "is_active")
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


@dataclass(frozen=True)
class Wording:
    """The words a rejection uses for what its reader can do, which depend on where they are.

    A person in the web UI or using the API chooses the encoding with the upload's ``encoding``
    field and sends a file by uploading it; an operator running ``manage.py import_products``
    does both on the command line.
    """

    encoding_option: str
    send: str


API_WORDING = Wording(encoding_option="the 'encoding' option", send="upload")
CLI_WORDING = Wording(encoding_option="--encoding", send="import")


class FileRejected(Exception):
    """The file as a whole cannot be imported; nothing has been written.

    The message is meant for the person who chose the file. It is a ``str.format`` template whose
    ``{encoding_option}`` and ``{send}`` fields are filled from a ``Wording``: ``str(exc)`` is the
    API's wording (what a job's message stores), ``exc.worded(CLI_WORDING)`` the command line's.
    Text that comes from the file or the request goes in ``values``, never into the template, so
    braces in it are shown as they are.
    """

    def __init__(self, template: str, /, **values: object) -> None:
        self.template = template
        self.values = values
        super().__init__(self.worded(API_WORDING))

    def worded(self, wording: Wording) -> str:
        try:
            return self.template.format(
                encoding_option=wording.encoding_option, send=wording.send, **self.values
            )
        except (KeyError, IndexError, ValueError):
            # A message built elsewhere as plain text (an f-string with braces from the file):
            # it has no fields to fill, so it is shown as it is.
            return self.template

    def __reduce__(self):
        # Pickles (a Celery failure, a subprocess) as the template and values, not the API text.
        return (_rebuild_file_rejected, (self.template, self.values))


def _rebuild_file_rejected(template: str, values: dict) -> FileRejected:
    return FileRejected(template, **values)


@dataclass(frozen=True)
class CsvLayout:
    """What the header told us: where each known column is, and where the data starts."""

    sku_index: int
    name_index: int
    description_index: int | None
    # Present: each row says whether its product is active (validation.ACTIVE_VALUES). Absent: a
    # new product is active and an existing one keeps its state.
    is_active_index: int | None
    field_count: int
    data_offset: int
    data_line: int


# A CSV file is read as text in which every ASCII character is itself: the reader splits lines on
# the newline byte and csv looks for the ASCII comma and quote. An encoding is accepted only if it
# decodes and encodes all of ASCII unchanged, which refuses the codecs Python has that are not
# file encodings at all: byte transforms (zlib, base64, hex, uu, bz2, quopri), rot13, and text
# codecs that give ASCII bytes another meaning (utf-7's "+", raw_unicode_escape's and
# unicode_escape's backslash sequences, HZ's "~{", idna, punycode, "undefined", EBCDIC code pages).
# Backslash and tilde may decode to something else: JIS-based Japanese encodings (Shift_JIS-2004)
# write the yen sign and the overline there, and a CSV needs neither.
_ASCII_PROBE = bytes(range(128)) + b"\\u00e9\\x41+AGE-~{x~}"
_ASCII_PROBE_TEXT = _ASCII_PROBE.decode("ascii")
_ASCII_REMAPPABLE = "\\~"
_ASCII_EXACT = bytes(byte for byte in range(128) if chr(byte) not in _ASCII_REMAPPABLE)


def resolve_encoding(name: str) -> str:
    """Return the canonical codec name for ``name``, or raise FileRejected if we cannot read it.

    The reader splits the file on newline bytes, so only encodings in which ASCII is ASCII (UTF-8,
    the single-byte code pages and the ASCII-compatible multi-byte ones) are accepted.
    """
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        # ValueError: a name with a NUL character in it.
        raise FileRejected(
            "Unknown encoding '{name}'. Use a name such as utf-8, cp1252 (Windows-1252) or latin-1.",
            name=_shown(name),
        ) from None
    canonical = info.name
    if canonical == "utf-8-sig":
        # UTF-8 with a BOM is what the default reads already (the BOM is skipped).
        return "utf-8"
    if canonical.startswith(("utf-16", "utf-32")):
        raise FileRejected(
            "Encoding '{name}' is not supported: save the file as UTF-8 CSV and {send} it again.",
            name=_shown(name),
        )
    # The codec's own flag, by which str.encode itself refuses non-text codecs ("'rot-13' is not
    # a text encoding"): asked before trying the codec on the probe.
    if not getattr(info, "_is_text_encoding", True):
        raise FileRejected(
            "'{name}' is not a text encoding (it transforms bytes or text, it does not read "
            "a file's characters). Choose the encoding the file was saved with, using "
            "{encoding_option}: for example utf-8, cp1252 (Windows-1252) or latin-1.",
            name=_shown(name),
        )
    if not _keeps_ascii(canonical):
        raise FileRejected(
            "Encoding '{name}' is not supported: it does not read plain ASCII characters as "
            "themselves. Save the file as UTF-8 CSV, or choose an encoding such as cp1252 "
            "(Windows-1252) or latin-1 with {encoding_option}.",
            name=_shown(name),
        )
    return canonical


def _shown(name: str) -> str:
    """``name`` as a message quotes it: printable and short, whatever was sent."""
    shown = name[:40] if name.isprintable() else repr(name[:40])[1:-1]
    return shown + "…" if len(name) > 40 else shown


def _keeps_ascii(codec_name: str) -> bool:
    """Whether ``codec_name`` decodes and encodes ASCII unchanged (see ``_ASCII_PROBE``)."""
    try:
        with warnings.catch_warnings():
            # unicode_escape warns of the probe's "\\]" ("invalid escape sequence") before failing it.
            warnings.simplefilter("ignore", DeprecationWarning)
            decoded = _ASCII_PROBE.decode(codec_name)
            encoded = _ASCII_EXACT.decode("ascii").encode(codec_name)
    except (UnicodeError, ValueError, LookupError, TypeError):
        return False
    if len(decoded) != len(_ASCII_PROBE_TEXT) or encoded != _ASCII_EXACT:
        return False
    pairs = zip(decoded, _ASCII_PROBE_TEXT, strict=True)
    return all(got == want or want in _ASCII_REMAPPABLE for got, want in pairs)


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
        raise FileRejected("The file is gzip-compressed. Decompress it and {send} the .csv file.")
    if head.startswith(b"PK\x03\x04"):
        raise FileRejected(
            "The file is a ZIP archive (an .xlsx workbook is one). Export the sheet as CSV "
            "(comma-separated) and {send} that."
        )
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRejected(
            "The file is UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8 "
            "(comma delimited)' and {send} it again."
        )
    if b"\r" in head and b"\n" not in head:
        # Lines ended by CR alone (classic Mac OS, Excel's "CSV (Macintosh)"): the reader splits
        # lines on LF, so the whole file would be one line that csv cannot read.
        raise FileRejected(
            "The file's lines end with a carriage return only (the old Mac format). Save it as "
            "'CSV UTF-8 (comma delimited)', or with Windows (CRLF) or Unix (LF) line endings, and "
            "{send} it again."
        )
    if b"\x00" in head:
        if _looks_like_utf16(head):
            # Without a BOM, UTF-16 is recognisable only by its pattern: ASCII characters (the
            # commas, digits and header names of any CSV) have a NUL in every other byte.
            raise FileRejected(
                "The file seems to be UTF-16 text (Excel's 'Unicode Text'). Save it as 'CSV UTF-8 "
                "(comma delimited)' and {send} it again."
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
            "for example cp1252 (Windows-1252) or latin-1, with {encoding_option}."
            if encoding == "utf-8"
            else " Choose the encoding the file was saved with, using {encoding_option}."
        )
        raise FileRejected(
            "The file is not valid {encoding} text (byte 0x{bad} at position {position})." + hint,
            encoding=describe_encoding(encoding), bad=bad, position=exc.start,
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


@dataclass(frozen=True)
class HeaderRow:
    """The header record as written: its names (stripped) and where the data starts."""

    names: list[str]
    text: str
    data_offset: int
    data_line: int


class ColumnsUnmapped(FileRejected):
    """The header does not name the required columns (or names one twice): a person must say which
    column is which (``importer.mapping``). ``header`` is what the file has."""

    def __init__(self, template: str, /, *, header: HeaderRow, **values: object) -> None:
        self.header = header
        super().__init__(template, **values)

    def __reduce__(self):
        return (_rebuild_file_rejected, (self.template, self.values))


def read_header(file: BinaryIO, *, encoding: str) -> HeaderRow:
    """Sniff the start of ``file`` and read its header row (at most ``MAX_HEADER_BYTES``)."""
    file.seek(0)
    head = file.read(SNIFF_BYTES)
    sniff(head, encoding=encoding)
    text, offset, line = _header_record(file, encoding=encoding)
    try:
        records = list(csv.reader([text]))
    except csv.Error as exc:
        raise FileRejected("The header row {reason}.", reason=csv_error_reason(exc)) from None
    header = records[0] if records else []
    return HeaderRow(names=[name.strip() for name in header], text=text, data_offset=offset, data_line=line)


def parse_header(file: BinaryIO, *, encoding: str, positions: dict[str, int] | None = None) -> CsvLayout:
    """Read and check the header row at the start of ``file``; leave the file after it.

    ``positions`` ({target: column index}, from a confirmed mapping) says which column is which;
    without it the header must name ``sku`` and ``name`` itself (in any case and spacing).
    """
    row = read_header(file, encoding=encoding)
    if positions is not None:
        return _mapped_layout(row, positions)
    header, text = row.names, row.text
    names = [name.lower() for name in header]

    occurrences = Counter(names)
    duplicated = sorted(n for n in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if occurrences[n] > 1)
    if duplicated:
        raise ColumnsUnmapped(
            "The header names the column(s) {columns} more than once; keep one of each, or map "
            "the columns to say which one to read.",
            header=row, columns=", ".join(f"'{n}'" for n in duplicated),
        )
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        shown = text.strip()[:200]
        message = (
            "The header is missing the required column(s) {columns}. Expected a comma-separated "
            "header such as 'sku,name,description'; found '{found}'."
        )
        for separator, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")):
            if len(header) == 1 and separator in header[0]:
                message += f" The file seems to be separated by {label}: save it with commas."
                break
        columns = ", ".join(f"'{m}'" for m in missing)
        if len(header) < 2:
            # One column cannot be both the SKU and the name: no mapping helps such a file.
            raise FileRejected(message, columns=columns, found=shown)
        raise ColumnsUnmapped(message, header=row, columns=columns, found=shown)
    return CsvLayout(
        sku_index=names.index("sku"),
        name_index=names.index("name"),
        description_index=names.index("description") if "description" in names else None,
        is_active_index=names.index("is_active") if "is_active" in names else None,
        field_count=len(names),
        data_offset=row.data_offset,
        data_line=row.data_line,
    )


def _mapped_layout(row: HeaderRow, positions: dict[str, int]) -> CsvLayout:
    field_count = len(row.names)
    if any(not 0 <= index < field_count for index in positions.values()) or not {
        "sku", "name"
    } <= positions.keys():
        # The mapping was checked against this very header; a file that changed under it is
        # refused rather than read with the wrong columns.
        raise FileRejected("The file's header no longer matches the column mapping given for it.")
    return CsvLayout(
        sku_index=positions["sku"],
        name_index=positions["name"],
        description_index=positions.get("description"),
        is_active_index=positions.get("is_active"),
        field_count=field_count,
        data_offset=row.data_offset,
        data_line=row.data_line,
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
