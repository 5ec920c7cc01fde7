from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """Hosts the operational management commands (database bootstrap, admin user)."""

    name = "project"
    verbose_name = "Project operations"
