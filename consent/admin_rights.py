"""Admin actions for data-rights requests: export and erase a profile.

ProfileAdmin lists them among its actions. Export needs the right to change
consent (the operators who handle requests); erasure needs the right to
delete profiles, which only superusers have, and asks for confirmation on a
page that shows what will go.
"""

import json
import logging

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from consent import rights
from consent.models import Profile

logger = logging.getLogger(__name__)

# Requests concern one person; a handful at once is the most an operator
# needs, and keeps one action from dumping the whole table.
MAX_PROFILES = 20


def _too_many(modeladmin, request: HttpRequest, queryset: QuerySet) -> bool:
    if queryset[: MAX_PROFILES + 1].count() <= MAX_PROFILES:
        return False
    modeladmin.message_user(
        request,
        _("Select at most %(max)d profiles for this action.") % {"max": MAX_PROFILES},
        messages.ERROR,
    )
    return True


@admin.action(
    description=gettext_lazy("Export personal data (JSON)"), permissions=["consent"]
)
def export_personal_data(modeladmin, request: HttpRequest, queryset: QuerySet):
    if _too_many(modeladmin, request, queryset):
        return None
    profiles = list(queryset.order_by("pk"))
    if len(profiles) == 1:
        document = rights.export_profile(profiles[0])
        filename = f"profile-{profiles[0].public_id}.json"
    else:
        document = {
            "format": rights.EXPORT_FORMAT,
            "profiles": [rights.export_profile(profile) for profile in profiles],
        }
        filename = "profiles.json"
    logger.info(
        "operator %s exported profiles %s",
        request.user.pk,
        ",".join(str(profile.pk) for profile in profiles),
    )
    response = HttpResponse(
        json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(
    description=gettext_lazy("Erase personal data (on the person's request)…"),
    permissions=["delete"],
)
def erase_personal_data(modeladmin, request: HttpRequest, queryset: QuerySet):
    if _too_many(modeladmin, request, queryset):
        return None
    profiles: list[Profile] = list(queryset.order_by("pk"))

    if request.POST.get("confirm") == "erase":
        note = request.POST.get("note", "")[:500]
        for profile in profiles:
            rights.erase_profile(profile=profile, operator=request.user, note=note)
        modeladmin.message_user(
            request,
            ngettext(
                "%(count)d profile erased; its consent history is kept "
                "without IP address and user agent.",
                "%(count)d profiles erased; their consent history is kept "
                "without IP address and user agent.",
                len(profiles),
            )
            % {"count": len(profiles)},
            messages.SUCCESS,
        )
        return None

    return TemplateResponse(
        request,
        "admin/consent/profile/erase.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": _("Erase personal data"),
            "opts": modeladmin.model._meta,
            "plans": [(profile, rights.plan_erasure(profile)) for profile in profiles],
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action": "erase_personal_data",
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )
