"""The S3-compatible storage backend (``FILE_STORAGE=s3``): django-storages' ``S3Storage``, made to
keep memory bounded and to need no local disk.

What it changes, and why:

* **Reading** (``_open``) returns a seekable file that fetches ranges (``importer.ranged_reader``)
  instead of django-storages' ``S3File``, which downloads the whole object into a temporary file
  on first read: a 1 GB import would need 1 GB of the worker's disk and a resumed import would
  download everything before its offset again.
* **Writing** (``_save``) streams the content in ``WRITE_PART_BYTES`` pieces, one put for a small
  file and a multipart upload for a large one, from one thread, without seeking: a tus part is a
  request body that can be read once only (``importer.upload_storage.BodyPart``).
* **Assembling** a tus upload (``concatenate``) happens inside the bucket: a multipart upload
  whose parts are copied from the stored part objects (``UploadPartCopy``), so the web process
  that received the last part neither downloads nor uploads the file. S3 wants every part but the
  last to be at least 5 MiB; small tus parts are gathered in memory until they make 5 MiB (so at
  most 5 MiB is held), the rest of a large part is copied server-side from where it continues.
* **One client** per storage object, shared by every thread, for every call (boto3 clients are
  thread-safe; django-storages builds a boto3 session and resource per thread, and each loads
  botocore's S3 model again: the import's read-ahead thread would pay for a second one).
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Iterator

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.files import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

from importer.ranged_reader import RangedReader, buffered_ranged_reader
from importer.storage import StorageUnavailable

logger = logging.getLogger(__name__)

# The largest range one GET of an import file fetches, and the read buffer: what a reading worker
# holds of the file at a time.
READ_RANGE_BYTES = 2 * 1024 * 1024
# Pieces a range's response is read in (copied into the read buffer as they arrive).
RESPONSE_PIECE_BYTES = 256 * 1024
# Pieces a save streams: one put below this size, else multipart parts of this size.
WRITE_PART_BYTES = 8 * 1024 * 1024
# S3's smallest part, for every part of a multipart upload but the last.
MIN_PART_BYTES = 5 * 1024 * 1024
# A health check must answer quickly, whatever the bucket does.
HEALTH_TIMEOUT_SECONDS = 1.0


def _unavailable_on_errors(method):
    """Raise StorageUnavailable (a 503 in the API) for any error of the service or the network;
    a missing object stays FileNotFoundError."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            logger.error("Object storage: %s failed: %s", method.__name__, exc)
            raise StorageUnavailable() from exc

    return wrapper


class ObjectFile(File):
    """A stored object opened for reading: seekable, fetched in ranges, ``size`` known."""

    def __init__(self, storage: ImportS3Storage, name: str, key: str, size: int) -> None:
        self._storage, self._key = storage, key
        self.reader = storage.ranged_reader(key, size=size)
        super().__init__(buffered_ranged_reader(self.reader, buffer_bytes=READ_RANGE_BYTES), name=name)
        self.size = size

    def open(self, mode=None):
        if self.closed:
            self.reader = self._storage.ranged_reader(self._key, size=self.size)
            self.file = buffered_ranged_reader(self.reader, buffer_bytes=READ_RANGE_BYTES)
        else:
            self.seek(0)
        return self


