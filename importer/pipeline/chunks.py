"""Cutting the file's validated rows into chunks, each written and committed in one transaction.

A chunk ends after ``ChunkSize.rows`` records, once its rows hold ``MAX_CHUNK_BYTES`` of text (so
very long descriptions do not make a chunk, and the worker's memory, grow with them), or once it
spans ``MAX_CHUNK_SPAN_BYTES`` of the file (so a file of huge rejected records, or of columns the
import ignores, still commits its progress, and can be stopped, every second or so). The run
shrinks ``ChunkSize.rows`` (never past the limit it was given) so that each chunk commits about
once a second: progress stays live on a slow or busy machine, and the cost of a commit stays
negligible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from zlib import crc32

from catalog.models import description_max_length
from importer.pipeline.header import CsvLayout
from importer.pipeline.records import RecordReader
from importer.pipeline.results import RowError
from importer.pipeline.scan import RepeatedSkus, sku_key
from importer.pipeline.staging import StagedRows
from importer.pipeline.validation import validate_record

MAX_CHUNK_BYTES = 8 * 1024 * 1024
MAX_CHUNK_SPAN_BYTES = 16 * 1024 * 1024
TARGET_CHUNK_SECONDS = 1.0
MIN_CHUNK_ROWS = 1000


class ChunkSize:
    """How many records the next chunk may hold; shared by the run (which adapts it after each
    chunk) and the thread that cuts the chunks."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.rows = limit

    def adapt(self, *, records: int, seconds: float) -> None:
        """Aim the next chunks at ``TARGET_CHUNK_SECONDS``, given that ``records`` took ``seconds``."""
        rate = records / max(seconds, 1e-3)
        self.rows = max(min(self.limit, MIN_CHUNK_ROWS), min(self.limit, int(rate * TARGET_CHUNK_SECONDS)))


@dataclass
class Chunk:
    """A run of consecutive records: its valid rows, its row errors and where it ends in the file."""

    rows: StagedRows = field(default_factory=StagedRows)
    errors: list[RowError] = field(default_factory=list)
    end_offset: int = 0
    end_line: int = 0

    @property
    def record_count(self) -> int:
        return len(self.rows) + len(self.errors)


def chunks_of(
    records: RecordReader,
    *,
    layout: CsvLayout,
    repeated: RepeatedSkus | None,
    size: ChunkSize,
    rows_type: type[StagedRows] = StagedRows,
) -> Iterator[Chunk]:
    """Validate ``records`` and gather them into chunks; rows of repeated SKUs are marked deferred.

    ``repeated`` None defers nothing (a bulk load de-duplicates the whole file at once);
    ``rows_type`` is the COPY encoding of the chunk's rows (the bulk load's differs).
    """
    # repeated.may_repeat(), inlined: this runs for every row of the file.
    counts, mask = (repeated.counts, repeated.mask) if repeated is not None else (b"\0", 0)
    chunk = Chunk(rows=rows_type())
    count = 0
    span_end = records.offset + MAX_CHUNK_SPAN_BYTES
    description_limit = description_max_length()
    for record in records:
        row = validate_record(record, layout, description_limit)
        if row is not None:  # None: a blank line, which is no record to count
            if type(row) is RowError:
                chunk.errors.append(row)
            elif repeated is None:
                chunk.rows.add(*row, False)
            else:
                chunk.rows.add(*row, counts[crc32(sku_key(row[1])) & mask] > 1)
            count += 1
        if count >= size.rows or chunk.rows.size >= MAX_CHUNK_BYTES or records.offset >= span_end:
            yield _sealed(chunk, records)
            chunk, count = Chunk(rows=rows_type()), 0
            span_end = records.offset + MAX_CHUNK_SPAN_BYTES
    if count:
        yield _sealed(chunk, records)


def _sealed(chunk: Chunk, records: RecordReader) -> Chunk:
    chunk.rows.seal()
    chunk.end_offset, chunk.end_line = records.offset, records.line
    return chunk
