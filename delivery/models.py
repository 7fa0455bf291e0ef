from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from consent.models import Language, Profile, Service


class DeliveryChannel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")


class Exclusion(models.TextChoices):
    """Why a target profile is left out, in the order analysis applies them.

    The order of the members is the precedence of DESIGN.md: a profile gets
    the first reason that applies.
    """

    NO_ADDRESS = "no_address", _("No address")
    INVALID_ADDRESS = "invalid_address", _("Invalid address")
    OPTED_OUT = "opted_out", _("Opted out of everything")
    CHANNEL_OPTED_OUT = "channel_opted_out", _("Opted out of the channel")
    DENYLISTED = "denylisted", _("Denylisted address")
    QUARANTINED = "quarantined", _("Quarantined address")
    DUPLICATE = "duplicate", _("Duplicate address")


class LateExclusion(models.TextChoices):
    """Why a recipient found at analysis is skipped when the send comes."""

    ADDRESS_CHANGED = "address_changed", _("Address changed since the analysis")
    OPTED_OUT = "opted_out", _("Opted out of everything")
    CHANNEL_OPTED_OUT = "channel_opted_out", _("Opted out of the channel")
    UNSUBSCRIBED = "unsubscribed", _("No longer subscribed to the service")
    DENYLISTED = "denylisted", _("Denylisted address")
    QUARANTINED = "quarantined", _("Quarantined address")


class Delivery(models.Model):
    """One message sent on one channel to a target.

    Changed only through delivery.actions, which moves it from draft to
    analysed, sending and sent and records who acted.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ANALYSED = "analysed", _("Analysed")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    label = models.CharField(_("label"), max_length=200)
    channel = models.CharField(
        _("channel"),
        max_length=10,
        choices=DeliveryChannel,
        default=DeliveryChannel.EMAIL,
    )
    service = models.ForeignKey(
        Service,
        verbose_name=_("service"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deliveries",
        help_text=_("Its subscribed profiles are the target; empty for every profile."),
    )
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=Language,
        blank=True,
        help_text=_("Only profiles in this language; empty for every language."),
    )
    exclude_duplicates = models.BooleanField(
        _("exclude duplicate addresses"),
        default=True,
        help_text=_(
            "Send one message per address: of the profiles sharing one, the "
            "oldest gets it."
        ),
    )
    subject = models.CharField(
        _("subject"),
        max_length=250,
        blank=True,
        help_text=_("E-mail only. May use {{ first_name }} and {{ last_name }}."),
    )
    body = models.TextField(
        _("message"),
        blank=True,
        help_text=_(
            "The e-mail body or the SMS text. May use {{ first_name }}, "
            "{{ last_name }}, {{ full_name }} and {{ unsubscribe_url }}; every "
            "message carries an unsubscribe link even without it."
        ),
    )

    status = models.CharField(
        _("status"), max_length=10, choices=Status, default=Status.DRAFT
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    # The last analysis: who ran it, when, what it found.
    analysed_at = models.DateTimeField(_("analysed"), null=True, blank=True)
    analysed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("analysed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    analysis_seconds = models.FloatField(null=True, blank=True)
    # Set while an analysis waits for or runs in a Celery worker; the
    # analysis clears it.
    analysis_queued_at = models.DateTimeField(
        _("analysis queued"), null=True, blank=True, editable=False
    )
    target_count = models.PositiveIntegerField(_("target"), null=True, blank=True)
    to_send_count = models.PositiveIntegerField(_("to send"), null=True, blank=True)
    # Exclusion key -> number of profiles; every key, zeros included.
    excluded_counts = models.JSONField(default=dict, blank=True)

    send_started_at = models.DateTimeField(_("sending started"), null=True, blank=True)
    send_started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sent by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # Kept up to date by each batch so no page counts the recipients.
    sent_count = models.PositiveIntegerField(_("sent"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped at send time"), default=0)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_analysed(self) -> bool:
        return self.analysed_at is not None and self.target_count is not None


class Recipient(models.Model):
    """One target profile of a delivery's last analysis.

    Excluded profiles keep their reason (status "excluded"); the others are
    the recipients and carry their send state. Rows are written set-based by
    delivery.analysis and changed only by delivery.sending.
    """

    class Status(models.TextChoices):
        EXCLUDED = "excluded", _("Excluded at analysis")
        PENDING = "pending", _("Waiting to be sent")
        # Reserved by a batch; nothing was attempted yet.
        CLAIMED = "claimed", _("Reserved by a batch")
        # Handed to the backend; the outcome is not recorded yet.
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped at send time")

    # No foreign key constraint in the database on either side. The rows
    # are written only by the analysis's INSERT ... SELECT, which takes both
    # ids from their tables in the same statement; a constraint would check
    # a million rows one trigger call at a time and lock every profile row
    # it checks (FOR KEY SHARE), which made the analysis of a million
    # profiles twice as slow. Deleting a profile or a delivery still deletes
    # its rows: Django cascades on_delete itself.
    delivery = models.ForeignKey(
        Delivery,
        on_delete=models.CASCADE,
        related_name="recipients",
        db_constraint=False,
        # recipient_report_idx starts with delivery_id and serves its lookups.
        db_index=False,
    )
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="delivery_recipients",
        db_constraint=False,
        db_index=False,
    )
    # The address as analysed: normalised, or as stored when it is invalid.
    address = models.CharField(max_length=254, blank=True)
    # Empty for a recipient; otherwise an Exclusion key.
    reason = models.CharField(max_length=20, choices=Exclusion, blank=True)
    status = models.CharField(max_length=10, choices=Status)
    skip_reason = models.CharField(max_length=20, choices=LateExclusion, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        indexes = [
            # Report: excluded profiles of one reason, in id order, a page at
            # a time; the count per reason after analysis; the batch plan
            # and batch claims of sending (reason '' and an id range); the
            # delete that replaces a previous analysis.
            models.Index(
                fields=["delivery", "reason", "id"], name="recipient_report_idx"
            ),
            # Profile page: the profile's delivery history, newest first.
            models.Index(fields=["profile", "delivery"], name="recipient_profile_idx"),
            # Report: the failed and the skipped recipients of a delivery, a
            # page at a time. Partial, so the analysis, which writes only
            # pending and excluded rows, never pays for it.
            models.Index(
                fields=["delivery", "status", "id"],
                name="recipient_trouble_idx",
                condition=models.Q(status__in=["failed", "skipped"]),
            ),
        ]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} × profile {self.profile_id}"


class DeliveryEvent(models.Model):
    """What happened to a delivery, when, and which operator did it."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        CHANGED = "changed", _("Changed")
        ANALYSED = "analysed", _("Analysed")
        SEND_STARTED = "send_started", _("Sending started")
        SENT = "sent", _("Sent")

    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="events"
    )
    action = models.CharField(max_length=20, choices=Action)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Counts and names of changed fields; never addresses.
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.created_at:%Y-%m-%d %H:%M})"
