"""The CSV rules of the import pipeline: what a file must look like, and what happens to bad rows.

Each test feeds a small inline CSV (bytes) to ``importer.pipeline.import_csv`` on the real
PostgreSQL and checks the catalogue and the result.
"""

from __future__ import annotations

import gzip

import pytest

from catalog.models import Product
from importer.pipeline import FileRejected
from importer.pipeline.header import SNIFF_BYTES
from tests.support.catalogue import catalogue
from tests.support.pipeline import errors_by_line, import_bytes

pytestmark = pytest.mark.django_db

# A valid 1x1 PNG image.
PNG_BYTES = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def _padding_rows(min_bytes: int, *, prefix: str = "PAD") -> tuple[bytes, int]:
    """Valid rows totalling at least ``min_bytes``, so what follows lies beyond the sniffed block."""
    rows = []
    size = 0
    while size < min_bytes:
        row = f"{prefix}-{len(rows):06d},Padding product {len(rows)} {'x' * 80}\n".encode()
        rows.append(row)
        size += len(row)
    return b"".join(rows), len(rows)


@pytest.fixture
def existing_product():
    return Product.objects.create(sku="KEEP-1", name="Kept", description="untouched")


def assert_catalogue_untouched(existing_product) -> None:
    assert catalogue() == {"KEEP-1": ("Kept", "untouched")}


# --- Encodings and line endings -----------------------------------------------------------------


def test_utf8_file_without_bom_imports_non_ascii_text():
    result = import_bytes("sku,name,description\nA1,Crème brûlée,東京\n".encode())
    assert result.progress.created == 1
    assert catalogue() == {"A1": ("Crème brûlée", "東京")}


def test_utf8_bom_is_not_part_of_the_first_header_name():
    import_bytes(b"\xef\xbb\xbfsku,name\nA1,Caf\xc3\xa9\n")
    assert catalogue() == {"A1": ("Café", "")}


def test_utf8_bom_before_a_quoted_header_name_is_ignored():
    import_bytes(b'\xef\xbb\xbf"SKU","Name"\nA1,Bolt\n')
    assert catalogue() == {"A1": ("Bolt", "")}


def test_cp1252_file_imports_with_the_encoding_option():
    result = import_bytes(b"sku,name,description\nA1,Caf\xe9,costs 5 \x80\n", encoding="cp1252")
    assert result.progress.created == 1
    assert catalogue() == {"A1": ("Café", "costs 5 €")}


def test_first_block_that_does_not_decode_is_rejected_naming_the_encoding_and_the_option(existing_product):
    with pytest.raises(FileRejected) as caught:
        import_bytes(b"sku,name\nA1,Caf\xe9\n")
    message = str(caught.value)
    assert "UTF-8" in message
    assert "encoding" in message and "cp1252" in message
    assert_catalogue_untouched(existing_product)


def test_first_block_that_does_not_decode_in_the_chosen_encoding_names_that_encoding(existing_product):
    # 0x81 is one of the five bytes cp1252 leaves undefined.
    with pytest.raises(FileRejected) as caught:
        import_bytes(b"sku,name\nA1,Bad \x81 byte\n", encoding="cp1252")
    assert "cp1252" in str(caught.value) and "encoding" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_unknown_encoding_option_is_rejected_with_examples():
    with pytest.raises(FileRejected, match="Unknown encoding 'klingon'.*utf-8"):
        import_bytes(b"sku,name\nA1,Bolt\n", encoding="klingon")


def test_crlf_and_lf_line_endings_give_the_same_catalogue():
    lf = b"sku,name,description\nA1,Bolt,M6\nB2,Nut,M8\n"
    import_bytes(lf)
    from_lf = catalogue()
    Product.objects.all().delete()
    import_bytes(lf.replace(b"\n", b"\r\n"))
    assert catalogue() == from_lf == {"A1": ("Bolt", "M6"), "B2": ("Nut", "M8")}


def test_last_line_without_a_newline_is_imported():
    import_bytes(b"sku,name\r\nA1,Bolt\r\nB2,Nut")
    assert catalogue() == {"A1": ("Bolt", ""), "B2": ("Nut", "")}


def test_quoted_fields_keep_commas_quotes_and_newlines():
    data = b'sku,name,description\nA1,"Bolt, M6","He said ""hi""\nsecond line, with comma"\nB2,Nut,plain\n'
    result = import_bytes(data)
    assert result.progress.processed_rows == 2
    assert catalogue() == {
        "A1": ("Bolt, M6", 'He said "hi"\nsecond line, with comma'),
        "B2": ("Nut", "plain"),
    }


def test_descriptions_with_tabs_and_backslashes_survive_the_staging_copy():
    import_bytes(b'sku,name,description\nA1,Back\\slash,"tab\there \\N \\\\ end"\n')
    assert catalogue() == {"A1": ("Back\\slash", "tab\there \\N \\\\ end")}


# --- The header ---------------------------------------------------------------------------------


