"""Resumable uploads: create, append a part, terminate, assemble, consume, and expire.

The HTTP side (the tus 1.0 protocol) lives in ``api/tus.py``; this module knows nothing of HTTP.

Storage design. Everything goes through Django's storage API (``default_storage``), so a shared
backend can serve several web processes or machines:

* each PATCH body is saved as its own part object, ``uploads/<id>/<offset>-<random>.part``, streamed from
  the request in small pieces, and recorded as an ``UploadPart`` row;
* the upload's ``offset`` then moves forward by a compare-and-set UPDATE, so two requests racing
  for the same offset cannot both win: the loser deletes its part and is told the real offset;
* when the last byte has arrived, the parts are joined, in order, into one file under
  ``imports/`` (the place imports read from) and deleted: streamed through this process on a
  local disk, copied inside the bucket on object storage (``importer.s3_storage``). The import pipeline seeks in its file,
  so it needs one object, not a list of parts.

Because daphne hands a request to Django only once its whole body has arrived, a part is stored
whole or not at all; a dropped connection loses at most the part in flight, and the client
resumes from the offset HEAD reports. How parts are named, streamed and deleted in storage is
``importer.upload_storage``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import IO, NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from importer.models import Upload, UploadPart
from importer.pipeline import FileRejected, resolve_encoding
from importer.storage import clean_filename, storage_save_or_full
from importer.upload_errors import (
    UploadExpired,
    UploadInvalid,
    UploadLimitReached,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    UploadUnavailable,
)
from importer.upload_storage import BodyPart, assembled_name, delete_stored, parts_prefix, store_concatenated

logger = logging.getLogger(__name__)



class ConsumedUpload(NamedTuple):
    """What an import needs to know about the file of a completed upload."""

    stored_name: str
    filename: str
    size_bytes: int
    encoding: str


def upload_expiry_from(moment: datetime) -> datetime:
    """When an upload touched at ``moment`` expires (``UPLOAD_EXPIRY_HOURS`` later)."""
    return moment + timedelta(hours=settings.UPLOAD_EXPIRY_HOURS)


def _parse_id(upload_id: str | uuid.UUID) -> uuid.UUID | None:
    if isinstance(upload_id, uuid.UUID):
        return upload_id
    try:
        return uuid.UUID(str(upload_id))
    except ValueError:
        return None


def upload_create(*, owner, length: int, filename: str = "", encoding: str = "") -> Upload:
    """Start an upload of a file of ``length`` bytes; nothing is stored until its first part.

    ``filename`` and ``encoding`` are the client's metadata: the name is kept for display only
    (storage names are ours), the encoding is checked now so a bad one fails before any byte moves.
    """
    if length < 0:
        raise UploadInvalid("Upload-Length must be a whole number of bytes, 0 or more.")
    if length > settings.UPLOAD_MAX_SIZE:
        raise UploadTooLarge(
            f"The file is {length:,} bytes; uploads may be at most {settings.UPLOAD_MAX_SIZE:,} bytes."
        )
    if encoding:
        try:
            encoding = resolve_encoding(encoding)
        except FileRejected as exc:
            raise UploadInvalid(str(exc)) from None
    with transaction.atomic():
        _refuse_if_too_many_unfinished(owner)
        upload = Upload.objects.create(
            owner=owner,
            filename=clean_filename(filename or "upload.csv"),
            encoding=encoding,
            length=length,
            expires_at=upload_expiry_from(timezone.now()),
        )
    if length == 0:
        _upload_assemble(upload_id=upload.id)
        upload.refresh_from_db()
    return upload


def _refuse_if_too_many_unfinished(owner) -> None:
    """Cap a user's uploads that hold files no import has taken over.

    Each such upload may hold up to UPLOAD_MAX_SIZE bytes until an import takes it or it expires:
    unfinished ones their parts, finished ones their assembled file. Without a cap one account
    could fill the disk by starting uploads it never ends, or by finishing uploads it never
    imports. Locking the owner's row makes concurrent creations by one user count one after
    another, so they cannot all slip under the cap together. Expired ones do not count: they are
    dead, and the beat process deletes them.
    """
    limit = settings.UPLOAD_MAX_ACTIVE_PER_USER
    get_user_model().objects.select_for_update().filter(pk=owner.pk).exists()
    held = Upload.objects.filter(owner=owner, consumed_at__isnull=True, expires_at__gt=timezone.now())
    counts = held.aggregate(
        unfinished=models.Count("pk", filter=models.Q(completed_at__isnull=True)),
        finished=models.Count("pk", filter=models.Q(completed_at__isnull=False)),
    )
    if counts["unfinished"] + counts["finished"] >= limit:
        raise UploadLimitReached(
            f"You already have {counts['unfinished']} unfinished and {counts['finished']} finished but "
            f"not imported uploads (at most {limit} at a time). Import one, or cancel one you no "
            f"longer need (DELETE its URL), then start this upload; an upload also expires "
            f"{settings.UPLOAD_EXPIRY_HOURS} hours after its last part."
        )


def upload_get(*, user, upload_id: str | uuid.UUID) -> Upload:
    """The user's upload with this id; raises UploadNotFound or UploadExpired.

    Someone else's upload is "not found", so its existence is not revealed.
    """
    pk = _parse_id(upload_id)
    upload = Upload.objects.filter(pk=pk, owner=user).first() if pk and user.is_authenticated else None
    if upload is None:
        raise UploadNotFound("There is no such upload: it may have been cancelled or never existed.")
    if upload.expires_at <= timezone.now():
        raise UploadExpired(
            "This upload has expired: it waited too long for its next part. Start the upload again."
        )
    return upload


def upload_append(*, upload: Upload, offset: int, body: IO[bytes], size: int) -> Upload:
    """Store ``size`` bytes read from ``body`` as the part of ``upload`` starting at ``offset``.

    The part is stored first and the offset moved after, by compare-and-set; a part that loses a
    race (or finds its upload gone) is deleted again. When the last part lands the file is
    assembled. Returns the upload as it now stands.
    """
    if offset != upload.offset:
        raise UploadOffsetMismatch(
            f"This part starts at byte {offset:,}, but the upload has {upload.offset:,} bytes: "
            f"ask for the offset (HEAD) and send from there.",
            current_offset=upload.offset,
        )
    if offset + size > upload.length:
        raise UploadTooLarge(
            f"This part would take the upload to {offset + size:,} bytes, past its announced "
            f"length of {upload.length:,} bytes."
        )
    if size == 0:
        return upload

    part = BodyPart(body, size)
    # A name of this request's own (two requests may race for one offset): if the disk fills up,
    # storage_save_or_full deletes the partial part by name and must not hit the other's.
    name = storage_save_or_full(
        default_storage, f"{parts_prefix(upload)}/{offset:016d}-{uuid.uuid4().hex[:12]}.part", part
    )
    if part.received != size:
        default_storage.delete(name)
        raise UploadInvalid(
            f"The part ended after {part.received:,} of its {size:,} bytes; send it again."
        )

    now = timezone.now()
    try:
        with transaction.atomic():
            moved = Upload.objects.filter(
                pk=upload.pk, offset=offset, expires_at__gt=now
            ).update(offset=offset + size, expires_at=upload_expiry_from(now), updated_at=now)
            if moved:
                UploadPart.objects.create(upload=upload, offset=offset, size=size, name=name)
    except IntegrityError:
        moved = 0
    if not moved:
        default_storage.delete(name)
        current = Upload.objects.filter(pk=upload.pk).first()
        if current is None:
            raise UploadNotFound("This upload was cancelled while the part was arriving.")
        if current.expires_at <= now:
            raise UploadExpired("This upload has expired. Start the upload again.")
        raise UploadOffsetMismatch(
            f"Another request stored bytes at this offset first; the upload now has "
            f"{current.offset:,} bytes.",
            current_offset=current.offset,
        )

    upload.offset, upload.expires_at, upload.updated_at = offset + size, upload_expiry_from(now), now
    if upload.is_complete:
        _upload_assemble(upload_id=upload.pk)
        upload.refresh_from_db()
    return upload


def _upload_assemble(*, upload_id: uuid.UUID) -> None:
    """Stream a complete upload's parts into one stored file, then delete the parts. Idempotent.

    The row lock makes assembling and consuming wait for each other, so an import never gets a
    half-written file. The copy runs in ``COPY_BUFFER_SIZE`` pieces.
    """
    with transaction.atomic():
        upload = Upload.objects.select_for_update().get(pk=upload_id)
        if upload.stored_name or not upload.is_complete:
            return
        parts = list(upload.parts.order_by("offset"))
        if sum(part.size for part in parts) != upload.length:
            raise UploadInvalid("The upload's parts do not add up to its length; start it again.")
        stored_name = store_concatenated(
            assembled_name(upload), [(part.name, part.size) for part in parts], size=upload.length
        )
        now = timezone.now()
        Upload.objects.filter(pk=upload.pk).update(
            stored_name=stored_name, completed_at=now, expires_at=upload_expiry_from(now), updated_at=now
        )
        upload.parts.all().delete()
        part_names = [part.name for part in parts]
        transaction.on_commit(lambda: delete_stored(part_names, prefix=parts_prefix(upload)))


def upload_terminate(*, upload: Upload) -> None:
    """Cancel an upload (tus termination): forget it and delete whatever of it is stored.

    A consumed upload's file belongs to its import now, so only the record goes.
    """
    with transaction.atomic():
        locked = Upload.objects.select_for_update().filter(pk=upload.pk).first()
        if locked is None:
            return
        upload_forget(locked)


def upload_forget(upload: Upload) -> None:
    """Delete ``upload``'s row (locked by the caller) and, once that commits, its stored parts and
    its assembled file unless an import took the file over."""
    names = list(upload.parts.values_list("name", flat=True))
    if upload.stored_name and not upload.consumed_at:
        names.append(upload.stored_name)
    prefix = parts_prefix(upload)
    upload.delete()
    transaction.on_commit(lambda: delete_stored(names, prefix=prefix))


def uploads_forget_where(**condition) -> int:
    """Forget every upload matching ``condition`` (``upload_forget``); return how many.

    Each is locked and forgotten in its own transaction; one being written to right now (its row
    locked) is skipped and left for the next run.
    """
    forgotten = 0
    for pk in Upload.objects.filter(**condition).values_list("pk", flat=True).iterator():
        with transaction.atomic():
            upload = Upload.objects.select_for_update(skip_locked=True).filter(pk=pk, **condition).first()
            if upload is None:
                continue
            upload_forget(upload)
            forgotten += 1
    return forgotten


def uploads_expire_stale(*, now: datetime | None = None) -> int:
    """Delete every expired upload and its stored parts (and unclaimed file); return how many.

    Incomplete uploads expire ``UPLOAD_EXPIRY_HOURS`` after their last part, completed ones that
    no import took over as long after completion. Uploads being written to right now are skipped
    (their row is locked) and looked at on the next run.
    """
    expired = uploads_forget_where(expires_at__lte=now or timezone.now())
    if expired:
        logger.info("Expired %s stale uploads.", expired)
    return expired


def upload_consume(*, user, upload_id: str | uuid.UUID) -> ConsumedUpload:
    """Hand a completed upload's file over to an import; an upload can be consumed once.

    Call it inside the same ``transaction.atomic()`` as ``import_job_create`` so that a failed
    job creation leaves the upload unconsumed. Raises ``UploadUnavailable`` (with ``code``) if
    the upload is unknown, someone else's, expired, still incomplete, or already used.
    """
    pk = _parse_id(upload_id)
    with transaction.atomic():
        upload = (
            Upload.objects.select_for_update().filter(pk=pk, owner=user).first()
            if pk and user.is_authenticated else None
        )
        if upload is None or upload.expires_at <= timezone.now():
            raise UploadUnavailable(
                "There is no such upload: it may have expired, been cancelled, or never existed.",
                code="not_found",
            )
        if upload.consumed_at:
            raise UploadUnavailable(
                "This upload has already been used for an import. Upload the file again to "
                "import it again.",
                code="consumed",
            )
        if not upload.is_complete:
            raise UploadUnavailable(
                f"This upload is not complete yet: {upload.offset:,} of {upload.length:,} bytes "
                f"have arrived. Finish the upload first.",
                code="incomplete",
            )
        if not upload.stored_name:
            # The process that received the last part stopped before assembling the file.
            _upload_assemble(upload_id=upload.pk)
            upload.refresh_from_db()
        upload.consumed_at = timezone.now()
        upload.save(update_fields=["consumed_at", "updated_at"])
    return ConsumedUpload(
        stored_name=upload.stored_name,
        filename=upload.filename,
        size_bytes=upload.length,
        encoding=upload.encoding,
    )
