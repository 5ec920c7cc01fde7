"""Peak memory of the web process (daphne) while a large file arrives, tus parts vs one body.

    python -m tests.benchmarks.bench_upload_rss --size-mb 1024 [--chunk-mb 8] [--multipart-mb 50]

Runs against a throw-away database (created, migrated and dropped) and a throw-away media folder.
For each scenario a fresh daphne process is started and its RSS sampled every 50 ms:

1. the tus upload of a generated ``--size-mb`` file with tuspy, in parts of ``--chunk-mb``
   (including the assembly of the parts into one file when the last part lands);
2. the reference: one multipart/form-data POST of a ``--multipart-mb`` file, the way a plain
   HTML form uploads. It goes to the admin login page, whose CSRF check parses the whole form
   (then answers 403): the body is buffered and parsed exactly as for a real form upload.

Prints peak RSS (target for 1: < 250 MB), the growth over the idle process, and throughput.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

MB = 1024 * 1024
TARGET_PEAK_MB = 250


class RssSampler:
    """Samples a process's resident set size every ``interval`` seconds in a background thread."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.interval = interval
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self.process.memory_info().rss)
            except Exception:  # the process ended: nothing more to sample
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max(self.samples) / MB


def generate_file(path: Path, size_mb: int) -> str:
    """Write ``size_mb`` MiB of CSV-looking data quickly (content is irrelevant here); return its sha256."""
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        header = b"sku,name,description\n"
        handle.write(header)
        digest.update(header)
        written = len(header)
        # One block of rows, repeated with a numbered first row, writes fast and is never all
        # the same bytes.
        block = b"".join(
            f"SKU-{n:05d},Product {n},Row {n} of a block of the benchmark file\n".encode()
            for n in range(16000)
        )
        block_no = 0
        while written < size_mb * MB:
            rows = f"SKU-B{block_no:07d},Block {block_no},marker\n".encode() + block
            rows = rows[: size_mb * MB - written]
            handle.write(rows)
            digest.update(rows)
            written += len(rows)
            block_no += 1
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while data := handle.read(4 * MB):
            digest.update(data)
    return digest.hexdigest()


@contextmanager
def throwaway_database():
    """Point Django at a new, migrated database for the duration; drop it afterwards."""
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/product_import")
    name = f"pi_bench_upload_{uuid.uuid4().hex[:8]}"
    server = base.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = f"{server}/{name}"
    try:
        yield name
    finally:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_tus(*, size_mb: int, chunk_mb: int, token: str, source: Path, expected_sha: str,
              media_root: Path, log_dir: Path) -> dict:
    from tusclient.client import TusClient

    from tests.support.processes import running_daphne

    size = source.stat().st_size
    with running_daphne(log_dir, TUS_MAX_CHUNK_SIZE=str(chunk_mb * MB)) as (server, url):
        time.sleep(1.0)  # let the process settle before taking its idle size
        idle_mb = RssSampler(server.pid).process.memory_info().rss / MB
        client = TusClient(f"{url}/api/uploads/", headers={"Authorization": f"Token {token}"})
        part_seconds: list[float] = []
        with RssSampler(server.pid) as sampler:
            started = time.perf_counter()
            uploader = client.uploader(str(source), chunk_size=chunk_mb * MB,
                                       metadata={"filename": source.name})
            uploader.set_url(uploader.create_url())
            uploader.offset = 0
            while uploader.offset < size:
                part_started = time.perf_counter()
                uploader.upload_chunk()
                part_seconds.append(time.perf_counter() - part_started)
            elapsed = time.perf_counter() - started
    assembled = [path for path in (media_root / "imports").rglob("*") if path.is_file()]
    assert len(assembled) == 1, f"expected one assembled file, found {assembled}"
    assert assembled[0].stat().st_size == size, "assembled file has the wrong size"
    assert sha256_of(assembled[0]) == expected_sha, "assembled file differs from the source"
    leftover_parts = [path for path in (media_root / "uploads").rglob("*") if path.is_file()]
    assert not leftover_parts, f"parts left behind: {leftover_parts[:3]}"
    return {
        "idle_mb": idle_mb,
        "peak_mb": sampler.peak_mb,
        "seconds": elapsed,
        "mb_per_s": size / MB / elapsed,
        "parts": len(part_seconds),
        "part_median_s": statistics.median(part_seconds[:-1] or part_seconds),
        "last_part_s": part_seconds[-1],
        "samples": len(sampler.samples),
    }


