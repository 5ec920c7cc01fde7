"""Request and response shapes of the API. They validate and shape data; they never write.

The import job's JSON is ``importer.serializers.ImportJobSerializer``, shared with the event stream.
"""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from rest_framework import serializers

from catalog.models import NAME_MAX_LENGTH, SKU_MAX_LENGTH, Product, description_max_length
from catalog.selectors import product_sku_taken
from catalog.services import duplicate_sku_message
from importer.pipeline import FileRejected, resolve_encoding


class UserSerializer(serializers.ModelSerializer):
    """The signed-in user, as the front end needs it."""

    # Not an EmailField: the schema would then promise format "email", but users without an
    # address have "", which breaks that promise.
    email = serializers.CharField(read_only=True, help_text="Empty if the user has no email address.")

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "first_name", "last_name", "is_staff"]
        read_only_fields = fields


class CredentialsSerializer(serializers.Serializer):
    """A username and password; valid only if they identify an active user (``validated_data["user"]``)."""

    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})

    def validate(self, attrs: dict) -> dict:
        user = authenticate(
            request=self.context.get("request"), username=attrs["username"], password=attrs["password"]
        )
        if user is None:
            # One message for both cases, so the answer does not reveal which usernames exist.
            raise serializers.ValidationError(
                "The username or password is not correct.", code="invalid_credentials"
            )
        return {"user": user}


class TokenSerializer(serializers.Serializer):
    """An API token: send it as ``Authorization: Token <token>``."""

    token = serializers.CharField(read_only=True)


class CsrfTokenSerializer(serializers.Serializer):
    """The CSRF token (also set as the ``csrftoken`` cookie); send it back as ``X-CSRFToken``."""

    csrf_token = serializers.CharField(read_only=True)


_DATETIME = serializers.DateTimeField()


class ProductSerializer(serializers.ModelSerializer):
    """A product of the catalogue. SKU and name are trimmed; SKUs are unique in any letter case."""

    sku = serializers.CharField(max_length=SKU_MAX_LENGTH)
    name = serializers.CharField(max_length=NAME_MAX_LENGTH)
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        default="",
        help_text="At most PRODUCT_DESCRIPTION_MAX_LENGTH characters (20,000 unless configured).",
    )

    class Meta:
        model = Product
        fields = ["id", "sku", "name", "description", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def to_representation(self, instance: Product) -> dict:
        # A list page holds up to 1000 products, and DRF's generic path (every field object,
        # its attribute lookup and conversion, one by one) cost more than the page's queries.
        # The same dict, built directly; the dates go through DRF's own DateTimeField, so the
        # format and time zone follow settings exactly as before (tests compare both paths).
        as_datetime = _DATETIME.to_representation
        return {
            "id": instance.id,
            "sku": instance.sku,
            "name": instance.name,
            "description": instance.description,
            "is_active": instance.is_active,
            "created_at": as_datetime(instance.created_at),
            "updated_at": as_datetime(instance.updated_at),
        }

    def validate_description(self, value: str) -> str:
        # The setting is read per request (not frozen into a max_length at import time), so the
        # API, the import and the database's check constraint always agree on one number.
        limit = description_max_length()
        if len(value) > limit:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {limit:,} characters (it has {len(value):,}).",
                code="max_length",
            )
        return value

    def validate_sku(self, value: str) -> str:
        # The service catches the unique index's violation too; this check gives the same
        # message without a failed INSERT in the common case.
        if product_sku_taken(sku=value, exclude_id=self.instance.pk if self.instance else None):
            raise serializers.ValidationError(duplicate_sku_message(value), code="unique")
        return value


class BulkDeleteSerializer(serializers.Serializer):
    """Deleting every product needs an explicit ``{"confirm": true}``."""

    confirm = serializers.BooleanField(
        help_text="Must be true: confirms that every product of the catalogue is to be deleted."
    )

    def validate_confirm(self, value: bool) -> bool:
        if value is not True:
            raise serializers.ValidationError(
                'Send {"confirm": true} to delete every product.', code="confirmation_required"
            )
        return value


