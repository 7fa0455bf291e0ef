"""The operator groups, kept in step with the permissions they grant.

"Consent operators" may change consent, services, quarantine and
deliveries; "Consent viewers" may only look. Nobody but a superuser deletes a
profile, and nobody changes or deletes consent events.
"""

from django.contrib.auth.models import Group, Permission

OPERATORS = "Consent operators"
VIEWERS = "Consent viewers"

# app label -> model -> what operators may do beyond viewing.
_OPERATOR_RIGHTS = {
    "consent": {
        "profile": ["add", "change", "consent"],
        "consentevent": [],
        "service": ["add", "change"],
        "subscription": ["change"],
    },
    "quarantine": {
        "address": ["add", "change"],
        "statuschange": [],
        "bounce": ["change"],
    },
    "delivery": {
        "delivery": ["add", "change"],
    },
}


def _codenames(with_changes: bool) -> dict[str, list[str]]:
    by_app: dict[str, list[str]] = {}
    for app_label, models in _OPERATOR_RIGHTS.items():
        codes = by_app.setdefault(app_label, [])
        for model, rights in models.items():
            codes.append(f"view_{model}")
            if not with_changes:
                continue
            for right in rights:
                codes.append(
                    "change_consent" if right == "consent" else f"{right}_{model}"
                )
    return by_app


def _permissions(by_app: dict[str, list[str]]) -> list[Permission]:
    found = []
    for app_label, codenames in by_app.items():
        found.extend(
            Permission.objects.filter(
                content_type__app_label=app_label, codename__in=codenames
            )
        )
    return found


def sync_operator_groups(**kwargs) -> None:
    """Create both groups and give them exactly their permissions.

    Runs after every migrate, so a permission added by a new model reaches
    the groups without a manual step.
    """
    for name, with_changes in ((OPERATORS, True), (VIEWERS, False)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(_codenames(with_changes)))
