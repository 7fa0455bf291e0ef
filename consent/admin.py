from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from consent import actions, admin_rights, panels, rights, selectors
from consent.addresses import normalize_email, normalize_phone
from consent.forms_admin import CONSENT_FIELDS, ConsentChangeForm, ProfileAdminForm
from consent.models import OPT_OUT_FIELDS, Channel, ConsentEvent, Profile

# Each consent field's channel; "no_longer_contact" maps to None: everything.
CHANNEL_OF_FIELD = {field: channel for channel, field in OPT_OUT_FIELDS.items()}

# Above this many rows an unfiltered changelist shows PostgreSQL's estimate
# instead of counting every row.
ESTIMATE_ABOVE = 100_000


class EstimatedCountPaginator(Paginator):
    """Avoid a full COUNT(*) of a large, unfiltered table on PostgreSQL."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and not queryset.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


def _origin(request: HttpRequest, note: str = "") -> actions.Origin:
    return actions.Origin(
        source=ConsentEvent.Source.OPERATOR, operator=request.user, note=note
    )


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileAdminForm
    change_form_template = "admin/consent/profile/change_form.html"
    list_display = ["id", "full_name", "consent", "email", "mobile_phone", "language"]
    list_display_links = ["id", "full_name"]
    list_filter = [
        "no_longer_contact",
        "email_opt_out",
        "sms_opt_out",
        "phone_opt_out",
        "direct_mail_opt_out",
        "push_opt_out",
        "language",
    ]
    # The real search is get_search_results; this only shows the search box.
    search_fields = ["email"]
    search_help_text = _(
        "An exact e-mail address, a phone number, a last name, "
        "a first and last name, or an external id."
    )
    ordering = ["-id"]
    list_per_page = 50
    show_full_result_count = False
    # Filter counts would scan the whole table on every click.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    readonly_fields = ["public_id", "created_at", "updated_at"]
    actions = [
        "opt_out_of_everything",
        "opt_out_of_channel",
        "opt_back_in",
        # Site actions of consent.admin_services, offered only here.
        "subscribe_to_service",
        "unsubscribe_from_service",
        # Data-rights requests (consent.admin_rights).
        admin_rights.export_personal_data,
        admin_rights.erase_personal_data,
    ]

    class Media:
        css = {"all": ["campaign/admin.css"]}

    @admin.display(description=_("name"), ordering="last_name")
    def full_name(self, profile: Profile) -> str:
        return f"{profile.first_name} {profile.last_name}".strip() or "—"

    @admin.display(description=_("consent"))
    def consent(self, profile: Profile) -> str:
        if profile.no_longer_contact:
            return format_html(
                '<span class="consent-badge consent-stop">{}</span>',
                _("No longer contact"),
            )
        refused = [
            label
            for channel, label in Channel.choices
            if getattr(profile, OPT_OUT_FIELDS[channel])
        ]
        if not refused:
            return format_html(
                '<span class="consent-badge consent-ok">{}</span>', _("Contactable")
            )
        return format_html_join(
            " ",
            '<span class="consent-badge consent-out">{} ✕</span>',
            ((label,) for label in refused),
        )

    def get_search_results(self, request, queryset, search_term):
        """Search by exact, indexed keys only, so it stays fast on 1M rows."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            try:
                return queryset.filter(email=normalize_email(term)), False
            except ValidationError:
                return queryset.none(), False
        if any(ch.isdigit() for ch in term):
            found = Q(external_id=term)
            try:
                found |= Q(mobile_phone=normalize_phone(term))
            except ValidationError:
                pass
            return queryset.filter(found), False
        first, _sep, last = term.rpartition(" ")
        by_name = Q(last_name__iexact=term)
        if first:
            by_name |= Q(last_name__iexact=last, first_name__iexact=first)
        return queryset.filter(by_name), False

    def get_fieldsets(self, request, obj=None):
        consent_fields = list(CONSENT_FIELDS)
        if self.has_consent_permission(request):
            consent_fields.append("consent_note")
        fieldsets = [
            (None, {"fields": ["first_name", "last_name", "language"]}),
            (_("Addresses"), {"fields": ["email", "mobile_phone", "postal_address"]}),
            (_("Consent"), {"fields": consent_fields}),
            (
                _("Record"),
                {
                    "fields": ["external_id", "public_id", "created_at", "updated_at"],
                    "classes": ["collapse"],
                },
            ),
        ]
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = list(self.readonly_fields)
        if not self.has_consent_permission(request):
            readonly.extend(CONSENT_FIELDS)
        return readonly

    def has_consent_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("consent.change_consent")

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_superuser

    # Deleting a person is erasing them: the ledger keeps anonymised rows
    # and a row saying the erasure happened (consent.rights).
    def delete_model(self, request, obj):
        rights.erase_profile(
            profile=obj, operator=request.user, note="Deleted in the admin."
        )

    def delete_queryset(self, request, queryset):
        for profile in queryset.order_by("pk"):
            self.delete_model(request, profile)

    def save_model(self, request, obj, form, change):
        """Save the person's details; route consent through the actions.

        Consent fields are never written by this save: each change goes
        through consent.actions so it locks the row and writes the ledger.
        """
        wanted = {
            field: form.cleaned_data[field]
            for field in CONSENT_FIELDS
            if field in form.changed_data and field in form.cleaned_data
        }
        if change:
            details = [
                field
                for field in form.changed_data
                if field not in CONSENT_FIELDS and field != "consent_note"
            ]
            if details:
                obj.save(update_fields=[*details, "updated_at"])
        else:
            for field in CONSENT_FIELDS:
                setattr(obj, field, False)
            obj.save()

        origin = _origin(request, form.cleaned_data.get("consent_note", ""))
        for field, opted_out in wanted.items():
            channel = CHANNEL_OF_FIELD.get(field)
            actions.set_opt_out(
                profile=obj, channel=channel, opted_out=opted_out, origin=origin
            )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id:
            profile = self.get_object(request, object_id)
            if profile is not None:
                extra_context["shared_addresses"] = self._shared_address_warnings(
                    profile
                )
                extra_context["panels"] = [
                    {
                        **panel,
                        "html": render_to_string(
                            panel["template"],
                            {**panel["context"], "profile": profile},
                            request=request,
                        ),
                    }
                    for panel in panels.render_context(request, profile)
                ]
        return super().changeform_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _shared_address_warnings(profile: Profile) -> list[dict]:
        """Profiles sharing an address that can still be reached on it."""
        warnings = []
        checks = [
            ("email", profile.email, Channel.EMAIL, _("e-mail address")),
            ("mobile_phone", profile.mobile_phone, Channel.SMS, _("mobile phone")),
        ]
        for field, value, channel, label in checks:
            if not value:
                continue
            others = list(
                Profile.objects.filter(**{field: value})
                .exclude(pk=profile.pk)
                .filter(selectors.contactable_on(channel))
                .order_by("pk")[:6]
            )
            if others:
                warnings.append(
                    {"label": label, "others": others[:5], "more": len(others) > 5}
                )
        return warnings

    # Bulk actions. Each writes one ledger row per profile it changes.

    @admin.action(
        description=_("Opt out of everything (no longer contact)"),
        permissions=["consent"],
    )
    def opt_out_of_everything(self, request, queryset):
        changed = actions.bulk_set_opt_out(
            profiles=queryset, channel=None, opted_out=True, origin=_origin(request)
        )
        self._report(request, changed, queryset, _("opted out of everything"))

    @admin.action(description=_("Opt out of one channel…"), permissions=["consent"])
    def opt_out_of_channel(self, request, queryset):
        return self._bulk_consent_page(
            request, queryset, opted_out=True, action="opt_out_of_channel"
        )

    @admin.action(description=_("Opt back in…"), permissions=["consent"])
    def opt_back_in(self, request, queryset):
        return self._bulk_consent_page(
            request, queryset, opted_out=False, action="opt_back_in"
        )

    def _bulk_consent_page(self, request, queryset, *, opted_out: bool, action: str):
        form = ConsentChangeForm(
            request.POST if "apply" in request.POST else None,
            allow_everything=not opted_out,
        )
        if form.is_bound and form.is_valid():
            channel = form.chosen_channel()
            changed = actions.bulk_set_opt_out(
                profiles=queryset,
                channel=channel,
                opted_out=opted_out,
                origin=_origin(request, form.cleaned_data["note"]),
            )
            what = Channel(channel).label if channel else _("everything")
            verb = _("opted out of %s") if opted_out else _("opted back into %s")
            self._report(request, changed, queryset, verb % what)
            return None

        return TemplateResponse(
            request,
            "admin/consent/profile/action_page.html",
            {
                **self.admin_site.each_context(request),
                "title": _("Opt out of one channel") if opted_out else _("Opt back in"),
                "opts": self.model._meta,
                "form": form,
                "profiles": queryset[:20],
                "count": queryset.count(),
                "action": action,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    def _report(self, request, changed: int, queryset: QuerySet, what: str) -> None:
        unchanged = queryset.count() - changed
        text = ngettext(
            "%(count)d profile %(what)s.", "%(count)d profiles %(what)s.", changed
        ) % {"count": changed, "what": what}
        if unchanged:
            text += " " + ngettext(
                "%(count)d already was.", "%(count)d already were.", unchanged
            ) % {"count": unchanged}
        self.message_user(request, text, messages.SUCCESS if changed else messages.INFO)


@admin.register(ConsentEvent)
class ConsentEventAdmin(admin.ModelAdmin):
    """The ledger, read-only for everyone: no add, change or delete."""

    list_display = [
        "created_at",
        "profile_link",
        "action",
        "channel",
        "service",
        "source",
        "operator",
    ]
    list_filter = ["action", "source", "channel"]
    list_select_related = ["service", "operator"]
    search_fields = ["=profile__id"]
    search_help_text = _("A profile id.")
    show_full_result_count = False
    # Filter counts would scan the whole table on every click.
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50

    @admin.display(description=_("profile"))
    def profile_link(self, event: ConsentEvent) -> str:
        if event.profile_id is None:
            return "—"
        url = reverse("admin:consent_profile_change", args=[event.profile_id])
        return format_html('<a href="{}">#{}</a>', url, event.profile_id)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def _consent_history_panel(request: HttpRequest, profile: Profile) -> dict:
    return {"events": selectors.consent_history(profile)[:100]}


panels.register_panel(
    panels.Panel(
        key="consent_history",
        title=_("Consent history"),
        template="admin/consent/profile/_history.html",
        context=_consent_history_panel,
        order=10,
    )
)

from consent import admin_services  # noqa: E402,F401
