"""Keep the count-block table small and its sum cheap under heavy writes.

Every import chunk, and every product toggled, rewrites a few of its rows. Left to defaults, a
1M-row load followed by deactivating 95,000 products grew its 200 rows to 9.7 MB of dead
versions before autovacuum came by (its threshold scales with the table's own tiny size only
after the first ANALYZE); summing them then took a parallel sequential scan, ~6 ms of every
product-list request instead of ~0.1 ms. Half-empty pages let those updates stay on their page
(HOT) and be pruned in passing, a fixed autovacuum threshold cleans up after bursts, and a
table of a few hundred rows never needs parallel workers.
"""

from django.db import migrations

TABLE = "catalog_productcountblock"


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_sku_trigram_index")]

    operations = [
        migrations.RunSQL(
            f"""
            ALTER TABLE {TABLE} SET (
                fillfactor = 50,
                parallel_workers = 0,
                autovacuum_vacuum_scale_factor = 0,
                autovacuum_vacuum_threshold = 1000,
                autovacuum_analyze_scale_factor = 0,
                autovacuum_analyze_threshold = 1000
            )
            """,
            f"""
            ALTER TABLE {TABLE} RESET (
                fillfactor, parallel_workers, autovacuum_vacuum_scale_factor,
                autovacuum_vacuum_threshold, autovacuum_analyze_scale_factor,
                autovacuum_analyze_threshold
            )
            """,
        ),
    ]
