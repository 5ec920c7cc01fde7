"""The active filter's index holds only inactive products, so imports never write it.

Imports create active products and keep the flag of the ones they update. The (is_active, id)
index of migration 0002 took an entry for every product an import created: measured on the SQL of
a 1M-row import's chunks, dropping it saved about 6% of the import (WAL 522 MB to 448 MB). A
list of active products in id order is the primary key's order with a filter, which finds a page
within a few rows while inactive products are a minority; a list of inactive ones, and the
deep-page seek through the count blocks, use this partial index.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0004_count_block_storage'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='product',
            name='catalog_product_active_id',
        ),
        migrations.AddIndex(
            model_name='product',
            index=models.Index(condition=models.Q(('is_active', False)), fields=['id'], name='catalog_product_inactive_id'),
        ),
    ]
