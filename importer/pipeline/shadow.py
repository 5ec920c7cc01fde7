"""The shadow table of a bulk load: shaped like ``catalog_product``, filled without indexes, indexed
once, then swapped in for it.

Nothing about the catalogue's shape is listed here: its columns, indexes, constraints, triggers,
identity sequence and storage options are read from PostgreSQL's catalogs (``CatalogueShape``)
when the load starts, so a migration that adds an index, a generated column or a trigger (search,
say) is followed without a change here, and the catalogue after the swap has every one of them,
under the same names, so later migrations still find them.

- **Created** with ``LIKE catalog_product INCLUDING ALL EXCLUDING INDEXES EXCLUDING IDENTITY``:
  columns, defaults, generated columns, check constraints, storage; no index, so COPY pays for
  none. Its ``id`` draws from the catalogue's own sequence, so the ids of loaded rows and of
  products created through the API meanwhile never meet. BEFORE row triggers are copied at once
  (they shape each row written); AFTER triggers (the count blocks) are added at the swap, and the
  counts recomputed there from the table.
- **De-duplicated** set-based: rows whose SKU the scan found may repeat wait in a side table
  (unlogged, ``<shadow>_repeats``); once the file is in, the last row of each ``lower(sku)`` —
  PostgreSQL's mapping, the unique index's — moves into the shadow, the others are counted
  ``superseded``. The shadow never holds two rows of one SKU.
- **Indexed**: every index of the catalogue, under a temporary name (``index_statements``), built
  by the caller on several connections at once.
- **Swapped** (``swap_in``), in one short transaction holding the catalogue write lock: products
  written through the API during the load are merged (a row of the file wins, as an upsert at
  that moment would), the AFTER triggers and the count blocks are set, and the shadow takes the
  catalogue's place and names. Readers see the old catalogue until that transaction commits and
  wait only for its last statements (``ACCESS EXCLUSIVE``, held for the renames).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import connection

from catalog.models import COUNT_BLOCK_SIZE
from importer.locks import lock_catalog_for_write

CATALOGUE = "catalog_product"
COUNT_BLOCKS = "catalog_productcountblock"
SHADOW_PREFIX = "importer_bulk_"
# The columns a row of the file writes; every other column of a product that already exists
# (id, created_at, and whatever later migrations add) is kept at the swap, as the upsert keeps it.
FILE_COLUMNS = ("sku", "name", "description", "is_active")

_INDEX_DEF = re.compile(r"^CREATE (UNIQUE )?INDEX (\S+) ON (?:ONLY )?(\S+) USING (.*)$", re.S)
_TRIGGER_ON = re.compile(r" ON (?:\S+\.)?" + CATALOGUE + r" ")
# pg_trigger.tgtype bits (PostgreSQL's trigger.h).
_TRIGGER_BEFORE = 1 << 1


def shadow_table(key: int) -> str:
    """The shadow table of job ``key`` (0 for a run without a job). An int: safe to format into SQL."""
    return f"{SHADOW_PREFIX}{int(key)}"


@dataclass(frozen=True)
class IndexPlan:
    """One index of the catalogue, and how to build it on the shadow."""

    name: str  # its name on the catalogue, kept after the swap
    temporary: str  # its name on the shadow until the swap
    statement: str  # CREATE INDEX on the shadow
    method: str  # btree, gin, …
    constraint: str | None  # "PRIMARY KEY" or "UNIQUE" when a constraint owns it


@dataclass(frozen=True)
class TriggerPlan:
    name: str
    statement: str  # CREATE TRIGGER on the shadow
    before: bool


@dataclass(frozen=True)
class CatalogueShape:
    """What the catalogue table is made of, read from PostgreSQL when a bulk load starts."""

    columns: tuple[str, ...]  # written columns (not generated), in table order
    indexes: tuple[IndexPlan, ...]
    triggers: tuple[TriggerPlan, ...]
    references: tuple[tuple[str, str, str], ...]  # foreign keys to the catalogue: (table, name, definition)
    sequence: str  # the id column's sequence
    identity: str  # pg_attribute.attidentity of id: "d" (by default), "a" (always) or "" (serial)
    options: tuple[str, ...]  # storage parameters, e.g. fillfactor=90

    def build_order(self) -> list[IndexPlan]:
        """Slowest first, so that on several connections the long builds start at once."""
        cost = {"gin": 0, "gist": 1}
        return sorted(self.indexes, key=lambda plan: (cost.get(plan.method, 2), plan.constraint is None))


def read_shape(cursor, *, shadow: str) -> CatalogueShape:
    """Read the catalogue's columns, indexes, constraints, triggers and sequence."""
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
        [CATALOGUE],
    )
    columns = tuple(name for (name,) in cursor.fetchall())
    cursor.execute(
        """
        SELECT ic.relname, pg_get_indexdef(i.indexrelid), am.amname, c.contype
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam
        LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
        WHERE i.indrelid = %s::regclass
        ORDER BY ic.relname
        """,
        [CATALOGUE],
    )
    indexes = []
    for number, (name, definition, method, contype) in enumerate(cursor.fetchall()):
        match = _INDEX_DEF.match(definition)
        if match is None or contype not in (None, "p", "u"):
            raise ValueError(f"cannot rebuild index {name} of {CATALOGUE} in bulk: {definition}")
        temporary = f"{shadow}_i{number}"
        indexes.append(
            IndexPlan(
                name=name,
                temporary=temporary,
                method=method,
                statement=(
                    f"CREATE {match.group(1) or ''}INDEX {temporary} ON {shadow} USING {match.group(4)}"
                ),
                constraint={"p": "PRIMARY KEY", "u": "UNIQUE"}.get(contype),
            )
        )
    cursor.execute(
        "SELECT tgname, pg_get_triggerdef(oid), tgtype FROM pg_trigger "
        "WHERE tgrelid = %s::regclass AND NOT tgisinternal ORDER BY tgname",
        [CATALOGUE],
    )
    triggers = tuple(
        TriggerPlan(
            name=name,
            statement=_TRIGGER_ON.sub(f" ON {shadow} ", definition, count=1),
            before=bool(tgtype & _TRIGGER_BEFORE),
        )
        for name, definition, tgtype in cursor.fetchall()
    )
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE confrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [CATALOGUE],
    )
    references = tuple(cursor.fetchall())
    cursor.execute(
        "SELECT pg_get_serial_sequence(%s, 'id'), a.attidentity, coalesce(c.reloptions, '{}') "
        "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'id' "
        "WHERE c.oid = %s::regclass",
        [CATALOGUE, CATALOGUE],
    )
    sequence, identity, options = cursor.fetchone()
    return CatalogueShape(
        columns=columns,
        indexes=tuple(indexes),
        triggers=triggers,
        references=references,
        sequence=sequence,
        identity=identity,
        options=tuple(options),
    )


