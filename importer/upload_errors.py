"""What can go wrong with a resumable upload; each message is meant for the person uploading."""

from __future__ import annotations


class UploadError(Exception):
    """Base of every upload failure; the message is meant for the person uploading."""


class UploadNotFound(UploadError):
    """No such upload for this user: it never existed, belongs to someone else, or was terminated."""


class UploadExpired(UploadError):
    """The upload waited too long for its next part (or for an import) and was given up."""


class UploadOffsetMismatch(UploadError):
    """A part was sent for an offset other than the upload's current one."""

    def __init__(self, message: str, *, current_offset: int) -> None:
        super().__init__(message)
        self.current_offset = current_offset


class UploadTooLarge(UploadError):
    """An upload or a part is larger than allowed, or runs past the upload's announced length."""


class UploadInvalid(UploadError):
    """The request does not describe a valid upload (bad length, metadata or body)."""


class UploadLimitReached(UploadError):
    """The user already has ``UPLOAD_MAX_ACTIVE_PER_USER`` uploads that no import has taken over."""


class UploadUnavailable(UploadError):
    """A completed upload cannot be used for an import.

    ``code`` says why: ``not_found`` (unknown, someone else's, terminated or expired),
    ``incomplete`` (parts still missing) or ``consumed`` (an import already took it).
    """

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