def test_headers_match_in_any_order_and_case_with_surrounding_spaces():
    import_bytes(b" Description , NAME ,\tSku \nhello,Bolt,A1\n")
    assert catalogue() == {"A1": ("Bolt", "hello")}


def test_unknown_columns_are_ignored():
    import_bytes(b"price,sku,colour,name,weight\n9.99,A1,red,Bolt,3kg\n")
    assert catalogue() == {"A1": ("Bolt", "")}


def test_description_column_is_optional():
    result = import_bytes(b"sku,name\nA1,Bolt\n")
    assert result.progress.created == 1
    assert catalogue() == {"A1": ("Bolt", "")}


@pytest.mark.parametrize(
    ("header", "missing"),
    [
        (b"code,name,description", "'sku'"),
        (b"sku,title,description", "'name'"),
        (b"id,title", "'sku', 'name'"),
    ],
)
def test_missing_required_column_fails_before_anything_is_written(existing_product, header, missing):
    data = header + b"\nA1,Bolt,M6\n"
    with pytest.raises(FileRejected) as caught:
        import_bytes(data)
    assert f"missing the required column(s) {missing}" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_semicolon_separated_file_is_rejected_with_a_hint_to_use_commas(existing_product):
    with pytest.raises(FileRejected) as caught:
        import_bytes(b"sku;name;description\nA1;Bolt;M6\n")
    assert "semicolons" in str(caught.value) and "commas" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_duplicate_header_names_are_rejected(existing_product):
    with pytest.raises(FileRejected, match="'sku' more than once"):
        import_bytes(b"sku,name, SKU \nA1,Bolt,a1\n")
    assert_catalogue_untouched(existing_product)


def test_duplicate_unknown_header_names_are_harmless():
    import_bytes(b"sku,note,name,note\nA1,x,Bolt,y\n")
    assert catalogue() == {"A1": ("Bolt", "")}


@pytest.mark.parametrize(
    "data", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf"], ids=["empty", "blank-lines", "bom-only"]
)
def test_empty_file_is_rejected(existing_product, data):
    with pytest.raises(FileRejected) as caught:
        import_bytes(data)
    assert "empty" in str(caught.value) or "missing the required column" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_header_only_file_completes_with_zero_rows(existing_product):
    result = import_bytes(b"sku,name,description\r\n")
    assert result.progress.processed_rows == 0
    assert result.progress.total_rows == 0
    assert result.progress.skipped == 0
    assert_catalogue_untouched(existing_product)


def test_png_image_is_rejected_as_not_a_csv_text_file(existing_product):
    with pytest.raises(FileRejected, match="not a CSV text file"):
        import_bytes(PNG_BYTES)
    assert_catalogue_untouched(existing_product)


def test_gzip_file_is_rejected_with_a_hint_to_decompress(existing_product):
    with pytest.raises(FileRejected, match="gzip-compressed. Decompress"):
        import_bytes(gzip.compress(b"sku,name\nA1,Bolt\n"))
    assert_catalogue_untouched(existing_product)


def test_utf16_file_is_rejected_with_a_hint_to_save_as_utf8(existing_product):
    with pytest.raises(FileRejected) as caught:
        import_bytes("sku,name\nA1,Bolt\n".encode("utf-16"))
    assert "UTF-16" in str(caught.value) and "UTF-8" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_utf16_file_without_a_bom_is_rejected(existing_product):
    with pytest.raises(FileRejected) as caught:
        import_bytes("sku,name\nA1,Bolt\n".encode("utf-16-le"))
    assert "UTF-16" in str(caught.value)
    assert_catalogue_untouched(existing_product)


def test_utf16_encoding_option_is_refused():
    with pytest.raises(FileRejected, match="save the file as UTF-8"):
        import_bytes(b"sku,name\nA1,Bolt\n", encoding="utf-16")


# --- Row rules ----------------------------------------------------------------------------------


def test_sku_and_name_are_trimmed():
    import_bytes(b'sku,name\n  A1 \t,  Bolt  \n" B2 "," Nut "\n')
    assert catalogue() == {"A1": ("Bolt", ""), "B2": ("Nut", "")}


def test_row_with_empty_sku_is_skipped_with_its_line_number():
    result = import_bytes(b"sku,name\nA1,Bolt\n,Nameless\n   ,Blank\nB2,Nut\n")
    assert errors_by_line(result) == {3: "SKU is empty", 4: "SKU is empty"}
    assert result.progress.skipped == 2
    assert catalogue() == {"A1": ("Bolt", ""), "B2": ("Nut", "")}


def test_row_with_empty_name_is_skipped_with_its_line_number_and_sku():
    result = import_bytes(b"sku,name\nA1,Bolt\nB2,  \nC3,Nut\n")
    assert [e.as_dict() for e in result.errors] == [{"line": 3, "sku": "B2", "reason": "name is empty"}]
    assert catalogue() == {"A1": ("Bolt", ""), "C3": ("Nut", "")}


