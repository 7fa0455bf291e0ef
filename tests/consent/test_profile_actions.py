from consent.actions import Origin, bulk_set_opt_out, record_opt_in, record_opt_out
from consent.models import ConsentEvent, Profile

OPERATOR_ORIGIN = Origin(source=ConsentEvent.Source.OPERATOR, note="asked by phone")


def test_opting_out_of_one_channel_sets_the_flag_and_writes_one_event(make_profile):
    profile = make_profile(email="ana@example.com")

    changed = record_opt_out(profile=profile, channel="email", origin=OPERATOR_ORIGIN)

    profile.refresh_from_db()
    assert changed is True
    assert profile.email_opt_out is True
    assert profile.no_longer_contact is False
    event = ConsentEvent.objects.get(profile=profile)
    assert (event.action, event.channel, event.source, event.note) == (
        "opt_out",
        "email",
        "operator",
        "asked by phone",
    )


def test_no_longer_contact_is_recorded_without_a_channel(make_profile):
    profile = make_profile()

    record_opt_out(profile=profile, origin=OPERATOR_ORIGIN)

    profile.refresh_from_db()
    assert profile.no_longer_contact is True
    assert ConsentEvent.objects.get(profile=profile).channel == ""


def test_repeating_an_opt_out_changes_nothing_and_writes_no_second_event(
    make_profile,
):
    profile = make_profile()
    record_opt_out(profile=profile, channel="sms", origin=OPERATOR_ORIGIN)

    changed = record_opt_out(profile=profile, channel="sms", origin=OPERATOR_ORIGIN)

    assert changed is False
    assert ConsentEvent.objects.filter(profile=profile).count() == 1


def test_opting_back_in_lifts_the_flag_and_is_in_the_ledger(make_profile):
    profile = make_profile(push_opt_out=True)

    record_opt_in(profile=profile, channel="push", origin=OPERATOR_ORIGIN)

    profile.refresh_from_db()
    assert profile.push_opt_out is False
    assert list(
        ConsentEvent.objects.filter(profile=profile).values_list("action", "channel")
    ) == [("opt_in", "push")]


def test_a_stale_instance_does_not_hide_a_change_made_elsewhere(make_profile):
    profile = make_profile()
    stale = Profile.objects.get(pk=profile.pk)
    record_opt_out(profile=profile, channel="email", origin=OPERATOR_ORIGIN)

    # The stale copy still says False, but the database decides.
    changed = record_opt_out(profile=stale, channel="email", origin=OPERATOR_ORIGIN)

    assert changed is False
    assert ConsentEvent.objects.filter(profile=profile).count() == 1


def test_bulk_opt_out_writes_one_event_per_changed_profile_only(make_profile):
    already = make_profile(no_longer_contact=True)
    others = [make_profile() for _ in range(3)]

    changed = bulk_set_opt_out(
        profiles=Profile.objects.all(),
        channel=None,
        opted_out=True,
        origin=OPERATOR_ORIGIN,
    )

    assert changed == 3
    assert Profile.objects.filter(no_longer_contact=True).count() == 4
    assert set(ConsentEvent.objects.values_list("profile_id", flat=True)) == {
        p.pk for p in others
    }
    assert not ConsentEvent.objects.filter(profile=already).exists()


def test_ledger_rows_cannot_be_changed_or_deleted_through_the_model(make_profile):
    profile = make_profile()
    record_opt_out(profile=profile, channel="email", origin=OPERATOR_ORIGIN)
    event = ConsentEvent.objects.get()

    event.note = "rewritten"
    for attempt in (event.save, event.delete):
        try:
            attempt()
        except ValueError:
            pass
        else:
            raise AssertionError(f"{attempt.__name__} was allowed")

    assert ConsentEvent.objects.get().note == "asked by phone"
