"""An S3 server for the tests: ``moto_server`` on a free loopback port, a real S3 HTTP API.

boto3 and django-storages talk to it over HTTP exactly as they would to AWS S3 or MinIO (moto even
refuses multipart parts under 5 MiB, as S3 does). Each test gets its own key prefix
(``location``) in one bucket, so what a test stored can be listed and nothing leaks between tests.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

BUCKET = "product-import-test"
# moto accepts any key pair; these only have to be the same everywhere.
ACCESS_KEY, SECRET_KEY, REGION = "test-access-key", "test-secret-key", "us-east-1"
S3_BACKEND = "importer.s3_storage.ImportS3Storage"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str = BUCKET
    pid: int | None = None  # of moto_server, when this process started it

    def client(self):
        return boto3.client(
            "s3", endpoint_url=self.endpoint_url, aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
        )

    def storage_settings(self, *, location: str | None = None) -> dict:
        """A ``STORAGES["default"]`` entry for this server, under a fresh key prefix by default."""
        return {
            "BACKEND": S3_BACKEND,
            "OPTIONS": {
                "bucket_name": self.bucket, "endpoint_url": self.endpoint_url,
                "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "region_name": REGION,
                "addressing_style": "path", "file_overwrite": True, "default_acl": None,
                "location": location if location is not None else f"tests/{uuid.uuid4().hex[:12]}",
            },
        }

    def keys(self, prefix: str = "") -> list[str]:
        paginator = self.client().get_paginator("list_objects_v2")
        return sorted(
            item["Key"] for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        )


def storage_environment(default: dict) -> dict[str, str]:
    """The environment variables that give a child process the storage ``default`` describes."""
    if default.get("BACKEND") != S3_BACKEND:
        return {"FILE_STORAGE": "local"}
    options = default["OPTIONS"]
    return {
        "FILE_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": options["bucket_name"],
        "AWS_S3_ENDPOINT_URL": options["endpoint_url"],
        "AWS_ACCESS_KEY_ID": options["access_key"],
        "AWS_SECRET_ACCESS_KEY": options["secret_key"],
        "AWS_S3_REGION_NAME": options["region_name"],
        "AWS_S3_ADDRESSING_STYLE": options.get("addressing_style") or "",
        "AWS_LOCATION": options.get("location", ""),
    }


@contextmanager
def running_s3_server(log_dir: Path, *, host: str = "127.0.0.1") -> Iterator[S3Server]:
    """``moto_server`` on a free port of ``host`` with the test bucket created; stopped after."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        port = sock.getsockname()[1]
    log = (log_dir / f"moto-{port}.log").open("wb")
    moto = Path(sys.executable).with_name("moto_server")
    popen = subprocess.Popen(
        [str(moto), "-H", host, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, env={**os.environ, "MOTO_CALL_RESET_API": "false"},
    )
    log.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"moto_server exited: {(log_dir / f'moto-{port}.log').read_text()}")
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex((host, port)) == 0:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start listening within 30 s")
            time.sleep(0.1)
        server = S3Server(endpoint_url=f"http://{host}:{port}", pid=popen.pid)
        server.client().create_bucket(Bucket=server.bucket)
        yield server
    finally:
        popen.terminate()
        try:
            popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(timeout=5)
