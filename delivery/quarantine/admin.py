"""The quarantine in the admin: addresses, their bounces and their history.

Every status change made here goes through quarantine.actions, with the
operator named. History rows and bounces are never edited or deleted.
"""

import logging
from functools import cached_property, reduce
from operator import or_

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from consent import panels
from consent.addresses import normalize_address
from consent.models import Profile
from delivery.quarantine import actions
from delivery.quarantine.forms import NoteForm, OptionalNoteForm, OutageReleaseForm
from delivery.quarantine.models import (
    Address,
    AddressChannel,
    Bounce,
    Reason,
    Status,
    StatusChange,
)
from delivery.quarantine.selectors import (
    outage_addresses,
    profile_addresses,
    statuses_of,
)

logger = logging.getLogger(__name__)

OPERATOR = StatusChange.Source.OPERATOR
CHANGE_ADDRESS = "quarantine.change_address"
CHANGE_BOUNCE = "quarantine.change_bounce"


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so no page of a large list counts the table.

    Beyond CAP rows the operator narrows the list with a filter or search.
    """

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by().values("pk")[: self.CAP].count()


class DomainFilter(admin.SimpleListFilter):
    """A text box, not a list: listing every domain would scan the table."""

    title = _("domain")
    parameter_name = "domain"
    template = "admin/quarantine/domain_filter.html"

    def lookups(self, request, model_admin):
        return ()

    def has_output(self) -> bool:
        return True

    def queryset(self, request, queryset):
        value = (self.value() or "").strip().lower().lstrip("@")
        if value:
            return queryset.filter(domain=value)
        return queryset

    def choices(self, changelist):
        kept = []
        for name, value in changelist.params.items():
            if name in (self.parameter_name, "p"):
                continue
            for item in value if isinstance(value, list) else [value]:
                kept.append((name, item))
        yield {
            "value": self.value() or "",
            "kept": kept,
            "clear_url": changelist.get_query_string(remove=[self.parameter_name]),
        }


def search_addresses(queryset, term: str, field: str = ""):
    """Rows of one exact address (normalised as e-mail or phone number),
    or of one domain when the term starts with "@"; indexed lookups only."""
    prefix = f"{field}__" if field else ""
    term = term.strip()
    if term.startswith("@") and len(term) > 1:
        return queryset.filter(**{f"{prefix}domain": term[1:].lower()})
    matches = []
    for channel in AddressChannel.values:
        try:
            normalized = normalize_address(channel, term)
        except ValidationError:
            continue
        matches.append(
            Q(**{f"{prefix}channel": channel, f"{prefix}address": normalized})
        )
    if not matches:
        return queryset.none()
    return queryset.filter(reduce(or_, matches))


def _changed_message(count: int, selected: int, verb: str) -> str:
    return ngettext(
        "%(count)d of %(selected)d selected address %(verb)s.",
        "%(count)d of %(selected)d selected addresses %(verb)s.",
        selected,
    ) % {"count": count, "selected": selected, "verb": verb}


class StatusChangeInline(admin.TabularInline):
    """The address's history, read-only."""

    model = StatusChange
    extra = 0
    can_delete = False
    fields = [
        "created_at",
        "old_status",
        "new_status",
        "reason",
        "source",
        "operator",
        "note",
    ]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    verbose_name_plural = _("history of status changes")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("operator")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class AddressAddForm(forms.ModelForm):
    """Denylist or allowlist an address that may have no row yet."""

    status = forms.ChoiceField(
        label=_("status"),
        choices=[
            (Status.DENYLISTED, Status.DENYLISTED.label),
            (Status.ALLOWLISTED, Status.ALLOWLISTED.label),
        ],
    )
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    class Meta:
        model = Address
        fields = ["address", "channel"]

    def clean(self):
        cleaned = super().clean()
        channel, address = cleaned.get("channel"), cleaned.get("address")
        if channel and address:
            try:
                cleaned["address"] = normalize_address(channel, address)
            except ValidationError as exc:
                self.add_error("address", exc)
        return cleaned

    def _post_clean(self):
        # The action changes an existing row rather than adding one, so the
        # model's unique constraint must not refuse a known address here.
        self.instance.address = self.cleaned_data.get("address", "")
        self.instance.channel = self.cleaned_data.get("channel", "")


