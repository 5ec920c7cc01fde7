"""The web process of the Procfile (``python -m project.serve``): daphne processes sharing a socket."""

from __future__ import annotations

import signal
import urllib.error
import urllib.request

import psutil
import pytest

from tests.support.processes import ServiceProcess, start_daphne
from tests.support.waiting import wait_until


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _daphnes(server: ServiceProcess) -> list[psutil.Process]:
    """The live daphne processes (a killed one stays a zombie until the launcher reaps it)."""
    found = []
    for proc in server.children():
        try:
            if proc.status() != psutil.STATUS_ZOMBIE and "daphne" in " ".join(proc.cmdline()):
                found.append(proc)
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_each_daphne_process_serves_the_shared_port_and_a_dead_one_is_replaced(tmp_path):
    server, base = start_daphne(log_dir=tmp_path, processes=2)
    try:
        daphnes = _daphnes(server)
        assert len(daphnes) == 2, server.log()
        # Anonymous /api/auth/me/ answers 401 without touching the database.
        url = f"{base}/api/auth/me/"
        wait_until(lambda: _status(url) == 401, what="the site to answer", timeout=20, interval=0.1)

        # Freeze one process, then the other: whichever is left accepts every connection alone.
        for frozen in daphnes:
            frozen.send_signal(signal.SIGSTOP)
            try:
                assert [_status(url) for _ in range(10)] == [401] * 10
            finally:
                frozen.send_signal(signal.SIGCONT)

        # A crashed process is replaced, and the site keeps answering meanwhile.
        daphnes[0].kill()
        assert [_status(url) for _ in range(5)] == [401] * 5
        wait_until(
            lambda: len(_daphnes(server)) == 2 and daphnes[0].pid not in {p.pid for p in _daphnes(server)},
            what="the dead daphne to be replaced", timeout=20, interval=0.1)
        assert "starting another" in server.log()
        assert _status(url) == 401
    finally:
        server.stop()
    assert not server.children()
    assert server.popen.poll() is not None
