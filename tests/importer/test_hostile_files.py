"""Hostile and broken files cost bounded time and memory, and get a clear answer.

Each test goes through a real entry point (the management command, in this process or as a child
whose peak RSS the kernel reports, or a job run by a real Celery worker) and checks the bound by
measuring it, with limits generous enough for a busy machine and far below what the same files
cost before reading was bounded (the figures are in the comments).
"""

from __future__ import annotations

import io
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.files import File
from django.core.management import CommandError, call_command

from catalog.models import Product
from importer.locks import JOB_LOCK_CLASS
from importer.models import ImportJob
from importer.pipeline import ImportInterrupted, ImportObserver, import_csv
from importer.pipeline.header import MAX_HEADER_BYTES, MAX_RECORD_BYTES
from importer.services import import_job_cancel, import_job_create
from importer.states import ImportPhase, ImportStatus
from tests.support.catalogue import catalogue
from tests.support.jobs import finished, wait_for_job
from tests.support.measure import PeakRss, run_measured
from tests.support.processes import ROOT, pid_holding_advisory_lock, running_worker, service_env

MB = 1024 * 1024
# The engine's memory target for an importing process (README, "Guarantees").
PEAK_RSS_LIMIT_MB = 200


def _write(path: Path, *parts: bytes, repeat_middle: int = 1) -> Path:
    """``parts[0]``, then ``parts[1]`` written ``repeat_middle`` times, then the rest."""
    with path.open("wb") as handle:
        handle.write(parts[0])
        for _ in range(repeat_middle):
            handle.write(parts[1])
        for part in parts[2:]:
            handle.write(part)
    return path


@pytest.mark.django_db
def test_a_header_with_a_quote_never_closed_is_refused_at_once(tmp_path):
    # Before: the header's lines were gathered until the quote closed, re-counting every quote of
    # the growing text: 7 s for 200 KB, hours for this 20 MB file, and no way to cancel it.
    path = _write(tmp_path / "open-header.csv", b'sku,"name\n', b"A1,Bolt\n" * 1024, repeat_middle=2560)
    started = time.monotonic()
    with pytest.raises(CommandError) as refused:
        call_command("import_products", str(path), stdout=io.StringIO())
    assert time.monotonic() - started < 10
    message = str(refused.value)
    assert f"The header row is longer than {MAX_HEADER_BYTES // 1024} KB" in message
    assert "has a quote that is not closed" in message
    assert Product.objects.count() == 0


@pytest.mark.django_db
def test_a_file_that_is_one_line_without_a_line_break_is_refused_at_once(tmp_path):
    path = _write(tmp_path / "one-line.csv", b"sku", b",name" * MB, repeat_middle=4)
    started = time.monotonic()
    with pytest.raises(CommandError, match="longer than 64 KB: it has no line break"):
        call_command("import_products", str(path), stdout=io.StringIO())
    assert time.monotonic() - started < 10


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("middle", "reason"),
    [
        # Before: readline() held the whole 200 MB line, then its decoded text: 840 MB peak.
        pytest.param(b"Z" * MB, "is longer than 1 MB, more than a product row can hold",
                     id="endless-line"),
        # A quote opened in a row and never closed makes the rest of the file one record.
        pytest.param(b"more text inside the open quote, line after line\n" * (MB // 50),
                     "has a quote that is never closed", id="unclosed-quote"),
    ],
)
def test_a_huge_record_is_one_row_error_in_bounded_memory(tmp_path, middle, reason):
    opening = b"sku,name\nOK-1,Fine\n" + (b'BAD-1,"' if b"\n" in middle else b"BAD-1,")
    path = _write(tmp_path / "huge.csv", opening, middle, b"\nOK-2,After\n", repeat_middle=200)
    measured = run_measured(
        [sys.executable, "manage.py", "import_products", str(path)],
        env=service_env(), cwd=ROOT, timeout=600,
    )
    assert measured.returncode == 0, measured.stderr
    assert f"line 3: {reason}" in measured.stdout
    assert measured.peak_rss_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {measured.peak_rss_mb:.0f} MB"
    expected = {"OK-1": ("Fine", "")}
    if reason.startswith("is longer"):
        expected["OK-2"] = ("After", "")  # a closed record ends, and the next one is read
    assert catalogue() == expected


