"""Forms of the quarantine admin views, also used to check command options."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from delivery.quarantine.models import Reason

MOMENT_HELP = _("YYYY-MM-DD, or YYYY-MM-DD HH:MM; in the console's time zone.")


def parse_moment(text: str, *, end_of_day: bool = False) -> datetime:
    """Read a date or a date and time; raise ValueError when it is neither.

    A bare date means the start of that day, or its last moment when
    `end_of_day`, so that "until 2026-03-02" includes the whole day.
    """
    text = (text or "").strip()
    try:
        # A bare date first: parse_datetime would read it as midnight.
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:
        raise ValueError(text) from None
    if day is not None:
        moment = datetime.combine(day, time.min)
        if end_of_day:
            moment += timedelta(days=1) - timedelta(microseconds=1)
    elif moment is None:
        raise ValueError(text)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class MomentField(forms.CharField):
    def __init__(self, *, end_of_day: bool = False, **kwargs):
        self.end_of_day = end_of_day
        kwargs.setdefault("help_text", MOMENT_HELP)
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return parse_moment(value, end_of_day=self.end_of_day)
        except ValueError:
            raise forms.ValidationError(
                _("%(value)s is not a date (YYYY-MM-DD) or a date and time."),
                code="invalid",
                params={"value": value[:40]},
            ) from None


class OutageReleaseForm(forms.Form):
    """Which addresses a provider outage put in quarantine or with errors."""

    domain = forms.CharField(
        label=_("domain"),
        required=False,
        max_length=254,
        help_text=_("For example gmail.com; empty for every domain."),
    )
    reason = forms.ChoiceField(
        label=_("reason"),
        required=False,
        choices=[("", _("any reason")), *Reason.choices],
    )
    since = MomentField(label=_("last error from"))
    until = MomentField(label=_("last error until"), end_of_day=True)
    note = forms.CharField(
        label=_("note"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why, for the history; for example the provider's incident."),
    )

    def clean_domain(self) -> str:
        domain = self.cleaned_data["domain"].strip().lower().lstrip("@")
        if domain and (" " in domain or "." not in domain or "@" in domain):
            raise forms.ValidationError(
                _("Enter a domain such as example.com."), code="invalid"
            )
        return domain

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", _("The end comes before the start."))
        return cleaned


class NoteForm(forms.Form):
    """Why an operator acts, kept in the history."""

    note = forms.CharField(
        label=_("why"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class OptionalNoteForm(forms.Form):
    note = forms.CharField(
        label=_("note"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