def test_values_of_255_characters_are_accepted_and_longer_ones_skipped():
    ok_sku, ok_name = "S" * 255, "é" * 255
    data = (
        f"sku,name\n{ok_sku},{ok_name}\n{'T' * 256},Long sku\nB2,{'n' * 256}\nC3,Fine\n"
    ).encode()
    result = import_bytes(data)
    assert errors_by_line(result) == {
        3: "SKU is longer than 255 characters (256)",
        4: "name is longer than 255 characters (256)",
    }
    assert catalogue() == {ok_sku: (ok_name, ""), "C3": ("Fine", "")}


def test_undecodable_bytes_later_in_the_file_skip_only_that_row():
    padding, padding_rows = _padding_rows(SNIFF_BYTES + 1)
    data = b"sku,name\n" + padding + b"BAD-1,Caf\xe9\nOK-1,Fine\n"
    result = import_bytes(data)
    bad_line = 1 + padding_rows + 1
    assert [e.as_dict() for e in result.errors] == [
        {"line": bad_line, "sku": "BAD-1", "reason": "contains bytes that are not valid UTF-8 (0xe9)"}
    ]
    assert Product.objects.count() == padding_rows + 1
    assert Product.objects.filter(sku="OK-1").exists()


def test_nul_character_later_in_the_file_skips_only_that_row():
    padding, padding_rows = _padding_rows(SNIFF_BYTES + 1)
    data = b"sku,name\n" + padding + b"NUL-1,Bad\x00name\nOK-1,Fine\n"
    result = import_bytes(data)
    assert errors_by_line(result) == {1 + padding_rows + 1: "contains a NUL character"}
    assert not Product.objects.filter(sku="NUL-1").exists()
    assert Product.objects.filter(sku="OK-1").exists()


def test_nul_character_in_the_first_block_rejects_the_file_as_not_text(existing_product):
    with pytest.raises(FileRejected, match="binary data"):
        import_bytes(b"sku,name\nA1,Bad\x00name\n")
    assert_catalogue_untouched(existing_product)


def test_rows_with_the_wrong_number_of_fields_are_skipped():
    result = import_bytes(b"sku,name,description\nA1,Bolt,M6\nB2,Nut\nC3,Washer,flat,extra\nD4,Screw,\n")
    assert errors_by_line(result) == {
        3: "expected 3 fields, found 2",
        4: "expected 3 fields, found 4",
    }
    assert {e.line: e.sku for e in result.errors} == {3: "B2", 4: "C3"}
    assert catalogue() == {"A1": ("Bolt", "M6"), "D4": ("Screw", "")}


def test_line_numbers_count_physical_lines_including_multiline_records():
    data = (
        b"sku,name,description\n"  # line 1
        b'A1,Bolt,"first\nsecond\nthird"\n'  # lines 2-4
        b",Nameless,x\n"  # line 5
        b"\n"  # line 6 (blank)
        b'B2,"Nut\r\nwith newline",y\r\n'  # lines 7-8
        b"C3,,z\n"  # line 9
    )
    result = import_bytes(data)
    assert errors_by_line(result) == {5: "SKU is empty", 9: "name is empty"}
    assert result.progress.processed_rows == 4
    assert set(catalogue()) == {"A1", "B2"}


def test_blank_lines_are_ignored_and_not_counted_as_rows():
    result = import_bytes(b"sku,name\n\nA1,Bolt\n\r\n   \n,\nB2,Nut\n\n")
    assert result.errors == []
    assert result.progress.processed_rows == 2
    assert result.progress.total_rows == 2
    assert catalogue() == {"A1": ("Bolt", ""), "B2": ("Nut", "")}


def test_unbalanced_quote_near_the_end_is_reported_not_imported():
    data = b'sku,name\nA1,Bolt\nB2,"Nut\nC3,Washer\nD4,Screw\n'
    result = import_bytes(data)
    assert [(e.line, e.sku) for e in result.errors] == [(3, "B2")]
    assert "quote" in result.errors[0].reason and "line 3" in result.errors[0].reason
    assert catalogue() == {"A1": ("Bolt", "")}


def test_unbalanced_quote_with_a_description_column_is_reported():
    data = b'sku,name,description\nA1,Bolt,ok\nB2,Nut,"never closed\nC3,Washer,flat\n'
    result = import_bytes(data)
    assert [(e.line, e.sku) for e in result.errors] == [(3, "B2")]
    assert "quote" in result.errors[0].reason
    assert catalogue() == {"A1": ("Bolt", "ok")}


def test_counts_of_a_file_with_bad_rows_add_up():
    result = import_bytes(b"sku,name\nA1,Bolt\n,x\nB2,\nC3,Nut,extra\nD4,Screw\n")
    progress = result.progress
    assert progress.processed_rows == 5
    assert (progress.created, progress.updated, progress.unchanged, progress.skipped) == (2, 0, 0, 3)
    assert result.progress.skipped == 3
