from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CatalogConfig(AppConfig):
    name = "catalog"
    verbose_name = "Catalogue"

    def ready(self) -> None:
        post_migrate.connect(_sync_description_limit, sender=self)


def _sync_description_limit(sender, *, using, plan=None, verbosity=1, stdout=None, **kwargs) -> None:
    """After every `migrate`: the description check constraint follows the setting."""
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from catalog.constraints import sync_description_limit

    connection = connections[using]
    recorder = MigrationRecorder(connection)
    applied = recorder.applied_migrations() if recorder.has_table() else {}
    if ("catalog", "0006_description_length") not in applied:
        return  # migrated backwards, or only partly: the constraint's migration is not applied
    result = sync_description_limit(connection=connection)
    if result.changed and verbosity and stdout is not None:
        stdout.write(f"  Product descriptions are held to {result.bound:,} characters in the database.\n")
    if result.longer and stdout is not None:
        stdout.write(
            f"  {result.longer:,} {'product has' if result.longer == 1 else 'products have'} a description "
            "longer than "
            f"PRODUCT_DESCRIPTION_MAX_LENGTH ({result.wanted:,}); they keep it until it is edited.\n"
        )
