"""Count blocks kept by triggers, trigram indexes for the text filters, (is_active, id) index.

See ``catalog.models.ProductCountBlock`` and ``catalog.selectors`` for why they exist.
"""

from django.db import migrations, models

BLOCK_SIZE = 10_000  # catalog.models.COUNT_BLOCK_SIZE when this migration was written; fixed here.

# INSERT and DELETE: one upsert per statement from its transition table, in block order (so two
# concurrent statements lock the counter rows in the same order and cannot deadlock each other).
# A 50,000-row import chunk costs one GROUP BY over the rows it inserted.
CREATE_TRIGGERS = f"""
CREATE FUNCTION catalog_product_count_statement() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sign bigint := CASE WHEN TG_OP = 'DELETE' THEN -1 ELSE 1 END;
BEGIN
    INSERT INTO catalog_productcountblock AS c (block, is_active, products)
    SELECT id / {BLOCK_SIZE}, is_active, sign * count(*)
    FROM changed_rows
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (block, is_active) DO UPDATE SET products = c.products + EXCLUDED.products;
    RETURN NULL;
END
$$;

-- UPDATE is row-level and fires only when is_active (or id) really changes: a statement-level
-- UPDATE trigger would make PostgreSQL keep every updated row twice (old and new transition
-- tables) for each import chunk that rewrites names, only to find nothing to count.
CREATE FUNCTION catalog_product_count_row_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productcountblock AS c (block, is_active, products)
    SELECT block, is_active, sum(delta)
    FROM (VALUES (OLD.id / {BLOCK_SIZE}, OLD.is_active, -1::bigint),
                 (NEW.id / {BLOCK_SIZE}, NEW.is_active, 1::bigint)) AS change (block, is_active, delta)
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (block, is_active) DO UPDATE SET products = c.products + EXCLUDED.products;
    RETURN NULL;
END
$$;

CREATE FUNCTION catalog_product_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_productcountblock;
    RETURN NULL;
END
$$;

CREATE TRIGGER catalog_product_count_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_count_statement();
CREATE TRIGGER catalog_product_count_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_count_statement();
CREATE TRIGGER catalog_product_count_update AFTER UPDATE OF is_active, id ON catalog_product
    FOR EACH ROW WHEN (OLD.is_active IS DISTINCT FROM NEW.is_active OR OLD.id <> NEW.id)
    EXECUTE FUNCTION catalog_product_count_row_update();
CREATE TRIGGER catalog_product_count_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_count_truncate();

-- CREATE TRIGGER holds a lock that blocks writes to catalog_product until this migration
-- commits, so the seed below cannot miss a concurrent write.
INSERT INTO catalog_productcountblock (block, is_active, products)
SELECT id / {BLOCK_SIZE}, is_active, count(*) FROM catalog_product GROUP BY 1, 2;
"""

DROP_TRIGGERS = """
DROP TRIGGER catalog_product_count_insert ON catalog_product;
DROP TRIGGER catalog_product_count_delete ON catalog_product;
DROP TRIGGER catalog_product_count_update ON catalog_product;
DROP TRIGGER catalog_product_count_truncate ON catalog_product;
DROP FUNCTION catalog_product_count_statement();
DROP FUNCTION catalog_product_count_row_update();
DROP FUNCTION catalog_product_count_truncate();
"""


class Migration(migrations.Migration):

    dependencies = [
        ('catalog', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='ProductCountBlock',
            fields=[
                ('pk', models.CompositePrimaryKey('block', 'is_active', blank=True, editable=False, primary_key=True, serialize=False)),
                ('block', models.BigIntegerField()),
                ('is_active', models.BooleanField()),
                ('products', models.BigIntegerField(default=0)),
            ],
            options={
                'ordering': ['block', 'is_active'],
            },
        ),
        migrations.RunSQL(CREATE_TRIGGERS, DROP_TRIGGERS),
        migrations.AddIndex(
            model_name='product',
            index=models.Index(fields=['is_active', 'id'], name='catalog_product_active_id'),
        ),
    ]
