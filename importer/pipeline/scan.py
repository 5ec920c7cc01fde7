"""Before any row is imported: count the file's records, and find the SKUs that appear more than once.

One pass over the raw bytes, without parsing most lines: quote parity per line tells whether a
newline ends a record or sits inside a quoted field (blank lines are not records), and the SKU is
cut out of a record's first line. The count gives the import a real total before it starts.

The repeated SKUs decide which rows the import holds back until the whole file has been read, so
that the last row for a SKU wins, is written once, and each row is counted for what it really did
(see ``importer.pipeline.run``). They are kept as a count (0, 1, or 2 for "more than once") per slot
of a table over hashed SKU keys, a byte each, so memory is bounded whatever the file. A hash
collision only makes a unique SKU wait with the repeated ones, which costs nothing but a little
time. The hash
(CRC-32) is the same in every process, so a resumed import decides every SKU as the first run did.

What keeps the catalogue right is that the decision to hold a row back depends on its SKU's key
alone, so every row of one SKU, in any letter case, is decided alike. For that, two SKUs that
PostgreSQL's ``lower()`` (the unique index's mapping) makes equal must always have the same key.
Python cannot reproduce ``lower()`` for every character and locale, so the key is deliberately
coarser: the SKU's ASCII characters only, lower-cased, without whitespace and without the letters
``i``, ``j`` and ``k`` (the only ASCII letters that a non-ASCII character lower-cases to, such as
``İ`` and the Kelvin sign ``K``, or that a locale lower-cases to a non-ASCII one, such as Turkish
``I``).
"""

from __future__ import annotations

import codecs
import csv
import importlib
import mmap
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, Protocol
from zlib import crc32

from importer.pipeline.header import MAX_RECORD_BYTES, CsvLayout

# Progress is reported (and the run may be stopped) every 16 MiB, or after a second at the latest.
SCAN_REPORT_BYTES = 16 * 1024 * 1024
SCAN_REPORT_SECONDS = 1.0
SCAN_BLOCK_BYTES = 1024 * 1024
# 64 KiB to 16 MiB: about 16 slots per row at most, so a few percent of unique SKUs collide.
MIN_SLOTS_LOG2, MAX_SLOTS_LOG2 = 16, 24

# A key is made with one translate() that lowers A-Z and turns every byte to leave out into NUL,
# then one replace() that drops the NULs: translate()'s own "delete" argument costs several times
# more, and this runs for every row. (A NUL in a SKU makes its row an error anyway.)
_LEFT_OUT = b"\x00 \t\n\r\x0b\x0cijkIJK"
_ASCII_KEY = bytes(
    0 if byte in _LEFT_OUT else (byte + 32 if 65 <= byte <= 90 else byte) for byte in range(256)
)
_RAW_KEY = _ASCII_KEY[:0x80] + bytes(0x80)  # and every byte of a non-ASCII character
_RAW_ENDS, _TEXT_ENDS = (b",", b"\r", b"\n"), (",", "\r", "\n")


def sku_key(sku: str) -> bytes:
    """The coarse key of a SKU (see the module docstring)."""
    return sku.encode("ascii", "ignore").translate(_ASCII_KEY).replace(b"\0", b"")


def _raw_key(field: bytes) -> bytes:
    """``sku_key`` of a SKU field's raw bytes, in an encoding where ``_bytes_are_characters``."""
    return field.translate(_RAW_KEY).replace(b"\0", b"")


