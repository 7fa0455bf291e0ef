import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone")
    DIRECT_MAIL = "direct_mail", _("Direct mail")
    PUSH = "push", _("Push")


# The profile field that holds each channel's opt-out.
OPT_OUT_FIELDS = {channel: f"{channel}_opt_out" for channel in Channel.values}


class Language(models.TextChoices):
    ENGLISH = "en", "English"
    PORTUGUESE_BR = "pt-br", "Português (Brasil)"


class Profile(models.Model):
    """One person, their addresses and their refusals.

    Addresses are stored normalised (see consent.addresses): e-mail trimmed
    and lower-cased, phone numbers in E.164. Opt-outs are changed only
    through consent.actions, which writes the ledger.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Unique through Meta.constraints rather than unique=True, which on
    # PostgreSQL adds a second, pattern-matching index nothing reads:
    # external ids are only ever looked up whole. NULL, not "", is "none",
    # so any number of profiles can be without one.
    external_id = models.CharField(  # noqa: DJ001
        max_length=100, null=True, blank=True
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"), max_length=10, choices=Language, default=Language.ENGLISH
    )
    email = models.CharField(_("e-mail"), max_length=254, blank=True)
    mobile_phone = models.CharField(_("mobile phone"), max_length=20, blank=True)
    postal_address = models.TextField(_("postal address"), blank=True)

    no_longer_contact = models.BooleanField(_("no longer contact"), default=False)
    email_opt_out = models.BooleanField(_("e-mail opt-out"), default=False)
    sms_opt_out = models.BooleanField(_("SMS opt-out"), default=False)
    phone_opt_out = models.BooleanField(_("phone opt-out"), default=False)
    direct_mail_opt_out = models.BooleanField(_("direct mail opt-out"), default=False)
    push_opt_out = models.BooleanField(_("push opt-out"), default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], name="profile_external_id_unique"
            ),
        ]
        indexes = [
            # Admin search by exact address, the shared-address warning, and
            # the duplicate check of delivery analysis.
            models.Index(fields=["email"], name="profile_email_idx"),
            models.Index(fields=["mobile_phone"], name="profile_phone_idx"),
            # Admin search by name, case-insensitive (iexact is UPPER() = ).
            models.Index(Upper("last_name"), name="profile_last_name_idx"),
        ]
        permissions = [("change_consent", "Can change consent")]

    def __str__(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name or 'Profile'} (#{self.pk})"

    def is_opted_out(self, channel: str) -> bool:
        return self.no_longer_contact or getattr(self, OPT_OUT_FIELDS[channel])


class Service(models.Model):
    """Something people subscribe to on one channel: a newsletter, alerts."""

    name = models.SlugField(_("name"), max_length=100, unique=True)
    label = models.CharField(_("label"), max_length=200)
    description = models.TextField(_("public description"), blank=True)
    channel = models.CharField(
        _("channel"), max_length=20, choices=Channel, default=Channel.EMAIL
    )
    is_active = models.BooleanField(_("active"), default=True)
    double_opt_in = models.BooleanField(_("double opt-in"), default=False)
    validity_days = models.PositiveIntegerField(
        _("validity in days"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Empty for unlimited; otherwise a subscription ends by itself."),
    )
    consent_wording = models.TextField(
        _("consent wording"),
        blank=True,
        help_text=_("The sentence a person agrees to when subscribing."),
    )
    confirmation_subject = models.CharField(
        _("confirmation subject"), max_length=200, blank=True
    )
    confirmation_body = models.TextField(
        _("confirmation message"),
        blank=True,
        help_text=_("Sent on a first subscription."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(validity_days__isnull=True)
                | models.Q(validity_days__gte=1),
                name="service_validity_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.name


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending confirmation")
        SUBSCRIBED = "subscribed", _("Subscribed")
        UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")

    # Both columns lead an index of Meta (subscription_unique and
    # subscription_target_idx): an index of their own would only cost
    # writes.
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="subscriptions",
        db_index=False,
    )
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="subscriptions",
        db_index=False,
    )
    status = models.CharField(max_length=20, choices=Status)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    subscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # When the last confirmation request went out, so a repeated request
    # does not flood the mailbox.
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "service"], name="subscription_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["pending", "subscribed", "unsubscribed"]
                ),
                name="subscription_status_valid",
            ),
        ]
        indexes = [
            # Delivery targets: a service's subscribed profiles.
            models.Index(fields=["service", "status"], name="subscription_target_idx"),
            # expire_subscriptions: subscriptions past their end.
            models.Index(
                fields=["status", "expires_at"], name="subscription_expiry_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} × {self.service_id}: {self.status}"


class ConsentEvent(models.Model):
    """One immutable row of the consent ledger.

    Written only by consent.actions, in the transaction of the change it
    records. Neither the application nor the admin updates or deletes it.
    """

    class Action(models.TextChoices):
        OPT_OUT = "opt_out", _("Opted out")
        OPT_IN = "opt_in", _("Opted in")
        SUBSCRIBE = "subscribe", _("Subscribed")
        SUBSCRIBE_PENDING = "subscribe_pending", _("Asked to subscribe")
        CONFIRM = "confirm", _("Confirmed subscription")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribed")
        EXPIRE = "expire", _("Subscription expired")
        ERASE = "erase", _("Personal data erased")

    class Source(models.TextChoices):
        OPERATOR = "operator", _("Operator")
        LANDING_PAGE = "landing_page", _("Landing page")
        ONE_CLICK = "one_click", _("One-click unsubscribe")
        IMPORT = "import", _("Import")
        BOUNCE = "bounce", _("Bounce")
        COMPLAINT = "complaint", _("Complaint")
        ESP_WEBHOOK = "esp_webhook", _("E-mail provider webhook")
        EXPIRY = "expiry", _("Expiry")

    # event_profile_idx (profile, -created_at) serves every lookup by
    # profile; a single-column index beside it would only cost writes.
    profile = models.ForeignKey(
        Profile,
        on_delete=models.SET_NULL,
        null=True,
        related_name="consent_events",
        db_index=False,
    )
    action = models.CharField(max_length=30, choices=Action)
    # Empty channel and service on opt-out/opt-in: "no longer contact".
    channel = models.CharField(max_length=20, choices=Channel, blank=True)
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="consent_events",
    )
    source = models.CharField(max_length=20, choices=Source)
    operator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True)
    wording = models.TextField(
        blank=True, help_text=_("What the person agreed to, as shown.")
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["-created_at", "-id"]
        indexes = [
            # Consent history on the profile page, newest first.
            models.Index(fields=["profile", "-created_at"], name="event_profile_idx"),
        ]

    def __str__(self) -> str:
        target = self.service_id and f"service {self.service_id}" or self.channel
        return f"{self.get_action_display()} {target or 'everything'}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise ValueError("Consent events are immutable once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Consent events are never deleted by the application.")
