"""Fault 7: the web process (daphne) restarts while scripts follow an import's live events.

Each client behaves like a browser's EventSource: when its stream breaks it connects again,
sending the id of the last event it got in ``Last-Event-ID``. The new daphne replays what was
missed from the event log, so every client sees every state once, in order, up to the true final
state, and the import itself never notices.
"""

from __future__ import annotations

import time

import pytest
from django.core.files import File

from importer.services import import_job_create
from importer.states import ImportStatus
from tests.faults.accounting import assert_completed_and_accounts_for
from tests.faults.sse_client import SSEClient, assert_stream_told_the_truth
from tests.support.catalogue import assert_catalogue_is, oracle
from tests.support.clients import token_headers
from tests.support.jobs import finished, wait_for_job
from tests.support.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ROWS = 40_000
CLIENTS = 3


def test_sse_clients_reconnect_after_a_web_restart_and_miss_no_state(
    daphnes, workers, user, make_csv
):
    path = make_csv(ROWS)
    expected = oracle(path)
    port = free_port()
    server, url = daphnes(port=port)
    with path.open("rb") as handle:
        job = import_job_create(owner=user, file=File(handle, name=path.name), filename=path.name)

    clients = [SSEClient(f"{url}/api/imports/{job.pk}/events/", headers=token_headers(user))
               for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.connected.wait(60), client.error
    worker = workers()
    wait_for_job(job.pk, lambda j: j.status == ImportStatus.PROCESSING and 0 < j.processed_rows < ROWS // 3,
                 what="a third done", processes=[worker, server], timeout=120)

    server.stop()
    stopped_at = time.monotonic()
    time.sleep(1.0)  # events published meanwhile reach nobody: they must be replayed
    server, _ = daphnes(port=port)
    restarted_in = time.monotonic() - stopped_at
    listening = time.monotonic()
    for client in clients:
        deadline = time.monotonic() + 60
        while client.connections < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    reconnected_in = time.monotonic() - listening

    job = wait_for_job(job.pk, finished, what="finished", processes=[worker, server])
    for client in clients:
        client.join(timeout=120)
    print(f"\nweb restart: daphne back after {restarted_in:.1f}s, all clients reconnected "
          f"{reconnected_in:.1f}s after it listened; "
          f"connections per client {[client.connections for client in clients]}")

    assert_completed_and_accounts_for(job, rows=ROWS, expected=expected)
    assert_catalogue_is(expected)
    for client in clients:
        assert client.connections >= 2, "the client never had to reconnect: the restart missed the stream"
        assert_stream_told_the_truth(client, job)
        progress = [state["processed_rows"] for state in client.job_states()]
        assert any(0 < rows < ROWS for rows in progress), f"no live progress seen: {progress}"