@pytest.mark.slow
def test_a_worker_imports_a_file_of_one_300_mb_line_once_in_bounded_memory(celery_worker, tmp_path):
    # Before: a file of one huge line through tus killed the worker's child (out of memory), and
    # the job was retried until its attempts ran out.
    path = _write(tmp_path / "huge.csv", b"sku,name\nOK-1,Fine\nBAD,", b"x" * MB, b"\nOK-2,After\n",
                  repeat_middle=300)
    with path.open("rb") as handle:
        job = import_job_create(owner=None, file=File(handle), filename="huge.csv")
    with PeakRss(celery_worker.processes) as sampler:
        job = wait_for_job(job.pk, finished, what="finished", processes=[celery_worker])
    assert (job.status, job.attempts) == (ImportStatus.COMPLETED, 1), job.message
    assert (job.created_rows, job.skipped_rows) == (2, 1)
    assert sampler.peak_mb < PEAK_RSS_LIMIT_MB, f"worker peak RSS {sampler.peak_mb:.0f} MB"


@pytest.mark.slow
def test_cancel_stops_a_worker_while_it_counts_rows(transactional_db, process_logs, tmp_path):
    # Only the chunked path counts rows first (a bulk load reads the file once).
    with running_worker(process_logs, IMPORT_BULK_PATH="never") as worker:
        _cancel_while_counting(worker, tmp_path)


def _cancel_while_counting(celery_worker, tmp_path):
    path = _write(tmp_path / "long.csv", b"sku,name\n",
                  b"".join(b'"S-%07d","Product ""%d"""\n' % (i, i) for i in range(100_000)),
                  repeat_middle=40)
    with path.open("rb") as handle:
        job = import_job_create(owner=None, file=File(handle), filename="long.csv")
    wait_for_job(job.pk, lambda j: j.phase == ImportPhase.COUNTING, what="counting",
                 processes=[celery_worker], interval=0.01)
    cancelled_at = time.monotonic()
    import_job_cancel(job=ImportJob.objects.get(pk=job.pk))
    while pid_holding_advisory_lock(key1=JOB_LOCK_CLASS, key2=job.pk) is not None:
        assert time.monotonic() - cancelled_at < 5, "the worker went on after the cancel"
        time.sleep(0.05)
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == (ImportStatus.CANCELLED, 0)
    assert Product.objects.count() == 0


class _SlowFile(io.RawIOBase):
    """A file on slow storage: each read of the data takes ``delay`` seconds once ``slow`` is set."""

    def __init__(self, path: Path, *, delay: float) -> None:
        self._file = path.open("rb")
        self.delay = delay
        self.slow = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def readinto(self, buffer) -> int:
        if self.slow:
            time.sleep(self.delay)
        return self._file.readinto(buffer)


@pytest.mark.django_db(transaction=True)
def test_a_stop_reaches_the_reader_while_it_skips_a_huge_record(tmp_path):
    path = _write(tmp_path / "huge.csv", b'sku,name\nBAD,"', b"y" * MB, b'"\nOK,After\n', repeat_middle=64)
    raw = _SlowFile(path, delay=0.05)  # 64 MB at 1 MB a read: over 3 s to skip the record
    asked: list[float] = []

    class StopWhenAsked(ImportObserver):
        def started(self, progress):
            raw.slow = True

        def reading(self, progress):
            asked.append(time.monotonic())
            raise ImportInterrupted("cancelled")

    started = time.monotonic()
    with pytest.raises(ImportInterrupted):
        import_csv(file=io.BufferedReader(raw, buffer_size=MB // 4), size_bytes=path.stat().st_size,
                   observer=StopWhenAsked())
    assert asked and asked[0] - started < 3
    assert time.monotonic() - asked[0] < 2, "the reader went on after the stop"
    assert not [t for t in threading.enumerate() if t.name == "import-reader"]
    assert Product.objects.count() == 0


def test_the_limits_are_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert f"{MAX_RECORD_BYTES // MB} MB" in readme and f"{MAX_HEADER_BYTES // 1024} KB" in readme