def create_shadow(cursor, *, shadow: str, shape: CatalogueShape) -> None:
    """(Re)create the empty shadow table; a shadow left by a dead run of the same job goes first."""
    cursor.execute(f"DROP TABLE IF EXISTS {shadow}")
    cursor.execute(
        f"CREATE TABLE {shadow} (LIKE {CATALOGUE} INCLUDING ALL EXCLUDING INDEXES EXCLUDING IDENTITY)"
    )
    # nextval(text), not nextval(regclass): the name is looked up at each call, so the shadow does
    # not depend on today's sequence. Another bulk load's swap replaces that sequence (an identity
    # sequence goes with its table), and this shadow then draws from its successor, which starts
    # past every id given so far.
    cursor.execute(f"ALTER TABLE {shadow} ALTER COLUMN id SET DEFAULT nextval(%s::text)", [shape.sequence])
    # No autovacuum while it is loaded and indexed: its lock would make the index builds wait.
    # The catalogue's own options come back at the swap.
    cursor.execute(f"ALTER TABLE {shadow} SET ({', '.join(('autovacuum_enabled=false', *shape.options))})")
    for trigger in shape.triggers:
        if trigger.before:
            cursor.execute(trigger.statement)
    # Working data only: a run that dies starts over, so it needs no WAL.
    cursor.execute(f"DROP TABLE IF EXISTS {repeats_table(shadow)}")
    cursor.execute(
        f"CREATE UNLOGGED TABLE {repeats_table(shadow)} "
        "(line bigint NOT NULL, sku text NOT NULL, name text NOT NULL, description text NOT NULL, "
        "is_active boolean NOT NULL)"
    )


def drop_shadow(cursor, *, shadow: str) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {shadow}, {repeats_table(shadow)}")


def shadow_tables(cursor) -> list[tuple[str, int]]:
    """Every shadow table in the database, with the job id its name carries."""
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname LIKE %s "
        "AND relnamespace = current_schema()::regnamespace",
        [SHADOW_PREFIX.replace("_", r"\_") + "%"],
    )
    found = []
    for (name,) in cursor.fetchall():
        suffix = name[len(SHADOW_PREFIX) :]
        if suffix.isdigit():
            found.append((name, int(suffix)))
    return found


def copy_statement(shadow: str) -> str:
    return f"COPY {shadow} ({', '.join(FILE_COLUMNS)}) FROM STDIN"


def repeats_table(shadow: str) -> str:
    return f"{shadow}_repeats"


def copy_repeats_statement(shadow: str) -> str:
    return f"COPY {repeats_table(shadow)} (line, {', '.join(FILE_COLUMNS)}) FROM STDIN"


