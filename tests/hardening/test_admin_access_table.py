"""Who may open which admin page and run which admin action.

The table below is the policy. Every model registered in the admin is
visited (admin.site._registry), so a model added later is covered as soon
as it is registered: the table pins what is known, and for a model it does
not list the general rules still hold (anonymous visitors reach nothing,
viewers change nothing, operators delete nothing). Every forbidden request
must leave the database exactly as it was.
"""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, reverse

from tests.hardening.rights_support import person_with_history

ROLES = ("superuser", "operator", "viewer", "anonymous")
ALL, EDIT, READ, NONE = "vacd", "vac", "v", ""

# model label -> what each role may do: v(iew), a(dd), c(hange), d(elete).
POLICY = {
    "auth.group": {"superuser": ALL, "operator": NONE, "viewer": NONE},
    "auth.user": {"superuser": ALL, "operator": NONE, "viewer": NONE},
    "consent.profile": {"superuser": ALL, "operator": EDIT, "viewer": READ},
    # The ledger is never changed, by anyone.
    "consent.consentevent": {"superuser": READ, "operator": READ, "viewer": READ},
    "consent.service": {"superuser": ALL, "operator": EDIT, "viewer": READ},
    # Subscriptions change through actions on profiles, not by editing.
    "consent.subscription": {"superuser": READ, "operator": READ, "viewer": READ},
    "delivery.delivery": {"superuser": ALL, "operator": EDIT, "viewer": READ},
    # An address is released, not deleted: its history stays.
    "quarantine.address": {"superuser": EDIT, "operator": EDIT, "viewer": READ},
    "quarantine.bounce": {"superuser": READ, "operator": READ, "viewer": READ},
    "quarantine.statuschange": {"superuser": READ, "operator": READ, "viewer": READ},
}
STANDARD_VIEWS = {"changelist", "add", "change", "delete", "history", "autocomplete"}


@pytest.fixture
def world(db, settings, superuser, consent_operator, consent_viewer) -> dict:
    """A row in every table, and a browser for each role."""
    person_with_history(settings)
    browsers = {"anonymous": Client(raise_request_exception=False)}
    for role, user in (
        ("superuser", superuser),
        ("operator", consent_operator),
        ("viewer", consent_viewer),
    ):
        browsers[role] = Client(raise_request_exception=False)
        browsers[role].force_login(user)
    return browsers


def registered() -> list:
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def snapshot() -> dict:
    """Every row of every model in the admin, and of the user model."""
    models = {model for model, _ in registered()} | {get_user_model()}
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in models
    }


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def an_instance(model):
    instance = model.objects.order_by("pk").first()
    assert instance is not None, (
        f"{model._meta.label} has no row: add one to person_with_history so "
        "the access table can open its pages"
    )
    return instance


def expected(label: str, role: str, right: str) -> bool | None:
    """Whether the role has the right on the model; None when not pinned."""
    if role == "anonymous":
        return False
    if label in POLICY:
        return right in POLICY[label][role]
    # General rules for a model the table does not list yet.
    if role == "viewer" and right != "v":
        return False
    if role == "operator" and right == "d":
        return False
    return None


def page_status(role: str, allowed: bool | None, status: int) -> str | None:
    """What is wrong with an answer, or None."""
    if status >= 500:
        return f"{status}"
    if role == "anonymous":
        return None if status == 302 else f"{status}, not the login redirect"
    if allowed is None:
        return None
    if allowed and status == 403:
        return "403 though allowed"
    if not allowed and status != 403:
        return f"{status} though forbidden"
    return None


def test_the_pages_of_every_model_answer_each_role_as_the_table_says(world):
    before = snapshot()
    wrong = []

    for model, _model_admin in registered():
        label = model._meta.label_lower
        pk = an_instance(model).pk
        for role in ROLES:
            browser = world[role]
            requests = [
                ("list", "v", browser.get(url(model, "changelist"))),
                ("add page", "a", browser.get(url(model, "add"))),
                ("add post", "a", browser.post(url(model, "add"), {})),
                ("change page", "v", browser.get(url(model, "change", pk))),
                ("change post", "c", browser.post(url(model, "change", pk), {})),
                ("history", "v", browser.get(url(model, "history", pk))),
                ("delete page", "d", browser.get(url(model, "delete", pk))),
            ]
            for kind, right, response in requests:
                allowed = expected(label, role, right)
                problem = page_status(role, allowed, response.status_code)
                if problem:
                    wrong.append(f"{label} {kind} as {role}: {problem}")

    assert wrong == []
    # Empty forms are refused, so even the allowed posts changed nothing.
    assert snapshot() == before


