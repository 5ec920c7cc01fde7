"""The pre-count of records that gives an import its total before the first chunk.

The rule: a newline ends a record unless an odd number of quotes came before it, and a line of
nothing but line breaks is not a record.
"""

from __future__ import annotations

import io

import pytest

from importer import csvfile
from importer.csvfile import count_records


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
    assert count_records(io.BytesIO(data), start_offset=0) == expected


def test_counts_from_the_given_offset_and_leaves_the_file_there():
    data = b"sku,name\na,1\nb,2\n"
    handle = io.BytesIO(data)
    assert count_records(handle, start_offset=len(b"sku,name\n")) == 2
    assert handle.tell() == len(b"sku,name\n")


def test_reports_progress_while_counting_a_large_file(monkeypatch):
    monkeypatch.setattr(csvfile, "COUNT_REPORT_BYTES", 1000)
    data = b"".join(b"SKU-%06d,name %d\n" % (i, i) for i in range(1000))
    offsets: list[int] = []
    assert count_records(io.BytesIO(data), start_offset=0, on_progress=offsets.append) == 1000
    assert offsets and offsets == sorted(offsets) and offsets[-1] <= len(data)
