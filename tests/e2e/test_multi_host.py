"""The product split across "hosts" that share nothing but PostgreSQL, Redis and an S3 server.

Layout (every process is a real one, started like the Procfile's):

    moto_server (S3 API on 127.0.0.1)      PostgreSQL      Redis
          |                                    |             |
    +-----+------+------------+-----------+----+------+------+
    | web A      | web B      | worker A  | worker B  | beat |
    | daphne     | daphne     | celery -c1| celery -c1| (the reaper, once)
    +------------+------------+-----------+-----------+------+

Each process runs in its own empty temporary working directory with its own MEDIA_ROOT and
STATIC_ROOT (it imports the code from PYTHONPATH, as an installed package would be), with
FILE_STORAGE=s3. No two of them share a folder, so anything that still needed a shared disk would
fail here; at the end every MEDIA_ROOT is checked to be empty.

1. A tus upload whose PATCHes alternate between web A and web B (parts of 6 MiB, copied inside
   the bucket, and of 1 MiB, gathered until they make S3's 5 MiB minimum); after each part, the
   *other* web process reports the new offset.
2. The import is started on web B and run by whichever worker takes it (neither ever saw the
   upload); its progress is read over SSE from web A until the stream ends; the catalogue then
   holds exactly the file's last row per SKU.
3. A second file (every product renamed) is imported; once it is part done, the worker running it
   is SIGKILLed with its pool child (nothing cleans up), the beat process's reaper hands the job
   back, and the other worker finishes it from its offset; the catalogue is exactly the second
   file's.

Network namespaces are not used: the processes are separated by working directory and storage,
not by network.
"""

from __future__ import annotations

import csv
from pathlib import Path

import psutil
import pytest
import requests

from catalog.models import Product
from importer.locks import JOB_LOCK_CLASS
from importer.models import ImportJob
from importer.states import ImportStatus
from tests.benchmarks.csvgen import generate_products_csv
from tests.faults.tus_client import create_upload, head, patch
from tests.support.clients import token_headers
from tests.support.jobs import wait_for_job
from tests.support.processes import (
    ServiceProcess,
    pid_holding_advisory_lock,
    start_beat,
    start_daphne,
    start_worker,
)
from tests.support.sse import SSEStream, open_stream
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

MiB = 1024 * 1024
PART_SIZES = (6 * MiB, 1 * MiB)  # alternating: a part copied in the bucket, a part gathered
FIRST_ROWS, SECOND_ROWS = 80_000, 150_000
CHUNK_SIZE = "3000"  # many short transactions: time to catch the second import part done
FINISH_TIMEOUT = 300.0


class Host:
    """One machine of the deployment: an empty working directory and a MEDIA_ROOT of its own."""

    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.cwd = root / name
        self.media = self.cwd / "media"
        self.media.mkdir(parents=True)

    def env(self) -> dict[str, str]:
        return {"MEDIA_ROOT": str(self.media), "STATIC_ROOT": str(self.cwd / "static")}

    def stored_locally(self) -> list[Path]:
        return [path for path in self.media.rglob("*") if path.is_file()]


@pytest.fixture
def deployment(transactional_db, settings, s3_server, process_logs, tmp_path):
    """Two web processes, two workers and one beat on separate "hosts", sharing only PostgreSQL,
    Redis and the S3 server (a key prefix of its own in the session's bucket)."""
    settings.STORAGES = {**settings.STORAGES, "default": s3_server.storage_settings()}
    hosts = {name: Host(tmp_path, name) for name in ("web-a", "web-b", "worker-a", "worker-b", "beat")}
    started: list[ServiceProcess] = []
    try:
        started.append(start_beat(log_dir=process_logs, cwd=hosts["beat"].cwd, **hosts["beat"].env()))
        web = {}
        for name in ("web-a", "web-b"):
            server, url = start_daphne(log_dir=process_logs, cwd=hosts[name].cwd, **hosts[name].env())
            started.append(server)
            web[name] = url
        workers = {}
        for name in ("worker-a", "worker-b"):
            workers[name] = start_worker(log_dir=process_logs, beat=False, cwd=hosts[name].cwd,
                                         IMPORT_CHUNK_SIZE=CHUNK_SIZE, **hosts[name].env())
            started.append(workers[name])
        yield {"web": web, "workers": workers, "hosts": hosts, "processes": started, "s3": s3_server}
    finally:
        for process in started:
            process.stop()


def expected_catalogue(path: Path, catalogue: dict | None = None) -> dict[str, tuple[str, str, str]]:
    """The catalogue after importing ``path`` over ``catalogue``: the file's last row per SKU."""
    catalogue = dict(catalogue or {})
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for sku, name, description in reader:
            catalogue[sku.strip().lower()] = (sku.strip(), name.strip(), description)
    return catalogue


def assert_catalogue(expected: dict[str, tuple[str, str, str]]) -> None:
    stored = {sku.lower(): (sku, name, description) for sku, name, description in
              Product.objects.values_list("sku", "name", "description").iterator(chunk_size=10_000)}
    assert len(stored) == len(expected)
    wrong = [key for key, value in expected.items() if stored.get(key) != value]
    assert not wrong, f"{len(wrong)} products differ, e.g. {wrong[0]!r}: {stored.get(wrong[0])!r}"


