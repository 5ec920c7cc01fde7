"""What the counts of an import mean: created, updated, unchanged, superseded, skipped.

A row replaced by a later row for the same SKU (in any letter case) of the same file is
``superseded`` and never written, wherever the two rows fall in the file; so an import of a file
with duplicates into an empty catalogue reports only creations, and importing the same file again
reports no change at all. Small chunk sizes put duplicates on both sides of chunk boundaries.
"""

from __future__ import annotations

import random

import pytest

from catalog.models import Product
from importer.pipeline import ImportInterrupted, ImportObserver, ImportProgress
from importer.pipeline.staging import DeferredRows
from tests.support.catalogue import catalogue, pg_lower
from tests.support.pipeline import import_bytes

pytestmark = pytest.mark.django_db

CHUNK_SIZES = [1, 3, 50_000]


def _csv(rows: list[tuple[str, str]]) -> bytes:
    return ("sku,name\n" + "".join(f"{sku},{name}\n" for sku, name in rows)).encode("utf-8")


def _counts(progress: ImportProgress) -> tuple[int, int, int, int, int]:
    return progress.created, progress.updated, progress.unchanged, progress.superseded, progress.skipped


def _with_case_variant_duplicates(count: int, duplicates: int, *, seed: int = 3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    rows = [(f"SKU-{index:05d}", f"Product {index}") for index in range(count)]
    for _ in range(duplicates):
        earlier = rng.randrange(count)
        position = rng.randrange(earlier + 1, len(rows) + 1)
        rows.insert(position, (f"sku-{earlier:05d}", f"Product {earlier} again"))
    return rows


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_case_variant_duplicates_into_an_empty_catalogue_are_superseded_not_updated(chunk_size):
    rows = _with_case_variant_duplicates(400, 199)
    result = import_bytes(_csv(rows), chunk_size=chunk_size)
    distinct = len(set(pg_lower([sku for sku, _ in rows])))
    assert _counts(result.progress) == (distinct, 0, 0, len(rows) - distinct, 0)
    assert result.progress.processed_rows == len(rows)
    assert Product.objects.count() == distinct


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_reimporting_an_identical_file_creates_and_updates_nothing(chunk_size):
    data = _csv(_with_case_variant_duplicates(400, 199))
    first = import_bytes(data, chunk_size=chunk_size)
    before = catalogue()
    again = import_bytes(data, chunk_size=chunk_size)
    assert _counts(again.progress) == (0, 0, first.progress.created, first.progress.superseded, 0)
    assert catalogue() == before


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_the_last_row_of_a_sku_wins_however_far_apart_the_rows_are(chunk_size):
    rows = [("abc-1", "First"), ("X", "x"), ("Y", "y"), ("ABC-1", "Second"), ("Z", "z"), ("AbC-1", "Third")]
    result = import_bytes(_csv(rows), chunk_size=chunk_size)
    assert catalogue() == {"AbC-1": ("Third", ""), "X": ("x", ""), "Y": ("y", ""), "Z": ("z", "")}
    assert _counts(result.progress) == (4, 0, 0, 2, 0)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_updated_and_unchanged_are_judged_against_the_catalogue_before_the_import(chunk_size):
    import_bytes(_csv([("A", "stored"), ("B", "stored"), ("C", "stored")]))
    # A changes, then a later row puts it back as it was: unchanged. B changes (a new spelling of
    # the SKU is a change too). C is repeated as it is stored. D is new, twice.
    rows = [("A", "changed"), ("b", "changed"), ("C", "stored"), ("D", "new"), ("A", "stored"),
            ("C", "stored"), ("d", "newer")]
    result = import_bytes(_csv(rows), chunk_size=chunk_size)
    assert _counts(result.progress) == (1, 1, 2, 3, 0)
    assert catalogue() == {"A": ("stored", ""), "b": ("changed", ""), "C": ("stored", ""), "d": ("newer", "")}


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_a_later_row_with_an_error_does_not_replace_the_valid_earlier_one(chunk_size):
    rows = [("A", "good"), ("B", "b"), ("a", "")]
    result = import_bytes(_csv(rows), chunk_size=chunk_size)
    assert catalogue() == {"A": ("good", ""), "B": ("b", "")}
    assert _counts(result.progress) == (2, 0, 0, 0, 1)


def test_the_counts_add_up_to_the_rows_of_the_file():
    rng = random.Random(11)
    import_bytes(_csv([(f"S{n}", "old") for n in range(0, 300, 2)]))
    rows = []
    for _ in range(600):
        number = rng.randrange(300)
        sku = f"S{number}" if rng.random() < 0.5 else f"s{number}"
        rows.append((sku, rng.choice(["old", "new", ""])))
    result = import_bytes(_csv(rows), chunk_size=7)
    assert sum(_counts(result.progress)) == result.progress.processed_rows == len(rows)


class _StopAfter(ImportObserver):
    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.last: ImportProgress | None = None

    def chunk_written(self, progress, errors):
        if self.chunks == 0:
            raise ImportInterrupted("stop")
        self.chunks -= 1

    def chunk_committed(self, progress):
        self.last = progress


@pytest.mark.parametrize("stop_after", [1, 4, 12, 13])
def test_a_resumed_import_counts_and_writes_exactly_what_one_run_would(stop_after, django_user_model):
    from importer.models import ImportJob

    rows = _with_case_variant_duplicates(60, 30, seed=5)
    data = _csv(rows)
    whole = import_bytes(data, chunk_size=8)
    expected_catalogue = catalogue()
    Product.objects.all().delete()

    # A job's deferred rows are durable (committed with their chunk), as they are for a worker.
    job = ImportJob.objects.create(filename="resume.csv")
    observer = _StopAfter(stop_after)
    with pytest.raises(ImportInterrupted):
        import_bytes(data, chunk_size=8, observer=observer, deferred=DeferredRows(job_id=job.pk))
    resumed = import_bytes(data, chunk_size=8, resume=observer.last, deferred=DeferredRows(job_id=job.pk))
    assert _counts(resumed.progress) == _counts(whole.progress)
    assert catalogue() == expected_catalogue