@pytest.mark.parametrize("role", ["operator", "viewer", "anonymous"])
def test_a_forbidden_delete_deletes_nothing(world, role):
    before = snapshot()
    wrong = []

    for model, _model_admin in registered():
        label = model._meta.label_lower
        if expected(label, role, "d"):
            continue
        pk = an_instance(model).pk
        response = world[role].post(url(model, "delete", pk), {"post": "yes"})
        if response.status_code not in (302, 403):
            wrong.append(f"{label}: {response.status_code}")

    assert wrong == []
    assert snapshot() == before


def test_the_ledger_cannot_be_changed_even_by_a_superuser(world):
    from consent.models import ConsentEvent

    event = ConsentEvent.objects.order_by("pk").first()
    browser = world["superuser"]
    before = snapshot()

    responses = [
        browser.post(url(ConsentEvent, "change", event.pk), {"note": "rewritten"}),
        browser.post(url(ConsentEvent, "delete", event.pk), {"post": "yes"}),
        browser.post(
            url(ConsentEvent, "changelist"),
            {
                "action": "delete_selected",
                "_selected_action": [str(event.pk)],
                "post": "yes",
                "index": "0",
            },
        ),
    ]

    assert [r.status_code for r in responses[:2]] == [403, 403]
    assert responses[2].status_code in (200, 302)
    assert snapshot() == before


def every_action() -> list[tuple]:
    """(model, action name) for every action any user could be offered."""
    found = []
    for model, model_admin in registered():
        for name in model_admin._get_base_actions():
            found.append((model, name[1]))
    return found


def offered(browser: Client, model) -> set[str]:
    page = browser.get(url(model, "changelist")).content.decode()
    return set(re.findall(r'<option value="([a-z_]+)"', page))


@pytest.mark.parametrize("role", ["viewer", "anonymous"])
def test_no_admin_action_changes_anything_for_a_viewer_or_a_visitor(world, role):
    before = snapshot()
    wrong = []

    for model, action in every_action():
        pk = an_instance(model).pk
        response = world[role].post(
            url(model, "changelist"),
            {
                "action": action,
                "_selected_action": [str(pk)],
                "index": "0",
                "post": "yes",
                "confirm": "erase",
                "apply": "1",
                "channel": "email",
            },
        )
        if response.status_code >= 500:
            wrong.append(f"{model._meta.label_lower} {action}: {response.status_code}")
        if role == "viewer" and action in offered(world[role], model):
            wrong.append(f"{model._meta.label_lower} {action}: offered to a viewer")

    assert wrong == []
    assert snapshot() == before


def test_an_operator_is_offered_no_deletion_and_runs_every_other_action(world):
    wrong = []

    for model, action in every_action():
        label = model._meta.label_lower
        can = action in offered(world["operator"], model)
        if action == "delete_selected" and can:
            wrong.append(f"{label}: delete_selected offered to an operator")
        if action == "erase_personal_data" and can:
            wrong.append(f"{label}: erasure offered to an operator")
        if not can:
            continue
        response = world["operator"].post(
            url(model, "changelist"),
            {
                "action": action,
                "_selected_action": [str(an_instance(model).pk)],
                "index": "0",
            },
        )
        if response.status_code >= 500:
            wrong.append(f"{label} {action}: {response.status_code}")

    assert wrong == []


def models_by_name() -> dict:
    return {model._meta.model_name: model for model, _ in registered()}


def extra_pages(model, model_admin) -> list[str]:
    """The model admin's own pages beyond Django's standard ones."""
    opts = model._meta
    pages = []
    for pattern in model_admin.get_urls():
        if not isinstance(pattern, URLPattern) or not pattern.name:
            continue
        view = pattern.name.removeprefix(f"{opts.app_label}_{opts.model_name}_")
        if view in STANDARD_VIEWS or view == pattern.name and "_" not in view:
            continue
        kwargs = {}
        for name in pattern.pattern.converters:
            if name == "object_id":
                kwargs[name] = an_instance(model).pk
            elif name.endswith("_id"):
                # profile_id, bounce_id: a row of the model it names.
                named = models_by_name().get(name.removesuffix("_id"), model)
                kwargs[name] = an_instance(named).pk
            else:
                kwargs[name] = "duplicate"
        pages.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))
    return pages


def test_the_admins_own_pages_refuse_a_visitor_and_change_nothing_for_a_viewer(
    world,
):
    before = snapshot()
    wrong = []
    pages = [p for m, ma in registered() for p in extra_pages(m, ma)]

    for page in pages:
        for role in ("anonymous", "viewer"):
            for response in (world[role].get(page), world[role].post(page, {})):
                if response.status_code >= 500:
                    wrong.append(f"{page} as {role}: {response.status_code}")
                if role == "anonymous" and response.status_code != 302:
                    wrong.append(f"{page} as anonymous: {response.status_code}")
        for role in ("operator", "superuser"):
            status = world[role].get(page).status_code
            if status >= 500:
                wrong.append(f"GET {page} as {role}: {status}")

    assert pages, "the admin has pages of its own; none were found"
    assert wrong == []
    assert snapshot() == before
