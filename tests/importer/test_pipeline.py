"""Upsert semantics of the import pipeline: last row wins, counts, is_active, resuming.

Small chunk sizes put duplicates on both sides of chunk boundaries. Case-insensitive rules are
checked against PostgreSQL's own ``lower()``, the mapping of the unique SKU index.
"""

from __future__ import annotations

import random
import sys
import threading
import time

import pytest
from django.db import connection

from catalog.models import Product
from importer.locks import CATALOG_WRITE_LOCK
from importer.pipeline import ImportInterrupted, ImportObserver, ImportProgress
from importer.pipeline.readahead import READ_AHEAD_SWITCH_INTERVAL
from tests.support.catalogue import catalogue, pg_lower
from tests.support.database import other_connection
from tests.support.pipeline import import_bytes

pytestmark = pytest.mark.django_db


def _csv(rows: list[tuple[str, str, str]]) -> bytes:
    lines = ["sku,name,description"]
    for sku, name, description in rows:
        lines.append(",".join('"' + value.replace('"', '""') + '"' for value in (sku, name, description)))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def _sum_of_counts(progress: ImportProgress) -> int:
    return progress.created + progress.updated + progress.unchanged + progress.superseded + progress.skipped


# --- Last row wins ----------------------------------------------------------------------------


def test_later_duplicate_overwrites_earlier_in_the_same_chunk():
    import_bytes(b"sku,name,description\nA1,First,one\nA1,Second,two\nB2,Other,x\n")
    assert catalogue() == {"A1": ("Second", "two"), "B2": ("Other", "x")}


@pytest.mark.parametrize("chunk_size", [1, 2, 3])
def test_later_duplicate_overwrites_earlier_across_chunks(chunk_size):
    data = b"sku,name,description\nA1,First,one\nB2,Other,x\nC3,Third,y\nA1,Second,two\nA1,Last,three\n"
    result = import_bytes(data, chunk_size=chunk_size)
    assert catalogue() == {"A1": ("Last", "three"), "B2": ("Other", "x"), "C3": ("Third", "y")}
    assert result.progress.processed_rows == 5


@pytest.mark.parametrize("chunk_size", [2, 50])
def test_later_duplicate_overwrites_earlier_in_any_case_and_keeps_its_spelling(chunk_size):
    data = b"sku,name\nabc-1,First\nX,x\nABC-1,Second\nAbC-1,Third\n"
    import_bytes(data, chunk_size=chunk_size)
    assert catalogue() == {"AbC-1": ("Third", ""), "X": ("x", "")}


@pytest.mark.parametrize("chunk_size", [2, 50])
@pytest.mark.parametrize(
    "spellings",
    [("É-1", "é-1"), ("\u212a-1", "k-1", "K-1"), ("İ-1", "i-1", "I-1"), ("STRASSE", "straße", "Straße")],
    ids=["e-acute", "kelvin-sign", "dotted-capital-i", "sharp-s"],
)
def test_case_variants_follow_postgresql_lower_and_never_hit_the_same_row_twice(chunk_size, spellings):
    rows = [(sku, f"name {index}", "") for index, sku in enumerate(spellings)]
    rows += [(sku, f"again {index}", "") for index, sku in enumerate(reversed(spellings))]
    result = import_bytes(_csv(rows), chunk_size=chunk_size)

    expected: dict[str, tuple[str, str]] = {}
    for (sku, name, _), key in zip(rows, pg_lower([row[0] for row in rows]), strict=True):
        expected[key] = (sku, name)
    products = list(Product.objects.order_by("id"))
    stored = {key: (p.sku, p.name) for p, key in zip(products, pg_lower([p.sku for p in products]), strict=True)}
    assert stored == expected
    assert result.progress.created == len(expected)
    assert _sum_of_counts(result.progress) == len(rows)


# --- is_active, counts ------------------------------------------------------------------------


def test_existing_products_keep_is_active_on_update_and_new_ones_are_active():
    Product.objects.create(sku="OFF-1", name="Old", is_active=False)
    Product.objects.create(sku="ON-1", name="Old", is_active=True)
    import_bytes(b"sku,name\noff-1,New off\nON-1,New on\nNEW-1,Brand new\n")
    products = {p.sku: (p.name, p.is_active) for p in Product.objects.all()}
    assert products == {"off-1": ("New off", False), "ON-1": ("New on", True), "NEW-1": ("Brand new", True)}


def test_update_changes_updated_at_but_not_created_at():
    product = Product.objects.create(sku="A1", name="Old")
    import_bytes(b"sku,name\nA1,New\n")
    product_after = Product.objects.get()
    assert product_after.pk == product.pk
    assert product_after.created_at == product.created_at
    assert product_after.name == "New"


