"""``manage.py import_products``: the same pipeline in the foreground, for operators."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from tests.support.catalogue import catalogue
from tests.support.processes import ROOT, service_env

pytestmark = pytest.mark.django_db


def _run(path, *args) -> str:
    out = io.StringIO()
    call_command("import_products", str(path), *args, stdout=out)
    return out.getvalue()


def test_command_imports_the_file_and_prints_the_counts(tmp_path):
    Product.objects.create(sku="A1", name="Old")
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku,name,description\na1,Bolt,M6\nB2,Nut,M8\nB2,Nut,M8\n")
    output = _run(path, "--chunk-size", "2")
    assert "Importing 3 rows" in output
    assert "Imported 3 rows in" in output
    # The first B2 row is replaced by the repeated one, in the second chunk: written once.
    assert "1 created, 1 updated, 0 unchanged, 1 superseded, 0 skipped." in output
    assert catalogue() == {"a1": ("Bolt", "M6"), "B2": ("Nut", "M8")}


def test_command_prints_the_row_errors_with_line_numbers(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku,name\nA1,Bolt\n,Nameless\nB2,\nC3,Nut\n")
    output = _run(path)
    assert "2 created, 0 updated, 0 unchanged, 0 superseded, 2 skipped." in output
    assert "2 row(s) were skipped:" in output
    assert "  line 3: SKU is empty" in output
    assert "  line 4: name is empty (SKU B2)" in output


def test_command_limits_the_row_errors_it_prints(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku,name\n" + b"".join(f"S{i},\n".encode() for i in range(5)))
    output = _run(path, "--max-errors", "2")
    assert "line 2: name is empty" in output and "line 3: name is empty" in output
    assert "line 4:" not in output
    assert "and 3 more." in output


def test_command_reads_cp1252_with_the_encoding_option(tmp_path):
    path = tmp_path / "legacy.csv"
    path.write_bytes(b"sku,name\nA1,Caf\xe9\n")
    _run(path, "--encoding", "cp1252")
    assert catalogue() == {"A1": ("Café", "")}


def test_command_raises_command_error_with_the_reason_for_a_rejected_file(tmp_path):
    Product.objects.create(sku="KEEP", name="Kept")
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku;name\nA1;Bolt\n")
    with pytest.raises(CommandError) as caught:
        _run(path)
    message = str(caught.value)
    assert message.startswith(f"Import failed: {path}: The header is missing the required column(s)")
    assert "semicolons" in message
    assert catalogue() == {"KEEP": ("Kept", "")}


def test_command_raises_command_error_for_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        _run(tmp_path / "nope.csv")


def test_command_raises_command_error_for_an_unknown_encoding(tmp_path):
    path = tmp_path / "products.csv"
    path.write_bytes(b"sku,name\nA1,Bolt\n")
    with pytest.raises(CommandError, match="Unknown encoding 'martian'"):
        _run(path, "--encoding", "martian")


def test_command_line_exits_non_zero_without_a_traceback_for_a_rejected_file(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    completed = subprocess.run(
        [sys.executable, "manage.py", "import_products", str(path)],
        cwd=ROOT, env=service_env(DATABASE_POOL="false"), capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr
    assert f"Import failed: {path}: This is not a CSV text file" in completed.stderr
    assert Product.objects.count() == 0
