"""The bad-input corpus: nasty CSV files and what importing each one must give.

Every case is built deterministically by a small function here. The small files are also checked
in under ``tests/bad_files/`` so a person can open them; large ones (the 10 MB field, the
mixed-encoding file that needs more than the sniffed first 64 KiB) are only built at test time.
Regenerate the checked-in files after changing a case with::

    .venv/bin/python -m tests.corpus.cases

Each case says how the import must end (``completed`` or ``failed``), a substring of the job's
message, the skipped rows as ``(line, reason substring)`` and the exact catalogue afterwards as
``(sku, name, description)`` tuples. ``tests/corpus/test_corpus.py`` runs every case through the
real upload path (tus upload to daphne, import by a real Celery worker).
"""

from __future__ import annotations

import codecs
import gzip
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.bad_files import BAD_FILES

# Cases at most this big are checked in; larger ones are built when the tests run.
CHECKED_IN_MAX_BYTES = 16 * 1024

COMPLETED, FAILED, NEEDS_MAPPING = "completed", "failed", "needs_mapping"
HEADER = "sku,name,description\n"

Product = tuple[str, str, str]


@dataclass(frozen=True)
class CorpusCase:
    """One nasty file, the encoding option it is imported with, and the expected outcome."""

    id: str
    filename: str
    build: Callable[[], bytes]
    status: str
    message: str = ""
    encoding: str | None = None
    row_errors: list[tuple[int, str]] = field(default_factory=list)
    products: Callable[[], list[Product]] = list
    # Row errors whose SKU must come out of the errors CSV with a leading apostrophe.
    neutralised_skus: list[str] = field(default_factory=list)

    @property
    def checked_in(self) -> bool:
        return len(self.build()) <= CHECKED_IN_MAX_BYTES


# --- builders ------------------------------------------------------------------------------------

