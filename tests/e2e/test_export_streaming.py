"""The CSV export through a real daphne: streamed in bounded memory, never cut by the web limit.

200,000 products (inserted by SQL) are exported from a daphne whose web statement timeout is
300 ms. The server's memory must not grow with the rows (it would if Django read the response into
a list first, as it does with a synchronous iterator under ASGI), and an export that waits or runs
longer than the web limit is not cancelled: it has its own (EXPORT_STATEMENT_TIMEOUT_MS).

daphne applies no backpressure: to a client that reads more slowly than PostgreSQL writes, it
buffers what is not sent yet. A reverse proxy in front (README, Deploying) reads at once and
buffers to its own disk; that is where a slow client's cost belongs.
"""

from __future__ import annotations

import csv
import io
import time

import psutil
import pytest
import requests

from tests.support.clients import token_headers
from tests.support.database import other_connection
from tests.support.measure import PeakRss
from tests.support.processes import running_daphne

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 200_000


def test_a_large_export_streams_in_bounded_memory_and_is_not_cut_by_the_web_limit(
    transactional_db, process_logs, user
):
    with other_connection() as conn:
        conn.execute(
            "INSERT INTO catalog_product (sku, name, description) "
            "SELECT 'EXP-' || g, 'Product ' || g, repeat('d', 200) FROM generate_series(1, %s) g",
            [ROWS],
        )
    headers = token_headers(user)
    with running_daphne(process_logs, DATABASE_STATEMENT_TIMEOUT_MS="300") as (server, url):
        requests.get(f"{url}/api/products/export/?sku=EXP-1", headers=headers, timeout=30)
        baseline_mb = psutil.Process(server.pid).memory_info().rss / 2**20
        with PeakRss(lambda: [psutil.Process(server.pid)]) as peak:
            response = requests.get(f"{url}/api/products/export/", headers=headers, stream=True, timeout=60)
            assert response.status_code == 200, response.text
            body = b"".join(response.iter_content(chunk_size=256 * 1024))
        growth = peak.peak_mb - baseline_mb

        # A statement that waits longer than the web limit (here behind a lock held for a second)
        # is not cancelled: the export runs under its own limit.
        with other_connection() as conn:
            with conn.transaction():
                conn.execute("LOCK TABLE catalog_product IN ACCESS EXCLUSIVE MODE")
                waiting = requests.get(
                    f"{url}/api/products/export/?sku=EXP-2", headers=headers, stream=True, timeout=30
                )
                time.sleep(1.0)
            late = b"".join(waiting.iter_content(chunk_size=65536)).decode()

    rows = list(csv.reader(io.StringIO(body.decode())))
    assert len(rows) == 1 + ROWS
    assert rows[1][:2] == ["EXP-1", "Product 1"] and rows[-1][0] == f"EXP-{ROWS}"
    # The CSV is ~46 MB; a server that read it into a list first would grow by more than that.
    assert growth < 30, f"daphne grew by {growth:.0f} MB while streaming {ROWS:,} rows"
    assert waiting.status_code == 200
    matching = sum(1 for index in range(1, ROWS + 1) if "EXP-2" in f"EXP-{index}")
    assert len(list(csv.reader(io.StringIO(late)))) == 1 + matching
