"""Word search over name, SKU and description: a generated ``tsvector`` column with one GIN index.

``search_vector`` is computed by PostgreSQL on every INSERT and UPDATE (``GENERATED ALWAYS … STORED``),
so the importer's set-based SQL, the ORM and any other writer keep it right with no code of their
own, and a chunk an import commits is searchable in the same transaction. Name and SKU are weight
A, the description weight B: the list reads name/SKU matches first (``catalog.search``), through
a second GIN index on the weight-A part (GIN keeps no weights).

Everything here is core PostgreSQL (full text search is in every build): the embedded server of
``make run`` has neither ``unaccent`` nor ``pg_trgm``, so accents are folded by an IMMUTABLE SQL
function of our own, ``catalog_search_fold`` (NFKD, combining marks dropped, the Latin letters that
do not decompose spelled out; the ``simple`` configuration lowers the case). The query side
(``catalog_search_query_text``) folds the same way, so ``cordoba`` meets "Córdoba" and ``CORDOBA`` too.

PostgreSQL's parser turns ``LPY-0004321`` into ``lpy`` and the signed number ``-0004321``, and
``a/b`` or ``1.5`` into single tokens; SKUs and words are split at ``- _ / . @ : + #`` first, so
each part is a word of its own (``lpy``, ``0004321``). The query side splits the same characters
inside a word but keeps a ``-`` that starts one: that is ``websearch_to_tsquery``'s exclusion.

The description is indexed up to its first 100,000 characters: a tsvector holds at most 1 MB and a
longer text would make the row's INSERT fail (the default length limit is 20,000).

The functions are not STRICT so that PostgreSQL inlines them into the column's expression (a
STRICT SQL function whose body is not provably strict is called, not inlined, at each row).

Adding the column rewrites the table under an exclusive lock: about a minute per million products.
"""

from django.db import migrations

FOLD = r"""
-- Accents off: NFKD splits a letter from its marks, which are then dropped; the letters NFKD keeps
-- whole are spelled out first. Letter case is left to the 'simple' configuration, which lowers
-- every word on both sides. Each step runs only when the text needs it: this function runs for
-- every row an import writes, and NFKD and the replacements are most of its cost (plain ASCII
-- text, most SKUs, skips them all).
CREATE FUNCTION catalog_search_fold(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN octet_length(value) = length(value) THEN value ELSE
    regexp_replace(normalize(
        CASE WHEN value ~ '[ßẞÆæŒœÞþØøĐđŁłĦħıÐð]' THEN translate(
            replace(replace(replace(replace(replace(replace(replace(replace(value,
                'ß', 'ss'), 'ẞ', 'SS'), 'Æ', 'AE'), 'æ', 'ae'),
                'Œ', 'OE'), 'œ', 'oe'), 'Þ', 'TH'), 'þ', 'th'),
            'ØøĐđŁłĦħıÐð', 'OoDdLlHhiDd')
        ELSE value END, NFKD), '[\u0300-\u036f]', '', 'g')
END;

-- The document's words: folded, with the characters that glue tokens together made spaces.
CREATE FUNCTION catalog_search_words(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN regexp_replace(catalog_search_fold(value), '[-_/.@:+#]+', ' ', 'g');

-- A user's query, folded the same way; a '-' that starts a word (an exclusion) and quotes stay.
CREATE FUNCTION catalog_search_query_text(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN regexp_replace(
    regexp_replace(catalog_search_fold(value), '([^[:space:]"-])-+', '\1 ', 'g'),
    '[_/.@:+#]+', ' ', 'g');

CREATE FUNCTION catalog_product_search_document(sku text, name text, description text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(
        to_tsvector('simple', catalog_search_words(coalesce(name, '') || ' ' || coalesce(sku, ''))), 'A')
    || setweight(to_tsvector('simple', catalog_search_words(left(coalesce(description, ''), 100000))), 'B');
"""

ADD_COLUMN = """
ALTER TABLE catalog_product ADD COLUMN search_vector tsvector
    GENERATED ALWAYS AS (catalog_product_search_document(sku, name, description)) STORED;
CREATE INDEX catalog_product_search ON catalog_product USING gin (search_vector);
-- The name tier (every word in the name or SKU): GIN keeps no weights, so the weight-A part has
-- an index of its own, a third of the entries of the whole vector's.
CREATE INDEX catalog_product_search_names ON catalog_product USING gin (ts_filter(search_vector, '{a}'));
"""

DROP = """
DROP INDEX IF EXISTS catalog_product_search_names;
DROP INDEX IF EXISTS catalog_product_search;
ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_vector;
DROP FUNCTION IF EXISTS catalog_product_search_document(text, text, text);
DROP FUNCTION IF EXISTS catalog_search_query_text(text);
DROP FUNCTION IF EXISTS catalog_search_words(text);
DROP FUNCTION IF EXISTS catalog_search_fold(text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0006_description_length"),
    ]

    operations = [
        migrations.RunSQL(FOLD + ADD_COLUMN, DROP, elidable=False),
    ]