def upload_alternating(path: Path, servers: list[str], headers: dict[str, str]) -> str:
    """Upload ``path`` with tus, each PATCH to the next server in turn; return the upload id.

    After each part, another server is asked for the offset: the upload's state is shared.
    """
    data = path.read_bytes()
    upload_url = create_upload(servers[0], length=len(data), filename=path.name, headers=headers)
    upload_path = upload_url[len(servers[0]):]
    offset, turn = 0, 0
    while offset < len(data):
        server, other = servers[turn % len(servers)], servers[(turn + 1) % len(servers)]
        part = data[offset:offset + PART_SIZES[turn % len(PART_SIZES)]]
        response = patch(server + upload_path, offset=offset, data=part, headers=headers)
        assert response.status_code == 204, (server, response.text)
        offset += len(part)
        assert head(other + upload_path, headers=headers).headers["Upload-Offset"] == str(offset)
        turn += 1
    assert turn >= 4, "the file should take several parts"
    return upload_path.rstrip("/").rsplit("/", 1)[1]


def start_import(server: str, upload_id: str, headers: dict[str, str]) -> dict:
    response = requests.post(f"{server}/api/imports/", json={"upload": upload_id}, headers=headers,
                             timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def runner_of(job_id: int, workers: dict[str, ServiceProcess]) -> str:
    """Which worker's pool child holds the job's lock, i.e. runs it right now."""
    def holder() -> str | None:
        pid = pid_holding_advisory_lock(key1=JOB_LOCK_CLASS, key2=job_id)
        for name, worker in workers.items():
            if pid is not None and pid in {proc.pid for proc in worker.children()}:
                return name
        return None

    return wait_until(holder, what=f"a worker to hold the lock of import {job_id}", timeout=60, interval=0.05)


def test_upload_import_progress_and_a_worker_crash_across_hosts_that_share_only_the_services(
    deployment, user, tmp_path, settings
):
    web_a, web_b = deployment["web"]["web-a"], deployment["web"]["web-b"]
    workers, hosts, s3 = deployment["workers"], deployment["hosts"], deployment["s3"]
    processes = deployment["processes"]
    headers = token_headers(user)

    # 1-2: parts to alternating web processes; started on B, followed over SSE on A.
    first = generate_products_csv(tmp_path / "first.csv", FIRST_ROWS)
    upload_id = upload_alternating(first, [web_a, web_b], headers)
    created = start_import(web_b, upload_id, headers)
    response = open_stream(web_a + created["events_url"], headers=headers, read_timeout=120)
    assert response.status_code == 200
    stream = SSEStream(response)
    try:
        events = stream.read_to_end(timeout=FINISH_TIMEOUT)
    finally:
        stream.close()
    snapshots = [event.json() for event in events if event.event == "job"]
    processed = [snapshot["processed_rows"] for snapshot in snapshots]
    assert processed == sorted(processed), "progress went backwards"
    assert len(set(processed)) >= 3, f"no live progress seen from the other web process: {processed}"
    assert snapshots[-1]["status"] == ImportStatus.COMPLETED, snapshots[-1]
    assert events[-1].event == "stream-end"
    job = ImportJob.objects.get(pk=created["id"])
    assert (job.status, job.processed_rows, job.attempts) == (ImportStatus.COMPLETED, FIRST_ROWS, 1)
    catalogue = expected_catalogue(first)
    assert_catalogue(catalogue)

    # 3: the worker running the second import dies; the reaper (beat) hands it to the other one.
    second = generate_products_csv(tmp_path / "second.csv", SECOND_ROWS, seed=11, variant=" v2")
    upload_id = upload_alternating(second, [web_b, web_a], headers)
    job_id = start_import(web_a, upload_id, headers)["id"]
    wait_for_job(job_id, lambda job: job.status == ImportStatus.PROCESSING and job.total_rows
                 and 0 < job.processed_rows < job.total_rows // 2,
                 what="part done", timeout=120, processes=processes, interval=0.05)
    victim = runner_of(job_id, workers)
    survivor = next(name for name in workers if name != victim)
    killed_at = ImportJob.objects.get(pk=job_id).processed_rows
    workers[victim].crash()
    assert not any(proc.is_running() for proc in workers[victim].processes() if _alive(proc))

    finished = wait_for_job(job_id, lambda job: job.is_finished, what="finished", timeout=FINISH_TIMEOUT,
                            processes=processes, interval=0.1)
    assert finished.status == ImportStatus.COMPLETED, finished.message
    assert finished.attempts >= 2
    assert finished.processed_rows == SECOND_ROWS > killed_at
    # The reaper ran on the survivor (the only worker left), which then resumed the job.
    assert f"Import {job_id} lost its worker; queued to resume." in workers[survivor].log()
    assert_catalogue(expected_catalogue(second, catalogue))

    # Nothing was ever written to a host's own disk; the files are in the bucket.
    for host in hosts.values():
        assert host.stored_locally() == [], f"{host.name} wrote {host.stored_locally()}"
    location = settings.STORAGES["default"]["OPTIONS"]["location"]
    assert len([key for key in s3.keys(f"{location}/imports/") if key.endswith(".csv")]) == 2


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