@pytest.mark.parametrize("chunk_size", [2, 100])
def test_counts_of_created_updated_unchanged_superseded_and_skipped_add_up_to_processed_rows(chunk_size):
    Product.objects.create(sku="SAME-1", name="Same", description="d")
    Product.objects.create(sku="CHANGE-1", name="Before", description="d")
    data = (
        b"sku,name,description\n"
        b"SAME-1,Same,d\n"  # unchanged
        b"change-1,After,d\n"  # updated (spelling and name)
        b"NEW-1,New,d\n"  # superseded (by the next row)
        b"NEW-1,Newer,d\n"  # created
        b",Nameless,d\n"  # skipped
        b"NEW-2,,d\n"  # skipped
    )
    result = import_bytes(data, chunk_size=chunk_size)
    progress = result.progress
    assert progress.processed_rows == 6
    assert progress.skipped == 2
    assert progress.created == 1
    assert progress.unchanged == 1
    assert progress.updated == 1
    assert progress.superseded == 1
    assert _sum_of_counts(progress) == progress.processed_rows
    assert catalogue() == {"SAME-1": ("Same", "d"), "change-1": ("After", "d"), "NEW-1": ("Newer", "d")}


def test_reimporting_the_same_file_leaves_every_row_unchanged():
    data = b"sku,name,description\nA1,Bolt,M6\nB2,Nut,M8\n"
    import_bytes(data)
    result = import_bytes(data)
    progress = result.progress
    assert (progress.created, progress.updated, progress.unchanged) == (0, 0, 2)


# --- The reference check -------------------------------------------------------------------------

_SKU_BASES = ["sku-1", "widget-é", "kelvin-k", "istanbul-i", "plain-9", "straße", "mixed-x"]


