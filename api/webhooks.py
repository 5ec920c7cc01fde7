"""Webhooks over HTTP (staff only): manage them, test one, list its deliveries, rotate its secret.

Thin: the serializers validate and shape, ``webhooks.services`` writes, ``webhooks.selectors``
reads. The Test button's request is the one place a webhook is sent from the web process: the
person asked for it and waits for the answer, so it is sent at once (at most
WEBHOOKS_TIMEOUT_SECONDS, 10 s by default) rather than queued.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers import ErrorSerializer
from webhooks import selectors, services
from webhooks.events import SUBSCRIBABLE_EVENTS
from webhooks.models import Delivery, Webhook


class WebhookSerializer(serializers.ModelSerializer):
    """A webhook as the API shows it: its secret only by its start."""

    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS), allow_empty=False, max_length=20,
        help_text="The event types to send: " + ", ".join(SUBSCRIBABLE_EVENTS) + ".",
    )
    url = serializers.URLField(max_length=2000, help_text="http:// or https:// on a public address.")
    secret_prefix = serializers.CharField(read_only=True, help_text="The start of the signing secret.")

    class Meta:
        model = Webhook
        fields = [
            "id", "url", "description", "events", "is_active", "secret_prefix",
            "disabled_reason", "disabled_at", "created_at", "updated_at",
        ]
        read_only_fields = [
            "id", "secret_prefix", "disabled_reason", "disabled_at", "created_at", "updated_at",
        ]
        extra_kwargs = {"description": {"max_length": 500}}


class WebhookWithSecretSerializer(WebhookSerializer):
    """A webhook with its full secret: the answer to creating it or rotating its secret, only."""

    secret = serializers.CharField(read_only=True, help_text="The whole whsec_ secret; shown only this once.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookSerializer.Meta.read_only_fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    """One attempt at sending an event to a webhook."""

    class Meta:
        model = Delivery
        fields = [
            "id", "event_id", "event_type", "attempt", "succeeded", "status_code", "duration_ms",
            "response_excerpt", "error", "created_at", "payload",
        ]
        read_only_fields = fields


class TestResultSerializer(serializers.Serializer):
    """What a test send gave: the answer's status code and time, or the error."""

    status_code = serializers.IntegerField(required=False, help_text="The receiver's HTTP status.")
    duration_ms = serializers.IntegerField(help_text="How long the attempt took.")
    error = serializers.CharField(required=False, help_text="Why no answer came (timeout, refused, ...).")


@extend_schema_view(
    create=extend_schema(
        request=WebhookSerializer,
        responses={201: WebhookWithSecretSerializer, 400: OpenApiResponse(
            ErrorSerializer, description="Invalid input, e.g. a URL on a private address.")},
        description="Add a webhook. The answer carries its whole `secret`, this once only.",
    ),
)
class WebhookViewSet(viewsets.ModelViewSet):
    """Webhooks: addresses sent the catalogue's and the imports' events, signed (staff only)."""

    serializer_class = WebhookSerializer
    permission_classes = [permissions.IsAdminUser]

    def get_queryset(self):
        return selectors.webhook_list()

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        webhook = services.webhook_create(**serializer.validated_data)
        return Response(WebhookWithSecretSerializer(webhook).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer: WebhookSerializer) -> None:
        serializer.instance = services.webhook_update(
            webhook=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance: Webhook) -> None:
        services.webhook_delete(webhook=instance)

    @extend_schema(
        request=None,
        responses={200: TestResultSerializer},
        description=(
            "Send a `webhook.test` event to this webhook now (enabled or not) and answer with its "
            "`status_code` and `duration_ms`, or its `error`. Takes at most the send timeout (10 s)."
        ),
    )
    @action(detail=True, methods=["post"], url_path="test", url_name="test")
    def send_test(self, request: Request, pk=None) -> Response:
        result = services.webhook_send_test(webhook=self.get_object())
        body: dict = {"duration_ms": result.duration_ms}
        if result.status_code is not None:
            body["status_code"] = result.status_code
        else:
            body["error"] = result.error
        return Response(TestResultSerializer(body).data)

    @extend_schema(responses={200: DeliverySerializer(many=True)},
                   description="This webhook's delivery attempts, newest first.")
    @action(detail=True, methods=["get"], url_path="deliveries", url_name="deliveries")
    def deliveries(self, request: Request, pk=None) -> Response:
        page = self.paginate_queryset(selectors.webhook_deliveries(webhook=self.get_object()))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={200: WebhookWithSecretSerializer},
                   description="Give the webhook a new secret (answered in full, this once); the old "
                   "one stops signing at once.")
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request: Request, pk=None) -> Response:
        webhook = services.webhook_rotate_secret(webhook=self.get_object())
        return Response(WebhookWithSecretSerializer(webhook).data)
