from io import StringIO

from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from consent.models import ConsentEvent, Profile, Subscription
from delivery.models import Delivery
from delivery.quarantine.models import Address


def test_seed_demo_loads_profiles_with_opt_outs_recorded_in_the_ledger(db):
    call_command("seed_demo", "--profiles", "400", stdout=StringIO())

    assert Profile.objects.count() == 400
    opted_out = Profile.objects.filter(no_longer_contact=True).count()
    assert 0 < opted_out < 40
    assert (
        ConsentEvent.objects.filter(action="opt_out", channel="").count() == opted_out
    )
    assert Subscription.objects.filter(status="subscribed").exists()
    assert 0 < Address.objects.filter(status="quarantined").count() <= 200
    delivery = Delivery.objects.get()
    assert delivery.status == "analysed"
    assert delivery.excluded_counts["quarantined"] >= 1


def test_seed_demo_if_empty_keeps_existing_data(db):
    call_command("seed_demo", "--profiles", "20", stdout=StringIO())
    out = StringIO()

    call_command("seed_demo", "--if-empty", stdout=out)

    assert Profile.objects.count() == 20
    assert "keeping it" in out.getvalue()


def test_demo_operator_prints_a_new_working_password_each_time(db):
    first, second = StringIO(), StringIO()

    call_command("demo_operator", stdout=first)
    call_command("demo_operator", stdout=second)

    def password(output: StringIO) -> str:
        line = next(x for x in output.getvalue().splitlines() if "Password" in x)
        return line.split()[1]

    assert password(first) != password(second)
    assert authenticate(username="operator", password=password(first)) is None
    user = authenticate(username="operator", password=password(second))
    assert user is not None and user.is_staff
    assert user.has_perm("consent.change_consent")
    assert get_user_model().objects.filter(username="operator").count() == 1
    assert "http://127.0.0.1:8000/admin/" in second.getvalue()
