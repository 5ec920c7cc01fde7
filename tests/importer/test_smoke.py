import io

import pytest

from catalog.models import Product
from importer.pipeline import import_csv


@pytest.mark.django_db
def test_later_duplicate_overwrites_earlier_in_any_case():
    data = b"sku,name,description\nABC-1,First,one\nabc-1,Second,two\n"
    result = import_csv(file=io.BytesIO(data), size_bytes=len(data))
    assert result.progress.processed_rows == 2
    product = Product.objects.get()
    assert (product.sku, product.name, product.description) == ("abc-1", "Second", "two")
