from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self) -> None:
        from consent.groups import sync_operator_groups

        # Permissions of every app exist once the last app has migrated;
        # syncing on each app's signal is cheap and keeps it simple.
        post_migrate.connect(sync_operator_groups, dispatch_uid="consent_groups")