class AddressChangeForm(forms.ModelForm):
    """Change an address's status; the row's fields are read-only."""

    change_to = forms.ChoiceField(
        label=_("change status to"),
        required=False,
        choices=[
            ("", _("— keep the current status —")),
            (Status.VALID, _("valid (release)")),
            (Status.DENYLISTED, Status.DENYLISTED.label),
            (Status.ALLOWLISTED, Status.ALLOWLISTED.label),
        ],
    )
    note = forms.CharField(
        label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    class Meta:
        model = Address
        fields = []


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = [
        "address",
        "channel",
        "status",
        "reason",
        "error_count",
        "last_error_at",
        "updated_at",
    ]
    list_filter = ["status", "reason", "channel", DomainFilter]
    search_fields = ["address"]
    search_help_text = _(
        "An exact e-mail address or phone number, or @domain for a domain."
    )
    ordering = ["-id"]
    list_per_page = 50
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    actions = ["release_selected", "denylist_selected", "allowlist_selected"]
    inlines = [StatusChangeInline]
    change_list_template = "admin/quarantine/address/change_list.html"
    readonly_fields = [
        "address",
        "channel",
        "domain",
        "status",
        "reason",
        "error_count",
        "first_error_at",
        "last_error_at",
        "last_counted_error_at",
        "last_diagnostic",
        "created_at",
        "updated_at",
        "recent_bounces",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = AddressChangeForm if obj is not None else AddressAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ["address", "channel", "status", "note"]})]
        fieldsets = [
            (
                None,
                {
                    "fields": [
                        ("address", "channel", "domain"),
                        ("status", "reason"),
                        ("error_count", "last_counted_error_at"),
                        ("first_error_at", "last_error_at"),
                        "last_diagnostic",
                        ("created_at", "updated_at"),
                    ]
                },
            ),
            (_("Recent bounces"), {"fields": ["recent_bounces"]}),
        ]
        if self.has_change_permission(request, obj):
            fieldsets.append((_("Change status"), {"fields": ["change_to", "note"]}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    @admin.display(description=_("recent bounces"))
    def recent_bounces(self, address: Address) -> str:
        bounces = list(address.bounces.order_by("-occurred_at", "-id")[:20])
        if not bounces:
            return _("None.")
        return format_html(
            "<table><tbody>{}</tbody></table>",
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td>'
                "<td>{}</td><td>{}</td></tr>",
                (
                    (
                        reverse("admin:quarantine_bounce_change", args=[b.pk]),
                        b.occurred_at.strftime("%Y-%m-%d %H:%M"),
                        b.get_kind_display(),
                        b.get_reason_display(),
                        b.status_code or "—",
                        _("false positive") if b.false_positive else "",
                    )
                    for b in bounces
                ),
            ),
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return search_addresses(queryset, search_term), False

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_release_outage": request.user.has_perm(CHANGE_ADDRESS),
        }
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None) -> bool:
        # The row carries the address's history; it is released, not deleted.
        return False

    def save_model(self, request, obj, form, change):
        note = form.cleaned_data.get("note", "")
        if not change:
            apply = (
                actions.denylist_address
                if form.cleaned_data["status"] == Status.DENYLISTED
                else actions.allowlist_address
            )
            apply(
                address=obj.address,
                channel=obj.channel,
                source=OPERATOR,
                operator=request.user,
                note=note,
            )
            saved = Address.objects.get(address=obj.address, channel=obj.channel)
            obj.pk = saved.pk
            obj.refresh_from_db()
            return

        target = form.cleaned_data.get("change_to")
        common = {
            "address": obj.address,
            "channel": obj.channel,
            "source": OPERATOR,
            "operator": request.user,
            "note": note,
        }
        if target == Status.VALID:
            actions.release_address(**common)
        elif target == Status.DENYLISTED:
            actions.denylist_address(**common)
        elif target == Status.ALLOWLISTED:
            actions.allowlist_address(**common)
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        # The history inline is read-only: nothing of it is ever saved.
        formset.save(commit=False)

    @admin.action(
        description=_("Release selected addresses (make them valid)"),
        permissions=["change"],
    )
    def release_selected(self, request, queryset):
        self._change_selected(
            request, queryset, actions.release_addresses, _("released")
        )

    @admin.action(description=_("Denylist selected addresses"), permissions=["change"])
    def denylist_selected(self, request, queryset):
        self._change_selected(
            request, queryset, actions.denylist_addresses, _("denylisted")
        )

    @admin.action(description=_("Allowlist selected addresses"), permissions=["change"])
    def allowlist_selected(self, request, queryset):
        self._change_selected(
            request, queryset, actions.allowlist_addresses, _("allowlisted")
        )

    def _change_selected(self, request, queryset, change, done: str) -> None:
        selected = queryset.count()
        changed = change(addresses=queryset, source=OPERATOR, operator=request.user)
        self.message_user(
            request, _changed_message(changed, selected, done), messages.SUCCESS
        )

    def get_urls(self):
        own = [
            path(
                "release-outage/",
                self.admin_site.admin_view(self.release_outage_view),
                name="quarantine_address_release_outage",
            ),
            path(
                "denylist-profile/<int:profile_id>/",
                self.admin_site.admin_view(self.denylist_profile_view),
                name="quarantine_address_denylist_profile",
            ),
        ]
        return own + super().get_urls()

    def _require_change(self, request: HttpRequest) -> None:
        if not request.user.has_perm(CHANGE_ADDRESS):
            raise PermissionDenied

    def release_outage_view(self, request: HttpRequest):
        """Release, after a dry count, what a provider outage quarantined."""
        self._require_change(request)
        form = OutageReleaseForm(request.POST or None)
        count = None
        if request.method == "POST" and form.is_valid():
            chosen = form.cleaned_data
            addresses = outage_addresses(
                since=chosen["since"],
                until=chosen["until"],
                domain=chosen["domain"],
                reason=chosen["reason"],
            )
            if "release" in request.POST:
                released = actions.release_outage(
                    addresses=addresses, operator=request.user, note=chosen["note"]
                )
                self.message_user(
                    request,
                    ngettext(
                        "%(count)d address released.",
                        "%(count)d addresses released.",
                        released,
                    )
                    % {"count": released},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:quarantine_address_changelist")
                )
            count = addresses.count()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Release addresses after a provider outage"),
            "form": form,
            "count": count,
        }
        return TemplateResponse(
            request, "admin/quarantine/address/release_outage.html", context
        )

    def denylist_profile_view(self, request: HttpRequest, profile_id: int):
        """Denylist every address of a profile, for every profile that holds
        them; a confirmation page first."""
        self._require_change(request)
        profile = get_object_or_404(Profile, pk=profile_id)
        form = OptionalNoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            note = form.cleaned_data["note"] or _("denylisted from profile #%(id)s") % {
                "id": profile.pk
            }
            changed = sum(
                actions.denylist_address(
                    address=address,
                    channel=channel,
                    source=OPERATOR,
                    operator=request.user,
                    note=note,
                )
                for channel, address in profile_addresses(profile)
            )
            logger.info(
                "profile %s: %s addresses denylisted by user %s",
                profile.pk,
                changed,
                request.user.pk,
            )
            self.message_user(
                request,
                ngettext(
                    "%(count)d address denylisted; no profile holding it will "
                    "be contacted on it.",
                    "%(count)d addresses denylisted; no profile holding them "
                    "will be contacted on them.",
                    changed,
                )
                % {"count": changed}
                if changed
                else _("These addresses were already denylisted."),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:consent_profile_change", args=[profile.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Denylist the addresses of %(profile)s") % {"profile": profile},
            "profile": profile,
            "rows": profile_address_rows(profile),
            "form": form,
        }
        return TemplateResponse(
            request, "admin/quarantine/address/denylist_profile.html", context
        )


