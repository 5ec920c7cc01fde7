"""Create the configured PostgreSQL database if it does not exist yet."""

from __future__ import annotations

import psycopg
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from psycopg import sql


class Command(BaseCommand):
    help = "Create the database named in DATABASE_URL if it does not exist (for a fresh machine)."

    def handle(self, *args, **options) -> None:
        params = connection.get_connection_params()
        name = connection.settings_dict["NAME"]
        params.pop("dbname", None)
        params.pop("pool", None)
        params.pop("cursor_factory", None)
        params.pop("context", None)
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
                if exists:
                    self.stdout.write(f"Database {name!r} exists.")
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                self.stdout.write(self.style.SUCCESS(f"Created database {name!r}."))
        except psycopg.OperationalError as exc:
            raise CommandError(f"Cannot reach PostgreSQL to create {name!r}: {exc}") from None