def bench_multipart(*, size_mb: int, log_dir: Path, tmp: Path) -> dict:
    import requests

    from tests.support.processes import running_daphne

    source = tmp / "multipart.csv"
    generate_file(source, size_mb)
    try:
        with running_daphne(log_dir) as (server, url):
            time.sleep(1.0)
            idle_mb = RssSampler(server.pid).process.memory_info().rss / MB
            with RssSampler(server.pid) as sampler, source.open("rb") as handle:
                started = time.perf_counter()
                response = requests.post(
                    f"{url}/admin/login/",
                    files={"file": (source.name, handle, "text/csv")},
                    # A well-formed CSRF cookie, so the CSRF check goes on to parse the form.
                    cookies={"csrftoken": "a" * 32},
                    timeout=600,
                )
                elapsed = time.perf_counter() - started
                time.sleep(0.5)  # catch the tail of the request's memory use
    finally:
        source.unlink(missing_ok=True)
    return {
        "idle_mb": idle_mb,
        "peak_mb": sampler.peak_mb,
        "seconds": elapsed,
        "status": response.status_code,
        "samples": len(sampler.samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=1024, help="size of the tus upload (MiB)")
    parser.add_argument("--chunk-mb", type=int, default=8, help="tus part size (MiB)")
    parser.add_argument("--multipart-mb", type=int, default=50,
                        help="size of the single multipart POST for reference (MiB); 0 to skip")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-upload-", dir="/tmp"))
    media_root = tmp / "media"
    log_dir = tmp / "logs"
    media_root.mkdir()
    log_dir.mkdir()
    os.environ.update(MEDIA_ROOT=str(media_root), DATABASE_POOL="false",
                      DJANGO_SETTINGS_MODULE="project.settings")
    try:
        with throwaway_database() as db_name:
            import django

            django.setup()
            from django.contrib.auth import get_user_model
            from django.core.management import call_command

            from tests.support.clients import token_key

            call_command("migrate", verbosity=0)
            user = get_user_model().objects.create_user(username="bench", password=uuid.uuid4().hex)
            token = token_key(user)
            print(f"database {db_name}, media {media_root}")

            source = tmp / "upload.csv"
            started = time.perf_counter()
            expected_sha = generate_file(source, args.size_mb)
            print(f"generated {args.size_mb} MiB in {time.perf_counter() - started:.1f} s")
            try:
                tus = bench_tus(size_mb=args.size_mb, chunk_mb=args.chunk_mb, token=token, source=source,
                                expected_sha=expected_sha, media_root=media_root, log_dir=log_dir)
            finally:
                source.unlink(missing_ok=True)
            shutil.rmtree(media_root / "imports", ignore_errors=True)
            multipart = (bench_multipart(size_mb=args.multipart_mb, log_dir=log_dir, tmp=tmp)
                         if args.multipart_mb else None)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print(f"{'scenario':<44} {'body':>9} {'idle RSS':>9} {'peak RSS':>9} {'growth':>8} "
          f"{'x body':>7} {'time':>8}")
    verdict = "OK" if tus["peak_mb"] < TARGET_PEAK_MB else "OVER TARGET"
    label = f"tus, {tus['parts']} parts of {args.chunk_mb} MiB (tuspy)"
    print(f"{label:<44} {args.size_mb:>6} MiB "
          f"{tus['idle_mb']:>6.0f} MB {tus['peak_mb']:>6.0f} MB {tus['peak_mb'] - tus['idle_mb']:>5.0f} MB "
          f"{(tus['peak_mb'] - tus['idle_mb']) / args.size_mb:>7.2f} {tus['seconds']:>6.1f} s")
    if multipart:
        growth = multipart["peak_mb"] - multipart["idle_mb"]
        print(f"{'one multipart POST (reference)':<44} {args.multipart_mb:>6} MiB "
              f"{multipart['idle_mb']:>6.0f} MB {multipart['peak_mb']:>6.0f} MB {growth:>5.0f} MB "
              f"{growth / args.multipart_mb:>7.2f} {multipart['seconds']:>6.1f} s")
    print()
    print(f"tus throughput: {tus['mb_per_s']:.1f} MiB/s end to end; "
          f"median part {tus['part_median_s'] * 1000:.0f} ms; "
          f"last part (incl. assembling {args.size_mb} MiB into one file) {tus['last_part_s']:.1f} s; "
          f"{tus['samples']} RSS samples")
    print(f"tus peak RSS {tus['peak_mb']:.0f} MB vs target < {TARGET_PEAK_MB} MB: {verdict}")
    if multipart:
        print(f"multipart reference answered HTTP {multipart['status']} "
              "(the CSRF refusal, after parsing the form)")
    sys.exit(0 if tus["peak_mb"] < TARGET_PEAK_MB else 1)


if __name__ == "__main__":
    main()
