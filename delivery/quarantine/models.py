from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AddressChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class Status(models.TextChoices):
    VALID = "valid", _("Valid")
    WITH_ERRORS = "with_errors", _("With errors")
    QUARANTINED = "quarantined", _("Quarantined")
    DENYLISTED = "denylisted", _("Denylisted")
    ALLOWLISTED = "allowlisted", _("Allowlisted")


class ErrorKind(models.TextChoices):
    HARD = "hard", _("Hard")
    SOFT = "soft", _("Soft")
    IGNORED = "ignored", _("Ignored")


class Reason(models.TextChoices):
    USER_UNKNOWN = "user_unknown", _("User unknown")
    INVALID_DOMAIN = "invalid_domain", _("Invalid domain")
    MAILBOX_FULL = "mailbox_full", _("Mailbox full")
    ACCOUNT_DISABLED = "account_disabled", _("Account disabled")
    UNREACHABLE = "unreachable", _("Unreachable")
    REFUSED = "refused", _("Refused")
    NOT_CONNECTED = "not_connected", _("Not connected")
    SPAM_COMPLAINT = "spam_complaint", _("Spam complaint")
    MANUAL = "manual", _("Manual")
    UNKNOWN = "unknown", _("Unknown")


class Address(models.Model):
    """The delivery state of one normalised address on one channel.

    Shared by every profile holding the address. An address with no row is
    valid. Changed only through quarantine.actions.
    """

    address = models.CharField(max_length=254)
    channel = models.CharField(max_length=10, choices=AddressChannel)
    # The part after "@" of an e-mail address, empty for phone numbers: the
    # admin filter and the bulk release after a provider outage select by it.
    domain = models.CharField(max_length=254, blank=True, editable=False)
    status = models.CharField(max_length=20, choices=Status, default=Status.VALID)
    reason = models.CharField(max_length=30, choices=Reason, blank=True)
    error_count = models.PositiveIntegerField(
        default=0, help_text=_("Soft errors counted since the count last restarted.")
    )
    first_error_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_counted_error_at = models.DateTimeField(null=True, blank=True)
    last_diagnostic = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("address")
        verbose_name_plural = _("addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["address", "channel"], name="quarantine_address_unique"
            ),
        ]
        indexes = [
            # Delivery analysis joins on (channel, address) for the excluding
            # statuses only; clean_quarantine scans by status and last error.
            models.Index(
                fields=["status", "last_error_at"], name="quarantine_upkeep_idx"
            ),
            # release_quarantine and the admin's domain filter.
            models.Index(fields=["domain", "status"], name="quarantine_domain_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} address #{self.pk} ({self.status})"


class StatusChange(models.Model):
    """Who or what changed an address's status, when and why."""

    class Source(models.TextChoices):
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Complaint")
        SMS_STOP = "sms_stop", _("SMS STOP reply")
        ESP_WEBHOOK = "esp_webhook", _("E-mail provider webhook")
        SEND = "send", _("Send attempt")
        OPERATOR = "operator", _("Operator")
        IMPORT = "import", _("Import")
        UPKEEP = "upkeep", _("Upkeep")

    address = models.ForeignKey(
        Address, on_delete=models.CASCADE, related_name="status_changes"
    )
    old_status = models.CharField(max_length=20, choices=Status)
    new_status = models.CharField(max_length=20, choices=Status)
    reason = models.CharField(max_length=30, choices=Reason, blank=True)
    source = models.CharField(max_length=20, choices=Source)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["address", "-created_at"], name="statuschange_addr_idx"
            ),
            # The admin's history list, newest first, on a table that only
            # grows.
            models.Index(fields=["-created_at", "-id"], name="statuschange_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.old_status} → {self.new_status}"


class Bounce(models.Model):
    """One failed delivery reported for an address, kept for review."""

    address = models.ForeignKey(
        Address, on_delete=models.CASCADE, related_name="bounces"
    )
    kind = models.CharField(max_length=10, choices=ErrorKind)
    reason = models.CharField(max_length=30, choices=Reason)
    status_code = models.CharField(_("enhanced status code"), max_length=20, blank=True)
    diagnostic = models.TextField(blank=True)
    source = models.CharField(
        max_length=20, choices=StatusChange.Source, default=StatusChange.Source.BOUNCE
    )
    # Where it came from: a file name, a provider event id, a delivery.
    origin = models.CharField(max_length=500, blank=True)
    message_id = models.CharField(max_length=500, blank=True)
    raw = models.TextField(blank=True, help_text=_("The bounce as received."))
    counted = models.BooleanField(
        default=False, help_text=_("Whether the error counted towards quarantine.")
    )
    false_positive = models.BooleanField(default=False)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("bounce")
        verbose_name_plural = _("bounces")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            # The bounces of one address, and the duplicate check of
            # record_error (address, then message_id among its few rows).
            models.Index(fields=["address", "-occurred_at"], name="bounce_addr_idx"),
            # The admin's bounce list, newest first.
            models.Index(fields=["-occurred_at", "-id"], name="bounce_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} bounce #{self.pk} ({self.reason})"