def _tiny_png() -> bytes:
    """A real 1x1 PNG image (what a user gets by renaming a screenshot to .csv)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB
    pixels = zlib.compress(b"\x00\xff\x00\x00", 9)  # filter byte + one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


VALID_CSV = (HEADER + "GZ-1,Compressed,Would be fine once decompressed\n").encode()

CP1252_TEXT = "sku,name,description\r\nCAFE-1,Café crème,“Smart quotes” – 5 €\r\nTHE-2,Thé vert,Œuvre ‰\r\n"
CP1252_PRODUCTS = [("CAFE-1", "Café crème", "“Smart quotes” – 5 €"), ("THE-2", "Thé vert", "Œuvre ‰")]

LATIN1_TEXT = "sku,name,description\nLAT-1,Façade,Prix ± 5 ¤\nLAT-2,Größe,µ°\n"
LATIN1_PRODUCTS = [("LAT-1", "Façade", "Prix ± 5 ¤"), ("LAT-2", "Größe", "µ°")]

# Enough UTF-8 rows to push the Windows-1252 row past the first block the engine sniffs (64 KiB).
# Long rows keep the row (and chunk) count small.
MIXED_GOOD_ROWS = 70
MIXED_PADDING = "Une description en UTF-8 — très longue pour remplir le premier bloc. " * 15


def _mixed_good_row(n: int) -> Product:
    return (f"MIX-{n:04d}", f"Produit numéro {n}", MIXED_PADDING)


def _mixed_late() -> bytes:
    good = "".join(",".join(_mixed_good_row(n)) + "\n" for n in range(MIXED_GOOD_ROWS)).encode()
    bad = "MIX-BAD,Café (saved by Excel),Windows-1252 bytes\n".encode("cp1252")
    after = "MIX-AFTER,Après,UTF-8 again\n".encode()
    return HEADER.encode() + good + bad + after


def _mixed_late_products() -> list[Product]:
    return [_mixed_good_row(n) for n in range(MIXED_GOOD_ROWS)] + [("MIX-AFTER", "Après", "UTF-8 again")]


BIG_FIELD_BYTES = 10 * 1024 * 1024
# Commas, quotes and a newline inside the field, but few physical lines, so the test stays quick.
BIG_PIECE = 'Lorem ipsum, "dolor" sit amet. ' * 32 + "\n"


def _big_description() -> str:
    return BIG_PIECE * (BIG_FIELD_BYTES // len(BIG_PIECE) + 1)


def _big_field() -> bytes:
    quoted = '"' + _big_description().replace('"', '""') + '"'
    return (HEADER + "BIG-1,Ten megabytes of description," + quoted + "\nBIG-2,After the big one,small\n").encode()


CASE_VARIANTS = (
    "sku,name,description\n"
    "ÉCLAIR-1,Éclair (upper),first\n"
    "éclair-1,éclair (lower),last wins\n"
    "İSTANBUL-1,Istanbul (dotted capital I),first\n"
    "STRASSE-1,Strasse,not the same SKU as straße-1\n"
    "istanbul-1,istanbul (plain),last wins\n"
    "\u212a-1,Kelvin sign,first\n"
    "straße-1,Straße,its own product\n"
    "k-1,plain k,last wins\n"
    "ws-1,unpadded,first\n"
    "  WS-1  ,  Padded name  ,  the description keeps its spaces  \n"
)
CASE_VARIANT_PRODUCTS = [
    # PostgreSQL's lower() (the unique index's case mapping) folds É to é, İ to i and the
    # Kelvin sign to k, so each pair is one product holding the file's last row for it.
    ("éclair-1", "éclair (lower)", "last wins"),
    ("istanbul-1", "istanbul (plain)", "last wins"),
    ("k-1", "plain k", "last wins"),
    ("STRASSE-1", "Strasse", "not the same SKU as straße-1"),
    ("straße-1", "Straße", "its own product"),
    ("WS-1", "Padded name", "  the description keeps its spaces  "),
]

HYPERLINK = '=HYPERLINK("http://x","y")'
INJECTION_PRODUCTS = [
    (HYPERLINK, "Formula SKU", HYPERLINK),
    ("+cmd", "+cmd|' /C calc'!A0", "+cmd"),
    ("-1+1", "-1+1", "-1+1"),
    ("@SUM", "@SUM(1+1)*cmd|' /C calc'!A0", "@SUM(A1:A2)"),
    ("SQL-1", "'; DROP TABLE catalog_product;--", "'; DROP TABLE catalog_product;--"),
    ("SQL-2", "Robert'); DROP TABLE importer_importjob;--", "1' OR '1'='1"),
    ("HTML-1", "<script>alert(1)</script>", '<img src=x onerror="alert(1)">'),
    ("TAB-1", "Tab-led description", "\tstarts with a tab"),
    ("BACKSLASH-1", r"C:\path\N", "\\. and \\N are not COPY markers here"),
]
INJECTION_ERROR_SKUS = ["=1+2", "+ERR", "-ERR", "@ERR"]


def _csv_cell(value: str) -> str:
    if any(ch in value for ch in ',"\n\r') or value != value.strip():
        return '"' + value.replace('"', '""') + '"'
    return value


def _injection() -> bytes:
    rows = [",".join(_csv_cell(v) for v in product) for product in INJECTION_PRODUCTS]
    # Rows with an empty name are skipped; their formula-like SKUs end up in the errors CSV.
    rows += [f"{_csv_cell(sku)},,bad row" for sku in INJECTION_ERROR_SKUS]
    return (HEADER + "\n".join(rows) + "\n").encode()


def _text(text: str, encoding: str = "utf-8") -> Callable[[], bytes]:
    return lambda: text.encode(encoding)


def _products(rows: list[Product]) -> Callable[[], list[Product]]:
    return lambda: list(rows)


# --- the table -------------------------------------------------------------------------------------

CASES: list[CorpusCase] = [
    CorpusCase(
        "bom", "bom.csv",
        lambda: codecs.BOM_UTF8 + (HEADER + "BOM-1,Bom product,Starts after a BOM\nbom-2,Crème,é à ü\n").encode(),
        COMPLETED, "Imported",
        products=_products([("BOM-1", "Bom product", "Starts after a BOM"), ("bom-2", "Crème", "é à ü")]),
    ),
    CorpusCase(
        "crlf", "crlf.csv",
        _text('sku,name,description\r\nCRLF-1,Windows line ends,"Two\r\nlines"\r\n'
              "CRLF-2,Second,plain\r\nCRLF-3,No final newline,last"),
        COMPLETED, "Imported",
        products=_products([("CRLF-1", "Windows line ends", "Two\r\nlines"),
                            ("CRLF-2", "Second", "plain"), ("CRLF-3", "No final newline", "last")]),
    ),
    CorpusCase(
        "semicolons", "semicolons.csv",
        _text("sku;name;description\r\nSEMI-1;Semikolon;Beschreibung\r\n"),
        FAILED, "separated by semicolons",
    ),
    CorpusCase("header_only", "header_only.csv", _text("sku,name,description\r\n"),
               COMPLETED, "header but no rows"),
    CorpusCase("empty", "empty.csv", lambda: b"", FAILED, "The file is empty"),
    CorpusCase("blank_lines_only", "blank_lines_only.csv", _text("\r\n  \n\t\n"), FAILED, "The file is empty"),
    CorpusCase("png_renamed", "image.csv", _tiny_png, FAILED, "not a CSV text file"),
    CorpusCase("gzip", "gzipped.csv", lambda: gzip.compress(VALID_CSV, mtime=0),
               FAILED, "gzip-compressed"),
    CorpusCase("utf16", "utf16.csv", lambda: (HEADER + "U16-1,Unicode text,x\n").encode("utf-16"),
               FAILED, "UTF-16"),
    CorpusCase("cp1252_without_option", "cp1252.csv", _text(CP1252_TEXT, "cp1252"),
               FAILED, "not valid UTF-8 text"),
    CorpusCase("cp1252_with_option", "cp1252.csv", _text(CP1252_TEXT, "cp1252"),
               COMPLETED, "Imported", encoding="cp1252", products=_products(CP1252_PRODUCTS)),
    CorpusCase("latin1_without_option", "latin1.csv", _text(LATIN1_TEXT, "latin-1"),
               FAILED, "'encoding' option"),
    CorpusCase("latin1_with_option", "latin1.csv", _text(LATIN1_TEXT, "latin-1"),
               COMPLETED, "Imported", encoding="latin-1", products=_products(LATIN1_PRODUCTS)),
    CorpusCase(
        # A Windows-1252 row inside the first block: the whole file is refused before any write.
        "mixed_encodings_early", "mixed_early.csv",
        lambda: (HEADER + "MIXE-1,Bon,é en UTF-8\n").encode() + "MIXE-2,Caf\u00e9,cp1252\n".encode("cp1252"),
        FAILED, "not valid UTF-8 text (byte 0xe9",
    ),
    CorpusCase(
        # Past the first block only that row is skipped; the rows around it are imported.
        "mixed_encodings_late", "mixed_late.csv", _mixed_late,
        COMPLETED, "Imported",
        row_errors=[(MIXED_GOOD_ROWS + 2, "not valid UTF-8 (0xe9)")],
        products=_mixed_late_products,
    ),
    CorpusCase(
        # Far past the description's limit and the 1 MB a record may hold: skipped without ever
        # being held whole, and the row after it is imported.
        "ten_megabyte_field", "big_field.csv", _big_field,
        COMPLETED, "Imported",
        row_errors=[(2, "longer than 1 MB, more than a product row can hold (lines 2 to ")],
        products=_products([("BIG-2", "After the big one", "small")]),
    ),
    CorpusCase(
        "unbalanced_quote_at_end", "unclosed_quote.csv",
        _text(HEADER + 'Q-1,Fine,ok\nQ-2,"Never closed,desc\nQ-3,Swallowed,by the open quote\n'),
        COMPLETED, "Imported",
        row_errors=[(3, "quote that is never closed")],
        products=_products([("Q-1", "Fine", "ok")]),
    ),
    CorpusCase(
        "unbalanced_quote_in_middle", "stray_quote.csv",
        _text(HEADER + 'Q-1,Fine,ok\nQ-2,"Opens here,desc\nQ-3,closes,here"\nQ-4,After,fine\n'),
        COMPLETED, "Imported",
        row_errors=[(3, "expected 3 fields, found 2 (the record runs from line 3 to line 4")],
        products=_products([("Q-1", "Fine", "ok"), ("Q-4", "After", "fine")]),
    ),
    CorpusCase(
        "field_counts", "field_counts.csv",
        _text(HEADER + "FC-1,Fine,ok\nFC-2,Too,many,fields\nFC-3,Too few\n,,\nFC-4,,no name\n"
              ",No SKU,x\nFC-5,Also fine,ok\n"),
        COMPLETED, "Imported",
        row_errors=[(3, "expected 3 fields, found 4"), (4, "expected 3 fields, found 2"),
                    (6, "name is empty"), (7, "SKU is empty")],
        products=_products([("FC-1", "Fine", "ok"), ("FC-5", "Also fine", "ok")]),
    ),
    CorpusCase(
        # Classic Mac OS line endings (CR only): refused with a message that says so.
        "cr_only_line_endings", "mac_cr_only.csv",
        _text("sku,name,description\rMAC-1,Macintosh,CR only\rMAC-2,Second,row\r"),
        FAILED, "carriage return only",
    ),
    CorpusCase(
        "bare_cr_in_header", "header_bare_cr.csv", _text("sku,na\rme,description\nCR-1,a,b\n"),
        FAILED, "The header row could not be read as CSV",
    ),
    CorpusCase(
        "bare_cr_in_unquoted_field", "bare_cr.csv",
        _text(HEADER + "CR-1,Fine,ok\nCR-2,Bare\rreturn,x\nCR-3,\"Quoted\rreturn\",is fine\n"),
        COMPLETED, "Imported",
        row_errors=[(3, "line break (a carriage return) inside a field that is not in double quotes")],
        products=_products([("CR-1", "Fine", "ok"), ("CR-3", "Quoted\rreturn", "is fine")]),
    ),
    CorpusCase("duplicate_headers", "duplicate_headers.csv",
               _text("sku,name,SKU,description\nDUP-1,Dup,DUP-1,x\n"),
               NEEDS_MAPPING, "'sku' more than once"),
    CorpusCase("duplicate_headers_padded", "duplicate_headers_padded.csv",
               _text("sku,name, Name ,description\nDUP-1,Dup,Dup,x\n"),
               NEEDS_MAPPING, "'name' more than once"),
    CorpusCase("case_variants", "case_variants.csv", _text(CASE_VARIANTS),
               COMPLETED, "Imported", products=_products(CASE_VARIANT_PRODUCTS)),
    CorpusCase(
        "formula_and_injection_strings", "injection.csv", _injection,
        COMPLETED, "Imported",
        row_errors=[(len(INJECTION_PRODUCTS) + 2 + i, "name is empty") for i in range(len(INJECTION_ERROR_SKUS))],
        products=_products(INJECTION_PRODUCTS),
        neutralised_skus=INJECTION_ERROR_SKUS,
    ),
]


def write_corpus(directory: Path, *, checked_in_only: bool = False) -> dict[str, Path]:
    """Write every case's file into ``directory``; return case id -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for case in CASES:
        data = case.build()
        if checked_in_only and len(data) > CHECKED_IN_MAX_BYTES:
            continue
        path = directory / case.filename
        path.write_bytes(data)
        paths[case.id] = path
    return paths


if __name__ == "__main__":
    written = write_corpus(BAD_FILES, checked_in_only=True)
    sys.stdout.write("".join(f"{path.relative_to(Path.cwd())}\n" for path in sorted(set(written.values()))))
