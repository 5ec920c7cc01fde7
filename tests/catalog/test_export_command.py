"""`manage.py export_products [FILE]`: the API's export from a shell, run as a real process.

It writes the same CSV as GET /api/products/export/ for the same filters, reports progress on
standard error, refuses an unknown ordering with a clear message, and its file imports back with
`manage.py import_products`.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from catalog.models import Product
from tests.support.clients import token_client
from tests.support.database import test_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": test_database_url()}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_writes_what_the_api_exports_and_it_imports_back(tmp_path, user):
    alice_client = token_client(user)
    Product.objects.create(sku="CMD-1", name='Lamp, "quoted"', description="two\nlines")
    Product.objects.create(sku="CMD-2", name="Lamp 2", is_active=False)
    Product.objects.create(sku="OTHER", name="Chair")
    out = tmp_path / "lamps.csv"

    done = manage("export_products", str(out), "--search", "lamp", "--ordering=-sku")

    assert done.returncode == 0, done.stderr
    assert "Exported" in done.stderr and str(out) in done.stderr
    api = b"".join(alice_client.get("/api/products/export/?search=lamp&ordering=-sku").streaming_content)
    assert out.read_bytes() == api
    assert out.read_text().splitlines()[1].startswith('CMD-2,Lamp 2,"",false,')

    Product.objects.filter(sku__startswith="CMD").delete()
    imported = manage("import_products", str(out))
    assert imported.returncode == 0, imported.stderr
    assert sorted(
        Product.objects.filter(sku__startswith="CMD").values_list("sku", "name", "description", "is_active")
    ) == [
        ("CMD-1", 'Lamp, "quoted"', "two\nlines", True),
        ("CMD-2", "Lamp 2", "", False),
    ]


def test_standard_output_and_filters():
    Product.objects.create(sku="OUT-1", name="Active")
    Product.objects.create(sku="OUT-2", name="Inactive", is_active=False)
    done = manage("export_products", "--is-active", "false")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sku,name,description,is_active,created_at,updated_at"
    assert [line.split(",")[0] for line in lines[1:]] == ["OUT-2"]


def test_an_unknown_ordering_is_refused_with_a_clear_message():
    done = manage("export_products", "--ordering", "price")
    assert done.returncode == 1
    assert "--ordering: unknown field 'price'" in done.stderr
