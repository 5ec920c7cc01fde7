"""Optional PostgreSQL extensions: create one if this server has it and the user may.

Contrib extensions (``pg_trgm``, ``unaccent``) ship with most PostgreSQL packages but not with
every build (the embedded server of ``make run`` has neither), and creating one can need rights
the database user lacks. Migrations that can use one ask here and keep a slower but correct
fallback when the answer is no.
"""

from __future__ import annotations


def ensure_extension(cursor, name: str) -> str | None:
    """Create extension ``name`` unless it exists; None when it is there, else why it is not."""
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = %s", [name])
    if cursor.fetchone() is not None:
        return None
    cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", [name])
    if cursor.fetchone() is None:
        return f"PostgreSQL has no {name} extension"
    cursor.execute("SAVEPOINT ensure_extension")
    try:
        cursor.execute(f'CREATE EXTENSION "{name}"')
    except Exception as exc:  # noqa: BLE001 - typically insufficient privilege
        cursor.execute("ROLLBACK TO SAVEPOINT ensure_extension")
        return f"cannot create the {name} extension ({exc})"
    cursor.execute("RELEASE SAVEPOINT ensure_extension")
    return None