class ImportS3Storage(S3Storage):
    """S3Storage with ranged reads, streamed writes, server-side concatenation and a health check."""

    def __init__(self, **settings) -> None:
        super().__init__(**settings)
        self._client_lock = threading.Lock()
        self._shared_client = None
        self._health_client = None

    def __getstate__(self):
        state = super().__getstate__()
        for key in ("_client_lock", "_shared_client", "_health_client"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._client_lock = threading.Lock()
        self._shared_client = self._health_client = None

    # --- clients ---------------------------------------------------------------------------------

    def _new_client(self, config: Config | None = None):
        config = (self.client_config or Config()).merge(config) if config else self.client_config
        session = self._create_session()
        _use_lean_endpoint_data(session)
        return session.client(
            "s3", region_name=self.region_name, use_ssl=self.use_ssl, endpoint_url=self.endpoint_url,
            config=config, verify=self.verify,
        )

    @property
    def client(self):
        """The boto3 client every thread of this process shares."""
        if self._shared_client is None:
            with self._client_lock:
                if self._shared_client is None:
                    self._shared_client = self._new_client()
        return self._shared_client

    def _key(self, name: str) -> str:
        return self._normalize_name(clean_name(name))

    # --- reading ---------------------------------------------------------------------------------

    def ranged_reader(self, key: str, *, size: int) -> RangedReader:
        def fetch(start: int, end: int) -> Iterator[bytes]:
            try:
                yield from self._iter_range(key, start, end)
            except (BotoCoreError, ClientError) as exc:
                raise StorageUnavailable() from exc

        return RangedReader(fetch, size=size, max_range_bytes=READ_RANGE_BYTES,
                            retry_on=(StorageUnavailable,))

    @_unavailable_on_errors
    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            return super()._open(name, mode)
        key = self._key(name)
        try:
            head = self.client.head_object(Bucket=self.bucket_name, Key=key)
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise
        return ObjectFile(self, clean_name(name), key, head["ContentLength"])

    @_unavailable_on_errors
    def size(self, name) -> int:
        try:
            return self.client.head_object(Bucket=self.bucket_name, Key=self._key(name))["ContentLength"]
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                raise FileNotFoundError(f"File does not exist: {name}") from None
            raise

    @_unavailable_on_errors
    def exists(self, name) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket_name, Key=self._key(name))
            return True
        except ClientError as err:
            if err.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return False
            raise

    @_unavailable_on_errors
    def delete(self, name) -> None:
        # S3 answers 204 for a key that is not there: deleting twice is fine.
        self.client.delete_object(Bucket=self.bucket_name, Key=self._key(name))

    @_unavailable_on_errors
    def listdir(self, name):
        prefix = self._key(name)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        folders, files = [], []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Delimiter="/", Prefix=prefix
        ):
            folders += [entry["Prefix"][len(prefix):].rstrip("/") for entry in page.get("CommonPrefixes", ())]
            files += [
                entry["Key"][len(prefix):] for entry in page.get("Contents", ()) if entry["Key"] != prefix
            ]
        return folders, files

    # --- writing ---------------------------------------------------------------------------------

    @_unavailable_on_errors
    def _save(self, name, content) -> str:
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key, content)
        try:
            if content.tell():
                content.seek(0)  # like File.chunks(), which FileSystemStorage reads
        except (AttributeError, OSError, ValueError):
            pass  # a stream that cannot say or rewind (a request body): read from where it is
        first = _read_full(content, WRITE_PART_BYTES)
        if len(first) < WRITE_PART_BYTES:
            self.client.put_object(Bucket=self.bucket_name, Key=key, Body=first, **params)
            return cleaned
        with _MultipartUpload(self.client, self.bucket_name, key, params) as upload:
            piece = first
            while piece:
                upload.add_bytes(piece)
                piece = _read_full(content, WRITE_PART_BYTES)
        return cleaned

    @_unavailable_on_errors
    def concatenate(self, name: str, parts: list[tuple[str, int]]) -> str:
        """Store the objects ``parts`` ([(name, size)], in order) one after another as ``name``,
        inside the bucket; return the stored name. The parts are left for the caller to delete."""
        cleaned = clean_name(name)
        key = self._normalize_name(cleaned)
        params = self._get_write_parameters(key)
        if sum(size for _, size in parts) == 0:
            self.client.put_object(Bucket=self.bucket_name, Key=key, Body=b"", **params)
            return cleaned
        pending = bytearray()  # small pieces gathered until they make one part of MIN_PART_BYTES
        with _MultipartUpload(self.client, self.bucket_name, key, params) as upload:
            for part_name, size in parts:
                part_key, position = self._key(part_name), 0
                if pending:
                    take = min(MIN_PART_BYTES - len(pending), size)
                    pending += self._get_range(part_key, 0, take)
                    position = take
                    if len(pending) >= MIN_PART_BYTES:
                        upload.add_bytes(bytes(pending))
                        pending.clear()
                remaining = size - position
                if remaining >= MIN_PART_BYTES:
                    upload.add_copy(part_key, position, size)
                elif remaining:
                    pending += self._get_range(part_key, position, size)
            if pending:
                upload.add_bytes(bytes(pending))  # the last part may be small
        return cleaned

    def _get_range(self, key: str, start: int, end: int) -> bytes:
        return b"".join(self._iter_range(key, start, end))

    def _iter_range(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of ``key``, in pieces of ``RESPONSE_PIECE_BYTES`` as they arrive."""
        response = self.client.get_object(Bucket=self.bucket_name, Key=key, Range=f"bytes={start}-{end - 1}")
        body = response["Body"]
        try:
            yield from body.iter_chunks(RESPONSE_PIECE_BYTES)
        finally:
            body.close()

    # --- health ----------------------------------------------------------------------------------

    def is_reachable(self) -> bool:
        """Whether the bucket answers (a HEAD on it, one attempt, short timeouts)."""
        if self._health_client is None:
            self._health_client = self._new_client(Config(
                connect_timeout=HEALTH_TIMEOUT_SECONDS, read_timeout=HEALTH_TIMEOUT_SECONDS,
                retries={"max_attempts": 1, "mode": "standard"},
            ))
        try:
            self._health_client.head_bucket(Bucket=self.bucket_name)
            return True
        except (BotoCoreError, ClientError):
            logger.warning("Health check: the bucket %s does not answer", self.bucket_name, exc_info=True)
            return False


# The services whose endpoints a storage client may need: S3 itself, and STS for credentials that
# assume a role.
_ENDPOINT_SERVICES = frozenset({"s3", "sts"})


def _use_lean_endpoint_data(session) -> None:
    """Give ``session`` (boto3) an endpoint resolver that knows S3 and STS only.

    botocore loads the endpoints of every AWS service in every partition (endpoints.json) to
    create any client, and keeps them for the process's life: 7 MB of the ~22 MB an S3 client
    costs, measured here, in a worker's pool child whose whole budget is 150 MB. The regions and
    partitions stay as they are. botocore's private session API is used; should it change, the
    client is created the usual way and only the saving is lost.
    """
    try:
        from botocore.regions import EndpointResolver

        core = session._session
        loader = core.get_component("data_loader")
        endpoints, path = loader.load_data_with_path("endpoints")
        lean = {**endpoints, "partitions": [
            {**partition, "services": {
                name: service for name, service in partition.get("services", {}).items()
                if name in _ENDPOINT_SERVICES
            }}
            for partition in endpoints["partitions"]
        ]}
        core._register_internal_component(
            "endpoint_resolver", EndpointResolver(lean, uses_builtin_data=loader.is_builtin_path(path))
        )
        # The loader caches what it loaded: drop the full copy, or nothing is saved.
        for key in [key for key in loader._cache if "endpoints" in key]:
            del loader._cache[key]
    except Exception:  # noqa: BLE001 - an optimisation only (see above)
        logger.debug("Could not trim botocore's endpoint data", exc_info=True)


class _MultipartUpload:
    """One multipart upload: parts added in order, completed on a clean exit, aborted otherwise
    (an abandoned multipart upload keeps its parts, billed, until aborted)."""

    def __init__(self, client, bucket: str, key: str, params: dict) -> None:
        self.client, self.bucket, self.key = client, bucket, key
        self.upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **params)["UploadId"]
        self.parts: list[dict] = []

    def __enter__(self) -> _MultipartUpload:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                MultipartUpload={"Parts": self.parts},
            )
            return
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
        except (BotoCoreError, ClientError):
            logger.warning("Could not abort the multipart upload of %s", self.key, exc_info=True)

    def add_bytes(self, data: bytes) -> None:
        number = len(self.parts) + 1
        response = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": response["ETag"]})

    def add_copy(self, source_key: str, start: int, end: int) -> None:
        number = len(self.parts) + 1
        response = self.client.upload_part_copy(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
            CopySource={"Bucket": self.bucket, "Key": source_key}, CopySourceRange=f"bytes={start}-{end - 1}",
        )
        self.parts.append({"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]})


def _read_full(content, size: int) -> bytes:
    """Up to ``size`` bytes of ``content``, fewer only at its end (streams may return short reads)."""
    buffer = io.BytesIO()
    while buffer.tell() < size:
        data = content.read(size - buffer.tell())
        if not data:
            break
        if isinstance(data, str):
            data = data.encode()
        buffer.write(data)
    return buffer.getvalue()