def merge_repeats(cursor, *, shadow: str) -> int:
    """Move the last row of each repeated SKU into the shadow; return how many rows it replaced.

    PostgreSQL's ``lower()`` decides what is one SKU, as the unique index will; the side table
    holds only the rows the scan found may repeat (a few percent), so this sorts those only.
    """
    repeats = repeats_table(shadow)
    cursor.execute("SELECT set_config('work_mem', '256MB', true)")
    cursor.execute(f"SELECT count(*) FROM {repeats}")
    (waiting,) = cursor.fetchone()
    cursor.execute(
        f"""
        INSERT INTO {shadow} ({", ".join(FILE_COLUMNS)})
        SELECT DISTINCT ON (lower(sku) COLLATE "C") {", ".join(FILE_COLUMNS)}
        FROM {repeats}
        ORDER BY lower(sku) COLLATE "C", line DESC
        """
    )
    merged = cursor.rowcount
    cursor.execute(f"DROP TABLE {repeats}")
    return waiting - merged


def analyze_shadow(cursor, *, shadow: str) -> None:
    # Statistics for the planner from the first query after the swap (lower(sku) included).
    cursor.execute(f"ANALYZE {shadow}")


@dataclass(frozen=True)
class SwapCounts:
    """How the rows loaded compare with the products already there at the swap."""

    loaded: int  # distinct SKUs of the file
    updated: int  # … that replaced an existing product's values
    unchanged: int  # … equal to an existing product
    kept: int  # existing products the file does not name, carried over


def swap_in(
    cursor,
    *,
    shadow: str,
    shape: CatalogueShape,
    sets_active: bool,
    lock_timeout_ms: int,
    undo_job: int | None = None,
) -> SwapCounts:
    """Merge the catalogue's current products into the shadow and put it in the catalogue's place.

    Must run inside a transaction; the caller records the job's counts in the same one, so the
    catalogue and the job change together. Raises the database's lock-timeout error
    (``LockNotAvailable``) when a reader holds the catalogue longer than ``lock_timeout_ms``;
    the caller rolls back and tries again.
    """
    cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
    lock_catalog_for_write()
    # EXCLUSIVE: writers (the API, another import's chunk) wait from here; readers go on.
    cursor.execute(f"LOCK TABLE {CATALOGUE} IN EXCLUSIVE MODE")
    counts = _merge_existing(cursor, shadow=shadow, shape=shape, sets_active=sets_active, undo_job=undo_job)
    if undo_job is not None:
        _record_created(cursor, shadow=shadow, undo_job=undo_job)
    for trigger in shape.triggers:
        if not trigger.before:
            cursor.execute(trigger.statement)
    # AFTER triggers did not see the load: the count blocks are recomputed from the table.
    cursor.execute(f"DELETE FROM {COUNT_BLOCKS}")
    cursor.execute(
        f"INSERT INTO {COUNT_BLOCKS} (block, is_active, products) "
        f"SELECT id / {int(COUNT_BLOCK_SIZE)}, is_active, count(*) FROM {shadow} GROUP BY 1, 2"
    )
    _take_over_sequence(cursor, shadow=shadow, shape=shape)
    # From here to the commit readers wait too: only renames and catalog updates follow.
    cursor.execute(f"LOCK TABLE {CATALOGUE} IN ACCESS EXCLUSIVE MODE")
    for table, name, _definition in shape.references:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    # No CASCADE: anything else that depends on the catalogue (a view) makes the swap fail loudly.
    cursor.execute(f"DROP TABLE {CATALOGUE}")
    cursor.execute(f"ALTER TABLE {shadow} RENAME TO {CATALOGUE}")
    for index in shape.indexes:
        if index.constraint:
            cursor.execute(
                f"ALTER TABLE {CATALOGUE} ADD CONSTRAINT {index.name} {index.constraint} "
                f"USING INDEX {index.temporary}"
            )
        else:
            cursor.execute(f"ALTER INDEX {index.temporary} RENAME TO {index.name}")
    if shape.identity:
        cursor.execute(f"ALTER SEQUENCE {_swap_sequence(shadow)} RENAME TO {_unqualified(shape.sequence)}")
    cursor.execute(f"ALTER TABLE {CATALOGUE} RESET (autovacuum_enabled)")
    if shape.options:
        cursor.execute(f"ALTER TABLE {CATALOGUE} SET ({', '.join(shape.options)})")
    for table, name, definition in shape.references:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
    return counts