@admin.register(Bounce)
class BounceAdmin(admin.ModelAdmin):
    list_display = [
        "occurred_at",
        "address_link",
        "kind",
        "reason",
        "status_code",
        "source",
        "counted",
        "false_positive",
    ]
    list_filter = ["kind", "reason", "source", "false_positive"]
    list_select_related = ["address"]
    search_fields = ["address__address"]
    search_help_text = _("An exact e-mail address or phone number.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 50
    actions = ["mark_false_positive"]
    change_form_template = "admin/quarantine/bounce/change_form.html"
    fields = [
        ("address_link", "occurred_at"),
        ("kind", "reason", "status_code"),
        ("source", "counted", "false_positive"),
        "origin",
        "message_id",
        "diagnostic_text",
        "raw_text",
        "created_at",
    ]
    readonly_fields = [
        "address_link",
        "occurred_at",
        "kind",
        "reason",
        "status_code",
        "source",
        "counted",
        "false_positive",
        "origin",
        "message_id",
        "diagnostic_text",
        "raw_text",
        "created_at",
    ]

    @admin.display(description=_("address"), ordering="address__address")
    def address_link(self, bounce: Bounce) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:quarantine_address_change", args=[bounce.address_id]),
            bounce.address.address,
        )

    @admin.display(description=_("diagnostic"))
    def diagnostic_text(self, bounce: Bounce) -> str:
        return format_html('<pre class="bounce-text">{}</pre>', bounce.diagnostic)

    @admin.display(description=_("as received"))
    def raw_text(self, bounce: Bounce) -> str:
        return format_html('<pre class="bounce-text">{}</pre>', bounce.raw or "—")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return search_addresses(queryset, search_term, field="address"), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Change rights allow the false-positive action; the bounce itself
        # is never edited.
        if obj is not None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_mark_false_positive": request.user.has_perm(CHANGE_BOUNCE),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(
        description=_("Mark as false positive and release the address"),
        permissions=["change"],
    )
    def mark_false_positive(self, request, queryset):
        form = NoteForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            released = sum(
                actions.mark_false_positive(
                    bounce=bounce, operator=request.user, note=form.cleaned_data["note"]
                )
                for bounce in queryset.select_related("address")
            )
            self.message_user(
                request,
                ngettext(
                    "%(count)d bounce marked as a false positive; "
                    "%(released)d address released.",
                    "%(count)d bounces marked as false positives; "
                    "%(released)d addresses released.",
                    queryset.count(),
                )
                % {"count": queryset.count(), "released": released},
                messages.SUCCESS,
            )
            return None
        return TemplateResponse(
            request,
            "admin/quarantine/bounce/false_positive.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Mark bounces as false positives"),
                "bounces": queryset.select_related("address")[:100],
                "form": form,
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "action": "mark_false_positive",
            },
        )

    def get_urls(self):
        return [
            path(
                "<int:bounce_id>/false-positive/",
                self.admin_site.admin_view(self.false_positive_view),
                name="quarantine_bounce_false_positive",
            ),
            *super().get_urls(),
        ]

    def false_positive_view(self, request: HttpRequest, bounce_id: int):
        if not request.user.has_perm(CHANGE_BOUNCE):
            raise PermissionDenied
        bounce = get_object_or_404(
            Bounce.objects.select_related("address"), pk=bounce_id
        )
        form = NoteForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            released = actions.mark_false_positive(
                bounce=bounce, operator=request.user, note=form.cleaned_data["note"]
            )
            self.message_user(
                request,
                _("Bounce marked as a false positive; the address was released.")
                if released
                else _(
                    "Bounce marked as a false positive; the address was not in "
                    "quarantine, so its status is unchanged."
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse("admin:quarantine_address_change", args=[bounce.address_id])
            )
        return TemplateResponse(
            request,
            "admin/quarantine/bounce/false_positive.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": _("Mark a bounce as a false positive"),
                "bounces": [bounce],
                "form": form,
            },
        )


