"""Fold accents with PostgreSQL's ``unaccent`` dictionary where the server has it.

Migration 0007 folds accents with SQL of its own (``catalog_search_fold``: NFKD and a regular
expression over the whole text), which works on every build but is about half of what the
search column costs each row an import writes: measured over 100k benchmark rows,
``catalog_product_search_document`` took 2.7 s, and 1.4 s when the same words are folded by
``unaccent`` (C, one hash lookup per character of the words that are not plain ASCII), with the
same vector for every one of those rows.

So the search now parses with a configuration of its own, ``catalog_search``: a copy of
``simple`` (no stemming, no stop words) that, where ``unaccent`` can be created, runs the words
that may hold accents through it first; the document and the query then skip the SQL fold.
Where it cannot (the embedded server of ``make run`` has no contrib extensions), the
configuration is plain ``simple`` and the fold of 0007 stays on both sides. Either way the
query is parsed by the same configuration and folding as the products, so a search matches on
the server it runs on. The two foldings agree on the letters of Latin-script languages (é, ñ,
ø, ß, æ, œ, ł, đ, þ, ı, ș…); they differ on rarer letters: ``unaccent`` also folds ŧ, ƀ, ŋ and
the like, NFKD also folds ª, ², ½ and full-width forms.

Where ``unaccent`` is used, the products' stored vectors are recomputed where the new folding
gives another one (none for the benchmark's rows): one read of the table, ~15 s per million
products, and an update of the few rows that change. Without it nothing is recomputed: the
fold and ``simple``'s rules are those of 0007.
"""

from django.db import migrations

from catalog.pg_extensions import ensure_extension

# The token types whose text may hold letters outside ASCII (asciiword and the numbers never do,
# and skipping unaccent for them is most of what it saves).
UNACCENT_TYPES = (
    "word, numword, hword, numhword, hword_part, hword_numpart, email, url, host, url_path, file"
)

SPLIT = "regexp_replace({folded}, '[-_/.@:+#]+', ' ', 'g')"
QUERY_SPLIT = (
    "regexp_replace(regexp_replace({folded}, '([^[:space:]\"-])-+', '\\1 ', 'g'), '[_/.@:+#]+', ' ', 'g')"
)


def _functions(config: str, folded: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION catalog_search_words(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN {SPLIT.format(folded=folded)};

CREATE OR REPLACE FUNCTION catalog_search_query_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN {QUERY_SPLIT.format(folded=folded)};

CREATE OR REPLACE FUNCTION catalog_product_search_document(sku text, name text, description text)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(
        to_tsvector('{config}', catalog_search_words(coalesce(name, '') || ' ' || coalesce(sku, ''))), 'A')
    || setweight(to_tsvector('{config}', catalog_search_words(left(coalesce(description, ''), 100000))), 'B');
"""


RECOMPUTE = """
UPDATE catalog_product SET search_vector = DEFAULT
WHERE search_vector IS DISTINCT FROM catalog_product_search_document(sku, name, description)
"""


def use_unaccent(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        missing = ensure_extension(cursor, "unaccent")
        cursor.execute("CREATE TEXT SEARCH CONFIGURATION catalog_search (COPY = simple)")
        if missing:
            print(f"\n  catalog_search: {missing}; accents are folded by catalog_search_fold "
                  "(slower imports).")
            cursor.execute(_functions("catalog_search", "catalog_search_fold(value)"))
            return
        cursor.execute(
            f"ALTER TEXT SEARCH CONFIGURATION catalog_search ALTER MAPPING FOR {UNACCENT_TYPES} "
            "WITH unaccent, simple"
        )
        cursor.execute(_functions("catalog_search", "value"))
        cursor.execute(RECOMPUTE)


def back_to_the_sql_fold(apps, schema_editor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(_functions("simple", "catalog_search_fold(value)"))
        cursor.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS catalog_search")
        cursor.execute(RECOMPUTE)


class Migration(migrations.Migration):
    dependencies = [("catalog", "0008_ordering_indexes")]

    operations = [migrations.RunPython(use_unaccent, back_to_the_sql_fold, elidable=False)]