class BulkDeleteResultSerializer(serializers.Serializer):
    deleted = serializers.IntegerField(help_text="How many products were deleted.")


def _validate_encoding(value: str) -> str:
    if not value:
        return value
    try:
        return resolve_encoding(value)
    except FileRejected as exc:
        raise serializers.ValidationError(str(exc), code="invalid_encoding") from None


# A header has at most a few hundred columns (MAX_HEADER_BYTES bounds it); a mapping larger than
# this is refused before it is compared with anything.
MAX_MAPPED_COLUMNS = 1000


def _validate_columns(value):
    if value is None:
        return value
    if not isinstance(value, dict) or not value:
        raise serializers.ValidationError(
            'Give the mapping as an object of column headers to targets, e.g. {"Variant SKU": "sku", '
            '"Title": "name"}.', code="invalid_mapping",
        )
    if len(value) > MAX_MAPPED_COLUMNS:
        raise serializers.ValidationError(
            f"A mapping names at most {MAX_MAPPED_COLUMNS:,} columns.", code="invalid_mapping"
        )
    for key, target in value.items():
        if len(key) > 1000 or not (target is None or isinstance(target, str)):
            raise serializers.ValidationError(
                f"Each column's target is a string (sku, name, description, is_active) or null; "
                f"'{key[:100]}' has {type(target).__name__}.", code="invalid_mapping",
            )
    return value


class UndoRequestSerializer(serializers.Serializer):
    """The body of an undo request."""

    force = serializers.BooleanField(
        required=False, default=False,
        help_text="Also undo products changed since the import (by hand or by a later import); "
        "without it they are left as they are and reported as conflicts.",
    )


class ColumnMappingSerializer(serializers.Serializer):
    """A column mapping: which column of the file is which product field."""

    columns = serializers.JSONField(
        help_text='{"<column key>": "sku" | "name" | "description" | "is_active" | null}: each of sku '
        "and name exactly once; a column not named, or null, is ignored. A column's key is its "
        "header, or \"<header> (column N)\" when the file has two columns of that name.",
    )

    def validate_columns(self, value):
        return _validate_columns(value)


class _ImportOptionsSerializer(serializers.Serializer):
    """What both ways of starting an import accept besides the file."""

    columns = serializers.JSONField(
        required=False, allow_null=True,
        help_text="An optional column mapping, as for /api/imports/{id}/mapping/ (a JSON string in "
        "a multipart form). Without it a header that does not name sku and name stops the import "
        "in needs_mapping.",
    )
    preview = serializers.BooleanField(
        required=False, default=False,
        help_text="Compare the file with the catalogue and change nothing: the job ends in "
        "previewed, to be confirmed (/confirm/) or cancelled.",
    )

    def validate_columns(self, value):
        return _validate_columns(value)


class ImportFileSerializer(_ImportOptionsSerializer):
    """Start an import of a small file sent in this request (multipart)."""

    file = serializers.FileField(
        allow_empty_file=True,
        help_text="The CSV file (header sku,name[,description]). Larger files: use /api/uploads/.",
    )
    encoding = serializers.CharField(
        required=False, allow_blank=True, max_length=40,
        help_text="The file's text encoding, e.g. utf-8 (default), cp1252 or latin-1.",
    )

    def validate_encoding(self, value: str) -> str:
        return _validate_encoding(value)


class ImportUploadSerializer(_ImportOptionsSerializer):
    """Start an import of a completed resumable upload."""

    upload = serializers.CharField(
        max_length=64,
        help_text="The id of a completed upload: the last path segment of its /api/uploads/ URL.",
    )
    encoding = serializers.CharField(
        required=False, allow_blank=True, max_length=40,
        help_text="Overrides the encoding given in the upload's metadata (default utf-8).",
    )

    def validate_encoding(self, value: str) -> str:
        return _validate_encoding(value)


class ErrorSerializer(serializers.Serializer):
    """The one shape of every error answer (see api/exceptions.py)."""

    detail = serializers.CharField(help_text="What went wrong, for a person to read.")
    code = serializers.CharField(help_text="A stable machine-readable code, e.g. invalid, not_found.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Invalid input only: messages per field.",
    )
