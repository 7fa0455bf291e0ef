"""Form data as a browser posts it, for the pages these tests drive."""

from consent.models import OPT_OUT_FIELDS, Profile

CONSENT_FIELDS = ("no_longer_contact", *OPT_OUT_FIELDS.values())


def profile_form_data(profile: Profile, **changes) -> dict:
    """The admin's profile change form, with some fields changed.

    A consent field given True is ticked and False unticked; other values
    are posted as given.
    """
    data = {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "language": profile.language,
        "email": profile.email,
        "mobile_phone": profile.mobile_phone,
        "postal_address": profile.postal_address,
        "external_id": profile.external_id or "",
        "consent_note": "",
    }
    for field in CONSENT_FIELDS:
        if getattr(profile, field):
            data[field] = "on"
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = "on" if value is True else value
    return data
