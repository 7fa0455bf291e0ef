from django.apps import AppConfig


class QuarantineConfig(AppConfig):
    name = "delivery.quarantine"
    label = "quarantine"
    verbose_name = "Quarantine"
