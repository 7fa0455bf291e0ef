"""Forms the admin uses for profiles and their consent."""

from django import forms
from django.utils.translation import gettext_lazy as _

from consent.addresses import normalize_email, normalize_phone
from consent.models import Channel, Profile

CONSENT_FIELDS = (
    "no_longer_contact",
    "email_opt_out",
    "sms_opt_out",
    "phone_opt_out",
    "direct_mail_opt_out",
    "push_opt_out",
)


class ProfileAdminForm(forms.ModelForm):
    consent_note = forms.CharField(
        label=_("Note for the consent history"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why consent changed, e.g. 'asked by phone on 3 May'."),
    )

    class Meta:
        model = Profile
        fields = [
            "first_name",
            "last_name",
            "language",
            "email",
            "mobile_phone",
            "postal_address",
            "external_id",
            *CONSENT_FIELDS,
        ]

    def clean_email(self) -> str:
        value = self.cleaned_data.get("email", "")
        return normalize_email(value) if value.strip() else ""

    def clean_mobile_phone(self) -> str:
        value = self.cleaned_data.get("mobile_phone", "")
        return normalize_phone(value) if value.strip() else ""

    def clean_external_id(self) -> str | None:
        # Blank is stored as NULL so that many profiles may have none.
        return (self.cleaned_data.get("external_id") or "").strip() or None


class ConsentChangeForm(forms.Form):
    """The intermediate page of the bulk consent actions."""

    EVERYTHING = "everything"

    channel = forms.ChoiceField(label=_("Channel"))
    note = forms.CharField(
        label=_("Note for the consent history"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, allow_everything: bool, **kwargs):
        super().__init__(*args, **kwargs)
        choices = list(Channel.choices)
        if allow_everything:
            choices.insert(0, (self.EVERYTHING, _("Everything (no longer contact)")))
        self.fields["channel"].choices = choices

    def chosen_channel(self) -> str | None:
        channel = self.cleaned_data["channel"]
        return None if channel == self.EVERYTHING else channel
