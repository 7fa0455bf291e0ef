"""Forms of the public landing pages.

Labels and messages are translated when the form is built, in the language
of the page, which is the person's own.
"""

import time

from crispy_bootstrap5.bootstrap5 import Switch
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Field, Fieldset, Layout, Submit
from django import forms
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.html import format_html
from django.utils.translation import gettext as _

from consent.addresses import MAX_EMAIL_LENGTH, normalize_email
from consent.models import OPT_OUT_FIELDS, Channel, Profile, Service, Subscription

# A person needs a few seconds to read the form and type an address; a bot
# posts at once. A form older than a day is refused too, so a harvested
# copy of the page cannot be replayed for ever.
MIN_FILL_SECONDS = 3
MAX_FILL_SECONDS = 24 * 60 * 60

_STARTED_SALT = "consent.forms.started"


def form_started_token(at: float | None = None) -> str:
    """Sign the moment a form was served, for the minimum fill time check."""
    moment = int(time.time() if at is None else at)
    return signing.Signer(salt=_STARTED_SALT).sign(str(moment))


def seconds_since_started(token: str) -> float | None:
    """How long ago the form was served, or None if the token is not ours."""
    if not token or len(token) > 100:
        return None
    try:
        moment = int(signing.Signer(salt=_STARTED_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None
    return time.time() - moment


def consent_wording(service: Service) -> str:
    """What a person agrees to when subscribing, in the active language."""
    if service.consent_wording:
        return service.consent_wording
    if service.channel == Channel.EMAIL:
        return _(
            "I want to receive %(service)s by e-mail. I can unsubscribe at any "
            "time with the link in every message."
        ) % {"service": service.label}
    return _("I want to receive %(service)s. I can unsubscribe at any time.") % {
        "service": service.label
    }


class SubscribeForm(forms.Form):
    email = forms.CharField(
        max_length=MAX_EMAIL_LENGTH,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    first_name = forms.CharField(
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
    )
    last_name = forms.CharField(
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
    )
    agree = forms.BooleanField()
    # A trap for bots: hidden from people and from screen readers, so only
    # a program filling every field it finds puts anything in it.
    website = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )
    started = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, service: Service, **kwargs):
        super().__init__(*args, **kwargs)
        self.service = service
        self.wording = consent_wording(service)
        self.suspected_bot = False
        if not self.is_bound:
            self.initial["started"] = form_started_token()

        fields = self.fields
        fields["email"].label = _("E-mail address")
        fields["email"].error_messages["required"] = _("Enter your e-mail address.")
        fields["email"].error_messages["max_length"] = _(
            "An e-mail address has at most %(limit_value)d characters."
        )
        fields["first_name"].label = _("First name (optional)")
        fields["last_name"].label = _("Last name (optional)")
        for name in ("first_name", "last_name"):
            fields[name].error_messages["max_length"] = _(
                "Use at most %(limit_value)d characters."
            )
        fields["agree"].label = self.wording
        fields["agree"].error_messages["required"] = _(
            "Tick the box to agree; without it we cannot subscribe you."
        )
        fields["website"].label = _("Leave this field empty")

        self.helper = FormHelper()
        self.helper.form_method = "post"
        self.helper.form_class = "card card-body shadow-sm"
        self.helper.layout = Layout(
            Field("email"),
            Div(
                Div(Field("first_name"), css_class="col-sm-6"),
                Div(Field("last_name"), css_class="col-sm-6"),
                css_class="row",
            ),
            Field("agree"),
            Div("website", css_class="visually-hidden", aria_hidden="true"),
            Field("started"),
            Submit("subscribe", _("Subscribe"), css_class="btn-lg w-100 mt-2"),
        )

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except ValidationError:
            # The validator's own reason is in English; say it plainly in
            # the person's language instead.
            raise ValidationError(
                _("Enter a valid e-mail address, such as name@example.com."),
                code="invalid",
            ) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("website"):
            self.suspected_bot = True
        age = seconds_since_started(self.data.get("started", ""))
        if age is None or age > MAX_FILL_SECONDS:
            # Serve a fresh start time, so the next submit can pass.
            self.data = self.data.copy()
            self.data["started"] = form_started_token()
            raise ValidationError(
                _("This form has expired. Please check it and send it again."),
                code="expired",
            )
        if age < MIN_FILL_SECONDS:
            raise ValidationError(
                _("That was very fast. Please check the form and send it again."),
                code="too_fast",
            )
        return cleaned


def channel_phrase(channel: str) -> str:
    """The channel as it reads after "by": by e-mail, by SMS, by post."""
    phrases = {
        Channel.EMAIL: _("e-mail"),
        Channel.SMS: _("SMS"),
        Channel.PHONE: _("phone"),
        Channel.DIRECT_MAIL: _("post"),
        Channel.PUSH: _("push notification"),
    }
    return phrases[channel]


def channel_wording(channel: str) -> str:
    labels = {
        Channel.EMAIL: _("You may contact me by e-mail"),
        Channel.SMS: _("You may contact me by SMS"),
        Channel.PHONE: _("You may call me by phone"),
        Channel.DIRECT_MAIL: _("You may send me post"),
        Channel.PUSH: _("You may send me push notifications"),
    }
    return labels[channel]


def service_wording(service: Service) -> str:
    return _("Send me %(service)s") % {"service": service.label}


def stop_all_wording() -> str:
    return _("Do not contact me at all, on any channel")


class PreferencesForm(forms.Form):
    """Every channel and service of one person, each a switch.

    Fields are named channel_<channel> and service_<id>; a switch that is on
    means the channel may be used, or the service is wanted.
    """

    def __init__(
        self,
        *args,
        profile: Profile,
        services: list[Service],
        subscriptions: dict[int, Subscription],
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.profile = profile
        self.services = services
        self.subscriptions = subscriptions

        channel_fields = []
        for channel in Channel.values:
            name = f"channel_{channel}"
            self.fields[name] = forms.BooleanField(
                label=channel_wording(channel),
                required=False,
                initial=not getattr(profile, OPT_OUT_FIELDS[channel]),
            )
            channel_fields.append(Switch(name))

        service_fields = []
        for service in services:
            name = f"service_{service.pk}"
            subscription = subscriptions.get(service.pk)
            status = subscription.status if subscription else None
            help_text = service.description
            if status == Subscription.Status.PENDING:
                help_text = " ".join(
                    filter(None, [help_text, _("Waiting for your confirmation.")])
                )
            self.fields[name] = forms.BooleanField(
                label=service_wording(service),
                required=False,
                initial=status
                in (Subscription.Status.SUBSCRIBED, Subscription.Status.PENDING),
                help_text=help_text,
            )
            service_fields.append(Switch(name))

        self.fields["no_longer_contact"] = forms.BooleanField(
            label=stop_all_wording(),
            required=False,
            initial=profile.no_longer_contact,
            help_text=_("This stops every message and call, whatever is chosen above."),
        )

        layout = [Fieldset(_("How we may contact you"), *channel_fields)]
        if service_fields:
            layout.append(Fieldset(_("What you receive"), *service_fields))
        else:
            layout.append(
                HTML(
                    format_html(
                        '<p class="text-body-secondary">{}</p>',
                        _("There is nothing to subscribe to at the moment."),
                    )
                )
            )
        layout.append(Fieldset(_("Or stop everything"), Field("no_longer_contact")))
        layout.append(Submit("save", _("Save my preferences"), css_class="btn-lg"))

        self.helper = FormHelper()
        self.helper.form_method = "post"
        self.helper.form_class = "card card-body shadow-sm"
        self.helper.layout = Layout(*layout)

    def channel_choices(self) -> dict[str, bool]:
        """Each channel and whether it may be used, as submitted."""
        return {
            channel: self.cleaned_data[f"channel_{channel}"]
            for channel in Channel.values
        }

    def service_choices(self) -> dict[Service, bool]:
        """Each service shown and whether it is wanted, as submitted."""
        return {
            service: self.cleaned_data[f"service_{service.pk}"]
            for service in self.services
        }