def _spell(rng: random.Random, base: str) -> str:
    """A random spelling of ``base``: each letter in either case, sometimes a look-alike."""
    out = []
    for char in base:
        if char == "k" and rng.random() < 0.3:
            out.append("\u212a")  # the Kelvin sign, which PostgreSQL lowers to "k"
        elif char == "i" and rng.random() < 0.3:
            out.append("İ")
        else:
            out.append(char.upper() if rng.random() < 0.5 else char)
    return "".join(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_final_catalogue_equals_a_straightforward_reference_for_random_files(seed):
    rng = random.Random(seed)
    existing = {}
    for base in rng.sample(_SKU_BASES, 3):
        product = Product.objects.create(sku=base, name="existing", is_active=rng.random() < 0.5)
        existing[pg_lower([base])[0]] = product.is_active

    rows = []
    for index in range(60):
        base = rng.choice(_SKU_BASES + [f"unique-{index}"])
        name = "" if rng.random() < 0.05 else f"name {index} {rng.choice(['Ærø', 'plain', 'x, y'])}"
        description = rng.choice(["", "one line", "two\nlines", 'with "quotes"'])
        rows.append((f"  {_spell(rng, base)} ", name, description))
    data = _csv(rows)

    # The reference: walk the rows in order; the last valid row for each lower(sku) wins.
    expected: dict[str, tuple[str, str, str]] = {}
    keys = pg_lower([sku.strip() for sku, _, _ in rows])
    for (sku, name, description), key in zip(rows, keys, strict=True):
        if name.strip():
            expected[key] = (sku.strip(), name.strip(), description)
    skipped = sum(1 for _, name, _ in rows if not name.strip())

    result = import_bytes(data, chunk_size=rng.choice([2, 3, 7]))

    products = list(Product.objects.order_by("id"))
    stored_keys = pg_lower([p.sku for p in products])
    assert len(set(stored_keys)) == len(products)
    stored = {key: (p.sku, p.name, p.description) for key, p in zip(stored_keys, products, strict=True)}
    expected_all = {
        **{key: stored[key] for key in existing if key not in expected},
        **expected,
    }
    assert stored == expected_all
    for key, was_active in existing.items():
        assert Product.objects.get(sku=stored[key][0]).is_active == was_active
    progress = result.progress
    assert progress.processed_rows == len(rows)
    assert progress.skipped == skipped
    assert _sum_of_counts(progress) == len(rows)
    assert progress.created == len(set(expected) - set(existing))


# --- Resuming ----------------------------------------------------------------------------------


class _StopAfterChunks(ImportObserver):
    """Stops the import inside chunk ``stop_in``'s transaction, as a cancel or a crash would."""

    def __init__(self, stop_in: int) -> None:
        self.stop_in = stop_in
        self.chunks = 0
        self.last_committed: ImportProgress | None = None

    def chunk_written(self, progress, errors) -> None:
        self.chunks += 1
        if self.chunks == self.stop_in:
            raise ImportInterrupted("stopped by the test")

    def chunk_committed(self, progress) -> None:
        self.last_committed = progress


def _resume_file() -> bytes:
    rows = []
    for index in range(20):
        rows.append((f"SKU-{index % 7}" if index % 2 else f"sku-{index % 7}", f"name {index}", f"d{index}"))
    rows.insert(5, ("", "no sku", ""))
    rows.insert(11, ("multi", "line", "a\nb\nc"))
    return _csv(rows)


@pytest.mark.parametrize("stop_in", [2, 4, 6])
def test_resumed_import_gives_the_catalogue_of_an_uninterrupted_run(stop_in):
    data = _resume_file()
    Product.objects.create(sku="sku-3", name="existing", is_active=False)
    uninterrupted = import_bytes(data, chunk_size=3)
    expected = {p.sku: (p.name, p.description, p.is_active) for p in Product.objects.all()}

    Product.objects.all().delete()
    Product.objects.create(sku="sku-3", name="existing", is_active=False)
    observer = _StopAfterChunks(stop_in)
    with pytest.raises(ImportInterrupted):
        import_bytes(data, chunk_size=3, observer=observer)
    saved = observer.last_committed
    assert saved is not None and saved.processed_rows == 3 * (stop_in - 1)

    resumed = import_bytes(data, chunk_size=3, resume=saved)

    assert {p.sku: (p.name, p.description, p.is_active) for p in Product.objects.all()} == expected
    for field in ("processed_rows", "created", "updated", "unchanged", "skipped", "total_rows"):
        assert getattr(resumed.progress, field) == getattr(uninterrupted.progress, field), field


@pytest.mark.parametrize("stop_in", [1, 2, 3])
def test_interrupted_import_stops_its_reader_thread_at_once(stop_in):
    # Three chunks: stopping in the second one leaves the reader with the whole file read and the
    # last chunk waiting in the hand-off, where a reader that misses the stop would block for good.
    data = b"sku,name\nA1,a\nB2,b\nC3,c\nD4,d\nE5,e\nF6,f\n"
    started = time.monotonic()
    with pytest.raises(ImportInterrupted):
        import_bytes(data, chunk_size=2, observer=_StopAfterChunks(stop_in))
    assert time.monotonic() - started < 2
    assert not [t for t in threading.enumerate() if t.name == "import-reader" and t.is_alive()]


def test_chunks_inside_an_outer_transaction_do_not_see_earlier_chunks_staged_rows():
    # Tests (and any caller inside transaction.atomic) run every chunk in one transaction: no
    # commit between chunks empties the staging table, so each chunk must start from an empty one.
    assert connection.in_atomic_block
    result = import_bytes(b"sku,name\nA1,a\nB2,b\nC3,c\nD4,d\n", chunk_size=2)
    assert (result.progress.created, result.progress.updated, result.progress.unchanged) == (4, 0, 0)


class _RecordSwitchInterval(ImportObserver):
    def __init__(self) -> None:
        self.seen: list[float] = []

    def chunk_written(self, progress, errors) -> None:
        self.seen.append(sys.getswitchinterval())


@pytest.mark.parametrize("interrupted", [False, True])
def test_the_short_gil_switch_interval_lasts_only_while_an_import_reads_ahead(interrupted):
    before = sys.getswitchinterval()
    observer = _StopAfterChunks(1) if interrupted else _RecordSwitchInterval()
    data = b"sku,name\nA1,a\nB2,b\nC3,c\n"
    if interrupted:
        with pytest.raises(ImportInterrupted):
            import_bytes(data, chunk_size=1, observer=observer)
    else:
        import_bytes(data, chunk_size=1, observer=observer)
        assert observer.seen and all(value <= READ_AHEAD_SWITCH_INTERVAL for value in observer.seen)
    assert sys.getswitchinterval() == before


class _Heartbeats(ImportObserver):
    def __init__(self) -> None:
        self.beats: list[tuple[float, int, str]] = []

    def heartbeat(self, progress, *, message) -> None:
        self.beats.append((time.monotonic(), progress.processed_rows, message))


def test_a_chunk_that_takes_seconds_reports_every_second_with_the_last_committed_progress():
    # A merge is one statement; here it waits for the catalogue write lock (as it would behind a
    # GIN pending-list flush or a busy machine) and the run must still show a sign of life.
    observer = _Heartbeats()
    with other_connection() as other:
        other.execute("SELECT pg_advisory_lock(%s)", [CATALOG_WRITE_LOCK])
        release = threading.Timer(
            3.5, lambda: other.execute("SELECT pg_advisory_unlock(%s)", [CATALOG_WRITE_LOCK])
        )
        started = time.monotonic()
        release.start()
        result = import_bytes(b"sku,name\nA1,a\nB2,b\nC3,c\n", chunk_size=2, observer=observer)
        release.join()
    assert (result.progress.created, result.progress.processed_rows) == (3, 3)
    assert len(observer.beats) >= 3, observer.beats
    times = [started] + [at for at, _, _ in observer.beats]
    assert max(b - a for a, b in zip(times, times[1:], strict=False)) < 2.0, observer.beats
    # Every beat came while the first chunk waited: nothing committed yet, and it says what is under way.
    assert {(rows, message) for _, rows, message in observer.beats} == {(0, "Writing rows 1–2 of 3…")}


def test_a_chunk_shorter_than_a_second_sends_no_heartbeat():
    observer = _Heartbeats()
    import_bytes(b"sku,name\nA1,a\nB2,b\nC3,c\n", chunk_size=2, observer=observer)
    assert observer.beats == []