@admin.register(StatusChange)
class StatusChangeAdmin(admin.ModelAdmin):
    """The history of every address, read-only for everyone."""

    list_display = [
        "created_at",
        "address_link",
        "old_status",
        "new_status",
        "reason",
        "source",
        "operator",
        "note",
    ]
    list_filter = ["source", "new_status", "reason"]
    list_select_related = ["address", "operator"]
    search_fields = ["address__address"]
    search_help_text = _("An exact e-mail address or phone number.")
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = CappedCountPaginator
    list_per_page = 50

    @admin.display(description=_("address"), ordering="address__address")
    def address_link(self, change: StatusChange) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:quarantine_address_change", args=[change.address_id]),
            change.address.address,
        )

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return search_addresses(queryset, search_term, field="address"), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def profile_address_rows(profile: Profile) -> list[dict]:
    """Each address of a profile, its quarantine state and how many other
    profiles share it."""
    rows = []
    for channel, address in profile_addresses(profile):
        row = statuses_of(channel, [address]).get(address)
        field = "email" if channel == AddressChannel.EMAIL else "mobile_phone"
        status = row.status if row else Status.VALID
        rows.append(
            {
                "channel": AddressChannel(channel).label,
                "address": address,
                "status": status,
                "status_label": Status(status).label,
                "reason": Reason(row.reason).label if row and row.reason else "",
                "last_error_at": row.last_error_at if row else None,
                "url": (
                    reverse("admin:quarantine_address_change", args=[row.pk])
                    if row
                    else ""
                ),
                "shared_with": Profile.objects.filter(**{field: address})
                .exclude(pk=profile.pk)
                .count(),
            }
        )
    return rows


def _quarantine_panel(request: HttpRequest, profile: Profile) -> dict:
    rows = profile_address_rows(profile)
    return {
        "rows": rows,
        "can_denylist": request.user.has_perm(CHANGE_ADDRESS)
        and any(row["status"] != Status.DENYLISTED for row in rows),
        "denylist_url": reverse(
            "admin:quarantine_address_denylist_profile", args=[profile.pk]
        ),
    }


panels.register_panel(
    panels.Panel(
        key="quarantine",
        title=_("Addresses"),
        template="admin/quarantine/profile_panel.html",
        context=_quarantine_panel,
        order=30,
    )
)
