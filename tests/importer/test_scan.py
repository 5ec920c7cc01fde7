"""The scan before an import: its record count, and the SKUs it finds repeated.

The count's rule: a newline ends a record unless an odd number of quotes came before it, and a line
of nothing but line breaks is not a record.

Which rows wait for the end of the file depends only on a SKU's coarse key, so what keeps the
catalogue right is that two SKUs PostgreSQL's ``lower()`` makes equal always have the same key;
these tests ask PostgreSQL itself. What keeps the counts exact is that every repeated SKU is found,
whatever the quoting of the file.
"""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.pipeline import scan
from importer.pipeline.header import CsvLayout, parse_header
from importer.pipeline.scan import scan_file, sku_key
from tests.support.catalogue import pg_lower


def _layout(data_offset: int = 0) -> CsvLayout:
    return CsvLayout(sku_index=0, name_index=1, description_index=None, is_active_index=None, field_count=2,
                     data_offset=data_offset, data_line=1)


def _count(handle, *, data_offset: int = 0, **options) -> int:
    size = len(handle.getvalue())
    return scan_file(handle, layout=_layout(data_offset), encoding="utf-8", size_bytes=size, **options).records


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"a,b\n", 1),
        (b"a,b", 1),
        (b"a,b\r\nc,d\r\n", 2),
        (b"\n\r\n\r\r\n", 0),
        (b"a,b\n\n\nc,d\n", 2),
        (b'a,"one\ntwo\n\nthree",c\nd,e\n', 2),
        (b'a,"say ""hi""\nthere",c\n', 1),
        (b'"only a quoted field"\n\n', 1),
        (b'a,"x"\n\nb\n', 2),
        (b'a,"never closed\nb,c\nd,e\n', 0),
        (b"   \n", 1),
    ],
)
def test_counts_records_not_lines(data, expected):
    assert _count(io.BytesIO(data)) == expected


def test_counts_from_the_data_offset_and_leaves_the_file_there():
    data = b"sku,name\na,1\nb,2\n"
    handle = io.BytesIO(data)
    assert _count(handle, data_offset=len(b"sku,name\n")) == 2
    assert handle.tell() == len(b"sku,name\n")


def test_reports_progress_while_scanning_a_large_file(monkeypatch):
    monkeypatch.setattr(scan, "SCAN_REPORT_BYTES", 1000)
    data = b"".join(b"SKU-%06d,name %d\n" % (i, i) for i in range(1000))
    offsets: list[int] = []
    assert _count(io.BytesIO(data), on_progress=offsets.append) == 1000
    assert offsets and offsets == sorted(offsets) and offsets[-1] <= len(data)


# Characters whose case mappings are irregular: dotted and dotless i, the Kelvin and Ångström
# signs, long s, sharp s, final sigma, ligatures, titlecase digraphs, fullwidth letters.
TRICKY = "İıIiKkKÅåſsßẞΣσςﬁǅǆǄＡａ \t"
sku_text = st.text(alphabet=st.sampled_from(TRICKY) | st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12)


def _variants(sku: str) -> list[str]:
    """Spellings of ``sku`` in other letter cases, character by character."""
    return [sku.upper(), sku.lower(), sku.swapcase(), sku.title(), "".join(c.upper() for c in sku)]


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sku=sku_text)
def test_skus_that_postgresql_makes_equal_have_the_same_key(sku):
    spellings = [sku, *_variants(sku)]
    lowered = pg_lower(spellings)
    for spelling, lower in zip(spellings, lowered, strict=True):
        if lower == lowered[0]:
            assert sku_key(spelling) == sku_key(sku), (sku, spelling)


def _scan(data: bytes, encoding: str = "utf-8"):
    file = io.BytesIO(data)
    layout = parse_header(file, encoding=encoding)
    return scan_file(file, layout=layout, encoding=encoding, size_bytes=len(data))


def _written(rows: list[list[str]], header=("name", "sku", "description"), encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


field_text = st.text(alphabet=st.sampled_from('ab,"\n\r xY-1é'), max_size=8)
sku_field = st.text(alphabet="abAB-1\"', é", min_size=1, max_size=5)


# gb18030 is a multi-byte encoding whose characters may hold ASCII-range bytes: it is scanned decoded.
@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "gb18030"])
@pytest.mark.parametrize("sku_column", [0, 1])
@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(field_text, sku_field, field_text), min_size=1, max_size=12))
def test_every_repeated_sku_is_found_whatever_the_quoting(rows, sku_column, encoding):
    header = ["name", "description"]
    header.insert(sku_column, "sku")
    rows = [[first, last][:sku_column] + [sku] + [first, last][sku_column:] for first, sku, last in rows]
    data = _written(rows, header=header, encoding=encoding)
    scan = _scan(data, encoding=encoding)
    parsed = list(csv.reader(io.StringIO(data.decode(encoding))))[1:]
    assert scan.records == len(parsed)
    skus = [fields[sku_column].strip() for fields in parsed]
    keys = [sku_key(sku) for sku in skus]
    for sku, key in zip(skus, keys, strict=True):
        if keys.count(key) > 1:
            assert scan.repeated.may_repeat(sku), (sku, data)


def test_a_file_without_repeated_skus_holds_nothing_back():
    rows = [[f"Name {n}", f"SKU-{n:05d}", "x"] for n in range(2000)]
    scan = _scan(_written(rows))
    assert scan.records == 2000
    held = sum(scan.repeated.may_repeat(f"SKU-{n:05d}") for n in range(2000))
    assert held < 2000 * 0.05  # only hash collisions


def test_a_single_byte_encoding_is_scanned_from_its_raw_bytes():
    data = "sku,name\nÉCLAIR-1,a\néclair-1,b\nX,c\n".encode("cp1252")
    scan = _scan(data, encoding="cp1252")
    assert scan.records == 3
    assert scan.repeated.may_repeat("ÉCLAIR-1") and scan.repeated.may_repeat("éclair-1")