class RepeatedSkus:
    """Which SKUs of the file may appear in more than one row."""

    def __init__(self, *, size_bytes: int) -> None:
        # Rows are rarely under 16 bytes, so size_bytes // 16 slots gives at least one per row.
        slots_log2 = min(MAX_SLOTS_LOG2, max(MIN_SLOTS_LOG2, (max(size_bytes, 1) // 16).bit_length() + 4))
        self.mask = (1 << slots_log2) - 1
        # An anonymous mmap rather than a bytearray: its pages go back to the system when the import
        # ends, where the allocator would keep a bytearray's for the worker's whole life.
        self.counts = mmap.mmap(-1, 1 << slots_log2)

    def note(self, key: bytes) -> None:
        slot = crc32(key) & self.mask
        if self.counts[slot] < 2:
            self.counts[slot] += 1

    def may_repeat(self, sku: str) -> bool:
        return self.counts[crc32(sku_key(sku)) & self.mask] > 1


@dataclass(frozen=True)
class FileScan:
    """What the scan found: how many records follow the header, and which SKUs repeat."""

    records: int
    repeated: RepeatedSkus

    def dump(self, out: BinaryIO, *, key: ScanKey) -> None:
        """Write the scan (compressed: most slots are 0 or 1) for ``load`` to read back."""
        slots = len(self.repeated.counts)
        out.write(_SCAN_MAGIC + struct.pack(_SCAN_HEADER, key.size_bytes, key.sku_index, self.records, slots)
                  + key.encoding.encode("ascii", "replace")[:32].ljust(32, b"\0"))
        packer = zlib.compressobj(1)
        for start in range(0, slots, _SCAN_PIECE_BYTES):
            out.write(packer.compress(self.repeated.counts[start:start + _SCAN_PIECE_BYTES]))
        out.write(packer.flush())

    @classmethod
    def load(cls, source: BinaryIO, *, key: ScanKey) -> FileScan | None:
        """The scan ``dump`` wrote, or None if it is not one of this file with this layout."""
        head = source.read(_SCAN_HEAD_BYTES)
        if len(head) < _SCAN_HEAD_BYTES or not head.startswith(_SCAN_MAGIC):
            return None
        size_bytes, sku_index, records, slots = struct.unpack_from(_SCAN_HEADER, head, len(_SCAN_MAGIC))
        encoding = head[-32:].rstrip(b"\0").decode("ascii", "replace")
        if (size_bytes, sku_index, encoding) != (key.size_bytes, key.sku_index, key.encoding[:32]):
            return None
        repeated = RepeatedSkus(size_bytes=size_bytes)
        if len(repeated.counts) != slots:
            return None
        unpacker, position = zlib.decompressobj(), 0
        while position < slots:
            piece = unpacker.unconsumed_tail or source.read(_SCAN_PIECE_BYTES)
            if not piece:
                return None
            data = unpacker.decompress(piece, slots - position)
            repeated.counts[position:position + len(data)] = data
            position += len(data)
        return cls(records=records, repeated=repeated)


@dataclass(frozen=True)
class ScanKey:
    """What a scan depends on besides the bytes of the file (a job's file never changes)."""

    size_bytes: int
    sku_index: int
    encoding: str


class ScanCache(Protocol):
    """Where a job keeps its scan, so that a resumed run need not read the whole file again."""

    def load(self, key: ScanKey) -> FileScan | None: ...

    def save(self, scan: FileScan, key: ScanKey) -> None: ...


_SCAN_MAGIC = b"product-import scan 1\n"
_SCAN_HEADER = "<QIQQ"  # size_bytes, sku_index, records, slots
_SCAN_HEAD_BYTES = len(_SCAN_MAGIC) + struct.calcsize(_SCAN_HEADER) + 32  # and the encoding's name
_SCAN_PIECE_BYTES = 1024 * 1024


def scan_file(
    file: BinaryIO,
    *,
    layout: CsvLayout,
    encoding: str,
    size_bytes: int,
    on_progress: Callable[[int], None] | None = None,
) -> FileScan:
    """Scan every record after the header; ``on_progress(offset)`` is called every 16 MiB or second.

    A line longer than ``MAX_RECORD_BYTES`` is never held: only its quotes are counted, a block at
    a time, until it ends (the reader reports its record as a row error).
    """
    scanner = _Scanner(RepeatedSkus(size_bytes=size_bytes), sku_index=layout.sku_index, encoding=encoding)
    file.seek(layout.data_offset)
    offset = layout.data_offset
    next_report = offset + SCAN_REPORT_BYTES
    reported_at = time.monotonic()
    carry = b""
    long_line_quotes: int | None = None  # inside a line longer than the limit: its quotes so far
    while block := file.read(SCAN_BLOCK_BYTES):
        offset += len(block)
        if long_line_quotes is not None:
            newline = block.find(b"\n")
            if newline < 0:
                long_line_quotes += block.count(b'"')
                block = b""
            else:
                scanner.long_line(quotes=long_line_quotes + block.count(b'"', 0, newline))
                long_line_quotes, block = None, block[newline + 1 :]
        if block:
            lines = (carry + block).split(b"\n")
            carry = lines.pop()  # the start of a line the next block ends
            scanner.scan(lines)
            if len(carry) > MAX_RECORD_BYTES:
                long_line_quotes, carry = carry.count(b'"'), b""
        if on_progress is not None and (
            offset >= next_report or time.monotonic() - reported_at >= SCAN_REPORT_SECONDS
        ):
            next_report = offset + SCAN_REPORT_BYTES
            reported_at = time.monotonic()
            on_progress(offset)
    if long_line_quotes is not None:
        scanner.long_line(quotes=long_line_quotes)
    elif carry:
        scanner.scan([carry])  # a last line without a newline
    file.seek(layout.data_offset)
    return FileScan(records=scanner.records, repeated=scanner.repeated)


class _Scanner:
    """The state of a scan between blocks of lines (the lines come without their newline).

    Written for speed, as it reads every line of the file before the import starts: a line without
    a quote, outside a quoted field, is a whole record, and the keys of a block's such records are
    made together, with one translate() over all of them; the rest go one by one.
    """

    def __init__(self, repeated: RepeatedSkus, *, sku_index: int, encoding: str) -> None:
        self.repeated = repeated
        self.index = sku_index
        self.encoding = encoding
        self.raw_keys = _bytes_are_characters(encoding)
        self.records = 0
        self.in_quotes = False
        self.pending: list[bytes] | None = None  # the lines so far of a record csv must parse
        self.pending_bytes = 0

    def scan(self, lines: list[bytes]) -> None:
        whole = []  # records on one line without a quote
        for line in lines:
            if self.in_quotes or b'"' in line:
                self._quoted(line)
            elif line.strip(b"\r"):
                whole.append(line)
        self.records += len(whole)
        if not whole:
            return
        counts, mask, index = self.repeated.counts, self.repeated.mask, self.index
        if self.raw_keys:
            if index == 0:
                fields = [line.partition(b",")[0] for line in whole]
            else:
                fields = [parts[index] if len(parts) > index else b""
                          for parts in [line.split(b",", index + 1) for line in whole]]
            # The fields hold no comma, so one comma-joined text keeps them apart through the key.
            keys = b",".join(fields).translate(_RAW_KEY).replace(b"\0", b"").split(b",")
        else:
            keys = [sku_key(_field(line.decode(self.encoding, errors="replace"), index, '"', ",", _TEXT_ENDS,
                                   complete=True)) for line in whole]
        for slot in map(crc32, keys):
            slot &= mask
            if counts[slot] < 2:
                counts[slot] += 1

    def _quoted(self, line: bytes) -> None:
        """A line with a quote, or inside a quoted field: quote parity says where records end."""
        starts_record = not self.in_quotes
        if line.count(b'"') & 1:
            self.in_quotes = not self.in_quotes
        if not self.in_quotes and line.strip(b"\r"):
            self.records += 1
        if starts_record:
            complete = not self.in_quotes
            if self.raw_keys:
                field = _field(line, self.index, b'"', b",", _RAW_ENDS, complete=complete)
                key = None if field is None else _raw_key(field)
            else:
                text = line.decode(self.encoding, errors="replace")
                field = _field(text, self.index, '"', ",", _TEXT_ENDS, complete=complete)
                key = None if field is None else sku_key(field)
            if key is not None:
                self.repeated.note(key)
            elif complete:
                self._note_parsed([line])
            else:
                self.pending, self.pending_bytes = [line], len(line)
        elif self.pending is not None:
            self.pending.append(line)
            self.pending_bytes += len(line)
            if not self.in_quotes:
                self._note_parsed(self.pending)
                self.pending = None
            elif self.pending_bytes > MAX_RECORD_BYTES:
                self.pending = None  # too long to be a row: the reader reports it

    def long_line(self, *, quotes: int) -> None:
        """A line too long to be held, of which only its number of quotes is known. Its record can
        never be a row, so no SKU is noted; the quotes still say whether a record ends with it."""
        starts_record = not self.in_quotes
        if quotes & 1:
            self.in_quotes = not self.in_quotes
        if not self.in_quotes:
            self.records += 1
        if not starts_record:
            self.pending = None

    def _note_parsed(self, lines: list[bytes]) -> None:
        text = b"\n".join(lines).decode(self.encoding, errors="replace")
        try:
            fields = next(csv.reader([text]), [])
        except csv.Error:
            return  # the import reports this record as unreadable
        if len(fields) > self.index:
            self.repeated.note(sku_key(fields[self.index]))


def _field(line, index: int, quote, comma, ends, *, complete: bool):
    """Field ``index`` of a record's first line (bytes or str, without its quotes), empty if the
    record has fewer fields, or None if only a CSV parser can tell (escaped quotes, a quoted field
    before it, or a quoted field that goes on past this line). ``ends`` are what may follow a
    closing quote: the separator or a line end; ``complete``: the record ends on this line."""
    start = 0
    for _ in range(index):
        if line.startswith(quote, start):
            return None
        comma_at = line.find(comma, start)
        if comma_at < 0:
            return line[:0] if complete else None
        start = comma_at + 1
    if line.startswith(quote, start):
        end = line.find(quote, start + 1)
        if end < 0 or line.startswith(quote, end + 1):
            return None
        after = line[end + 1 : end + 2]
        return line[start + 1 : end] if not after or after in ends else None
    comma_at = line.find(comma, start)
    field = line[start:] if comma_at < 0 else line[start:comma_at]
    return None if quote in field else field


def _bytes_are_characters(encoding: str) -> bool:
    """Whether, in ``encoding``, every byte below 0x80 is that ASCII character and every other
    byte part of a non-ASCII one: then a SKU's key can be cut from the raw bytes undecoded."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "ascii", "latin-1", "iso8859-1"):
        return True
    try:
        table = importlib.import_module(f"encodings.{name.replace('-', '_')}").decoding_table
    except (ImportError, AttributeError):
        return False  # a multi-byte encoding: an ASCII-range byte may be half of a character
    return len(table) == 256 and all(
        table[byte] == chr(byte) if byte < 0x80 else (table[byte] == "\ufffe" or ord(table[byte]) >= 0x80)
        for byte in range(256)
    )