def _merge_existing(
    cursor, *, shadow: str, shape: CatalogueShape, sets_active: bool, undo_job: int | None
) -> SwapCounts:
    # A product of the catalogue that the file names keeps its id, created_at and every column the
    # file does not write, as INSERT … ON CONFLICT DO UPDATE would; its is_active too when the
    # file has no such column. updated_at moves only if a value changed.
    kept_columns = [c for c in shape.columns if c not in FILE_COLUMNS and c != "updated_at"]
    if not sets_active:
        kept_columns.append("is_active")
    compared = ["sku", "name", "description"] + (["is_active"] if sets_active else [])
    new = ", ".join(f"s.{c}" for c in compared)
    old = ", ".join(f"o.{c}" for c in compared)
    assignments = ", ".join(f"{c} = o.{c}" for c in kept_columns)
    # Undo (importer.undo_data) restores a product it overwrote from its before-image, if the
    # product's updated_at is still the one the import gave it (written_at).
    before = (
        f""", before AS (
            INSERT INTO importer_productbeforeimage
                (job_id, product_id, sku, name, description, is_active, created_at, updated_at, written_at)
            SELECT {int(undo_job)}, m.old_id, m.old_sku, m.old_name, m.old_description, m.old_is_active,
                   m.old_created_at, m.old_updated_at, m.written_at
            FROM merged m WHERE m.changed
            ON CONFLICT DO NOTHING
        )"""
        if undo_job is not None
        else ""
    )
    cursor.execute(
        f"""
        WITH merged AS (
            UPDATE {shadow} s SET {assignments},
                updated_at = CASE WHEN ({new}) IS DISTINCT FROM ({old})
                                  THEN s.updated_at ELSE o.updated_at END
            FROM {CATALOGUE} o
            WHERE lower(s.sku) = lower(o.sku)
            RETURNING ({new}) IS DISTINCT FROM ({old}) AS changed, o.id AS old_id, o.sku AS old_sku,
                o.name AS old_name, o.description AS old_description, o.is_active AS old_is_active,
                o.created_at AS old_created_at, o.updated_at AS old_updated_at, s.updated_at AS written_at
        ){before}
        SELECT count(*) FILTER (WHERE changed), count(*) FILTER (WHERE NOT changed) FROM merged
        """
    )
    updated, unchanged = cursor.fetchone()
    columns = ", ".join(shape.columns)
    cursor.execute(
        f"""
        INSERT INTO {shadow} ({columns})
        SELECT {columns} FROM {CATALOGUE} o
        WHERE NOT EXISTS (SELECT 1 FROM {shadow} s WHERE lower(s.sku) = lower(o.sku))
        """
    )
    kept = cursor.rowcount
    cursor.execute(f"SELECT count(*) FROM {shadow}")
    (total,) = cursor.fetchone()
    return SwapCounts(loaded=total - kept, updated=updated, unchanged=unchanged, kept=kept)


# Ids per row of importer_createdproducts, as the chunked path records about a chunk's worth.
CREATED_IDS_PER_ROW = 10_000


def _record_created(cursor, *, shadow: str, undo_job: int) -> None:
    """Record the ids of the products the load created (not in the catalogue before the swap),
    about ``CREATED_IDS_PER_ROW`` per row, each row with the ``updated_at`` its products have:
    one per chunk's COPY, which is what an undo compares to tell an untouched product."""
    cursor.execute(
        f"""
        INSERT INTO importer_createdproducts (job_id, ids, written_at)
        SELECT {int(undo_job)}, array_agg(s.id), s.updated_at
        FROM {shadow} s
        WHERE NOT EXISTS (SELECT 1 FROM {CATALOGUE} o WHERE o.id = s.id)
        GROUP BY s.updated_at, s.id / {CREATED_IDS_PER_ROW}
        """
    )


def _take_over_sequence(cursor, *, shadow: str, shape: CatalogueShape) -> None:
    """Give the shadow's id the catalogue's sequence (its next value), as the catalogue had it."""
    if not shape.identity:
        # A serial column: the sequence moves to the shadow and survives the old table's drop.
        cursor.execute(f"ALTER SEQUENCE {shape.sequence} OWNED BY {shadow}.id")
        return
    # An identity sequence cannot change owner and goes with its table: the shadow gets one of
    # its own that starts where the catalogue's stands, renamed to the catalogue's at the end.
    cursor.execute(f"SELECT last_value, is_called FROM {shape.sequence}")
    last_value, is_called = cursor.fetchone()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {shadow}")
    (highest,) = cursor.fetchone()
    start = max(last_value + 1 if is_called else last_value, highest + 1)
    kind = "ALWAYS" if shape.identity == "a" else "BY DEFAULT"
    cursor.execute(f"ALTER TABLE {shadow} ALTER COLUMN id DROP DEFAULT")
    cursor.execute(
        f"ALTER TABLE {shadow} ALTER COLUMN id ADD GENERATED {kind} AS IDENTITY "
        f"(SEQUENCE NAME {_swap_sequence(shadow)} START WITH {int(start)})"
    )


def _swap_sequence(shadow: str) -> str:
    return f"{shadow}_id_seq"


def _unqualified(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def catalogue_is_empty() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {CATALOGUE})")
        return cursor.fetchone()[0]
