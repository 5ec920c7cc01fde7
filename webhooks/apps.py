from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Outgoing webhooks: told about catalogue and import changes by signals, delivered by the worker."""

    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from webhooks import receivers

        receivers.connect()
