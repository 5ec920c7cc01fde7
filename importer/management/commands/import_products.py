"""Import a product CSV in the foreground, with a progress bar — for operators on the server."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from importer.mapping import MappingInvalid, parse_cli_mapping, resolve_mapping, suggest_targets
from importer.pipeline import (
    CLI_WORDING,
    FileRejected,
    ImportObserver,
    ImportProgress,
    import_csv,
    resolve_encoding,
)
from importer.pipeline.header import ColumnsUnmapped, read_header


class _ProgressBar(ImportObserver):
    """Draws a one-line progress bar on a terminal, or a line per 10% elsewhere."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.started_at = time.monotonic()
        self.last_decile = -1

    def counting(self, progress: ImportProgress) -> None:
        if not progress.percent:
            self.stream.write("Counting rows…\n")

    def started(self, progress: ImportProgress) -> None:
        self.stream.write(f"Importing {progress.total_rows:,} rows\n")
        self.started_at = time.monotonic()

    def chunk_committed(self, progress: ImportProgress) -> None:
        percent = progress.percent
        elapsed = max(time.monotonic() - self.started_at, 1e-6)
        rate = progress.processed_rows / elapsed
        line = (
            f"{percent:3d}% {progress.processed_rows:,}/{progress.total_rows or 0:,} rows "
            f"({rate:,.0f} rows/s)"
        )
        if self.tty:
            filled = percent * 30 // 100
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {line}")
            self.stream.flush()
        elif percent // 10 != self.last_decile:
            self.last_decile = percent // 10
            self.stream.write(line + "\n")


def _map_hint(names: list[str]) -> str:
    """The --map options that would map ``names`` by their suggestions, as a hint."""
    pairs = [(name, target) for name, target in zip(names, suggest_targets(names), strict=True) if target]
    if {"sku", "name"} <= {target for _, target in pairs}:
        options = " ".join(f'--map "{name}={target}"' for name, target in pairs)
        return f"Say which column is which, for example: {options}"
    return 'Say which column is which with --map "HEADER=sku" --map "HEADER=name".'


class Command(BaseCommand):
    help = "Import products from a CSV file (sku,name,description) in the foreground."

    def add_arguments(self, parser) -> None:
        parser.add_argument("file", type=Path, help="Path of the CSV file.")
        parser.add_argument(
            "--encoding",
            default=settings.IMPORT_DEFAULT_ENCODING,
            help="Text encoding of the file, e.g. cp1252 for files from older Excel (default: %(default)s).",
        )
        parser.add_argument(
            "--chunk-size", type=int, default=settings.IMPORT_CHUNK_SIZE,
            help="Rows per committed chunk (default: %(default)s).",
        )
        parser.add_argument(
            "--max-errors", type=int, default=20, help="Row errors to print (default: %(default)s)."
        )
        parser.add_argument(
            "--map", action="append", default=[], metavar="HEADER=TARGET", dest="mapping",
            help='Which column is which, when the header does not say sku and name: --map '
            '"Variant SKU=sku" --map "Title=name" (targets: sku, name, description, is_active; '
            '"HEADER=" ignores a column). Repeat for each column.',
        )

    def handle(
        self, *args, file: Path, encoding: str, chunk_size: int, max_errors: int, mapping: list[str],
        **options,
    ) -> None:
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        observer = _ProgressBar(self.stdout._out if hasattr(self.stdout, "_out") else sys.stdout)
        try:
            with file.open("rb") as handle:
                positions = self._positions(handle, mapping, encoding=encoding) if mapping else None
                result = import_csv(
                    file=handle,
                    size_bytes=file.stat().st_size,
                    encoding=encoding,
                    chunk_size=chunk_size,
                    observer=observer,
                    positions=positions,
                )
        except ColumnsUnmapped as exc:
            raise CommandError(
                f"Import failed: {file}: {exc.worded(CLI_WORDING)} {_map_hint(exc.header.names)}"
            ) from None
        except FileRejected as exc:
            # Worded for the command line: it names --encoding and the file, not an upload.
            raise CommandError(f"Import failed: {file}: {exc.worded(CLI_WORDING)}") from None
        except MappingInvalid as exc:
            raise CommandError(f"Import failed: {file}: {exc}") from None
        if observer.tty:
            self.stdout.write("")
        progress = result.progress
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {progress.processed_rows:,} rows in {result.seconds:.1f} s: "
                f"{progress.created:,} created, {progress.updated:,} updated, "
                f"{progress.unchanged:,} unchanged, {progress.superseded:,} superseded, "
                f"{progress.skipped:,} skipped."
            )
        )
        if progress.skipped:
            self.stdout.write(f"{progress.skipped:,} row(s) were skipped:")
            shown = result.errors[:max_errors]
            for error in shown:
                self.stdout.write(f"  line {error.line}: {error.reason}" + (f" (SKU {error.sku})" if error.sku else ""))
            if progress.skipped > len(shown):
                self.stdout.write(f"  … and {progress.skipped - len(shown):,} more.")

    @staticmethod
    def _positions(handle, mapping: list[str], *, encoding: str) -> dict[str, int]:
        header = read_header(handle, encoding=resolve_encoding(encoding))
        _confirmed, positions = resolve_mapping(parse_cli_mapping(mapping), names=header.names)
        return positions
