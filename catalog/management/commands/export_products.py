"""Export the catalogue (or part of it) as CSV, with a progress bar — the API's export, from a shell."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from catalog import selectors
from catalog.export import products_export_csv


class Command(BaseCommand):
    help = (
        "Write the products as CSV (sku,name,description,is_active,created_at,updated_at), with the "
        "list's filters. The file imports back as it is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "file", nargs="?", type=Path, help="Where to write the CSV (default: standard output)."
        )
        parser.add_argument("--sku", default="", help="Only SKUs containing this, in any letter case.")
        parser.add_argument(
            "--search",
            default="",
            help="Only products with every word of this in their SKU, name or description (as ?search=).",
        )
        parser.add_argument(
            "--is-active", choices=["true", "false"], help="Only active (true) or inactive (false) products."
        )
        parser.add_argument(
            "--ordering",
            default="",
            help="Sort by " + ", ".join(selectors.PRODUCT_ORDERING_FIELDS) + "; - for descending (--ordering=-sku).",
        )
        parser.add_argument(
            "--excel-safe",
            action="store_true",
            help="Start formula-like cells with an apostrophe (the file then no longer imports back "
            "exactly).",
        )

    def handle(
        self,
        *args,
        file: Path | None,
        sku: str,
        search: str,
        is_active: str | None,
        ordering: str,
        excel_safe: bool,
        **options,
    ) -> None:
        fields = [field.strip() for field in ordering.split(",") if field.strip()]
        unknown = [field for field in fields if field.lstrip("-") not in selectors.PRODUCT_ORDERING_FIELDS]
        if unknown:
            raise CommandError(
                f"--ordering: unknown field {unknown[0]!r}; use "
                f"{', '.join(selectors.PRODUCT_ORDERING_FIELDS)}."
            )
        products = selectors.products_with_sku_fragment(selectors.product_list(), fragment=sku)
        products = selectors.products_matching_text(products, text=search)
        if is_active is not None:
            products = products.filter(is_active=is_active == "true")
        products = selectors.products_ordered(products, ordering=fields)

        total = selectors.product_count(products=products)
        progress = _Progress(sys.stderr, total=total.value, exact=total.exact)
        output = file.open("wb") if file else sys.stdout.buffer
        try:
            for block in products_export_csv(products, excel_safe=excel_safe):
                output.write(block)
                progress.advance(block)
        except OSError as exc:
            raise CommandError(f"Could not write {file or 'standard output'}: {exc}") from None
        finally:
            if file:
                output.close()
            else:
                output.flush()
        progress.done(file)


class _Progress:
    """Rows written so far (line breaks, so a multi-line description counts more than once until
    the end), on one line of a terminal or a line per 10% elsewhere; always on standard error."""

    def __init__(self, stream, *, total: int, exact: bool) -> None:
        self.stream, self.total, self.exact = stream, total, exact
        self.tty = stream.isatty()
        self.lines = -1  # the header
        self.bytes = 0
        self.last_decile = -1
        self.started = time.monotonic()

    def advance(self, block: bytes) -> None:
        self.lines += block.count(b"\n")
        self.bytes += len(block)
        percent = min(99, self.lines * 100 // self.total) if self.total else 99
        about = "" if self.exact else "about "
        rows = max(self.lines, 0)
        line = f"{percent:3d}% {rows:,} of {about}{self.total:,} rows, {self.bytes / 2**20:,.1f} MB"
        if self.tty:
            self.stream.write(f"\r{line}")
            self.stream.flush()
        elif percent // 10 != self.last_decile:
            self.last_decile = percent // 10
            self.stream.write(line + "\n")

    def done(self, file: Path | None) -> None:
        seconds = time.monotonic() - self.started
        where = f" to {file}" if file else ""
        self.stream.write(
            ("\n" if self.tty else "")
            + f"Exported {self.bytes / 2**20:,.1f} MB{where} in {seconds:,.1f} s.\n"
        )
