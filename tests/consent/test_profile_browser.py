import pytest

from consent.models import ConsentEvent

pytestmark = pytest.mark.browser


def test_operator_logs_in_opts_a_profile_out_of_email_and_sees_it_in_history(
    page, consent_operator, make_profile
):
    profile = make_profile(first_name="Ana", last_name="Silva", email="ana@example.com")

    page.goto("/admin/login/")
    page.get_by_label("Username").fill("consent-operator")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Profiles").first.click()
    page.get_by_role("searchbox").fill("ana@example.com")
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Ana Silva").click()
    page.get_by_label("E-mail opt-out").check()
    page.get_by_label("Note for the consent history").fill("Asked at the counter")
    page.get_by_role("button", name="Save and continue editing").click()

    history = page.locator("#panel-consent_history")
    history.get_by_text("Asked at the counter").wait_for()
    assert "Opted out" in history.inner_text()
    assert "E-mail" in history.inner_text()
    assert "consent-operator" in history.inner_text()
    event = ConsentEvent.objects.get(profile=profile)
    assert (event.action, event.channel, event.operator) == (
        "opt_out",
        "email",
        consent_operator,
    )
