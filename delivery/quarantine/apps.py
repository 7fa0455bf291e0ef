from django.apps import AppConfig


class QuarantineConfig(AppConfig):
    name = "delivery.quarantine"
    label = "quarantine"
    verbose_name = "Quarantine"

    def ready(self) -> None:
        from anymail.signals import tracking

        from delivery.quarantine import checks  # noqa: F401  (registers them)
        from delivery.quarantine.webhooks import handle_tracking_event

        tracking.connect(handle_tracking_event, dispatch_uid="quarantine_tracking")
