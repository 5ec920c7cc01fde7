"""Descriptions get a length limit in the database: a check constraint on char_length(description).

Its bound follows the PRODUCT_DESCRIPTION_MAX_LENGTH setting (catalog/constraints.py): this
migration creates it, and every later `migrate` re-aligns it if the setting changed.
"""

from django.db import migrations


def add_constraint(apps, schema_editor):
    from catalog.constraints import sync_description_limit

    sync_description_limit(connection=schema_editor.connection)


def drop_constraint(apps, schema_editor):
    from catalog.constraints import CONSTRAINT

    schema_editor.execute(f"ALTER TABLE catalog_product DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_partial_inactive_index"),
    ]

    operations = [migrations.RunPython(add_constraint, drop_constraint)]
