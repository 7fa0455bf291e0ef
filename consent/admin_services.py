"""Admin of services and subscriptions, and their part of the profile page.

Imported at the bottom of consent.admin. Subscriptions are read-only here:
operators change them through the bulk actions of the profile list, which
call consent.actions and so write the ledger.
"""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from consent import actions, panels, selectors
from consent.addresses import normalize_email
from consent.admin import EstimatedCountPaginator
from consent.links import subscribe_url
from consent.models import Channel, ConsentEvent, Profile, Service, Subscription

Status = Subscription.Status


def _count_of(status: str) -> Coalesce:
    """How many subscriptions of the service have the status.

    A correlated subquery, run only for the services on the page, that
    PostgreSQL answers from the (service, status) index.
    """
    counted = (
        Subscription.objects.filter(service=OuterRef("pk"), status=status)
        .order_by()
        .values("service")
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "label",
        "channel",
        "is_active",
        "double_opt_in",
        "validity",
        "pending",
        "subscribed",
        "unsubscribed",
        "subscribe_page",
    ]
    list_display_links = ["name", "label"]
    list_filter = ["channel", "is_active", "double_opt_in"]
    search_fields = ["name", "label"]
    fieldsets = [
        (None, {"fields": ["name", "label", "channel", "is_active"]}),
        (
            _("Subscribing"),
            {
                "fields": [
                    "description",
                    "consent_wording",
                    "double_opt_in",
                    "validity_days",
                ]
            },
        ),
        (
            _("Confirmation message"),
            {"fields": ["confirmation_subject", "confirmation_body"]},
        ),
    ]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                pending_count=_count_of(Status.PENDING),
                subscribed_count=_count_of(Status.SUBSCRIBED),
                unsubscribed_count=_count_of(Status.UNSUBSCRIBED),
            )
        )

    @admin.display(description=_("validity"), ordering="validity_days")
    def validity(self, service: Service) -> str:
        if service.validity_days is None:
            return _("unlimited")
        return ngettext("%(days)d day", "%(days)d days", service.validity_days) % {
            "days": service.validity_days
        }

    @admin.display(description=_("pending"), ordering="pending_count")
    def pending(self, service: Service):
        return self._count_link(service, Status.PENDING, service.pending_count)

    @admin.display(description=_("subscribed"), ordering="subscribed_count")
    def subscribed(self, service: Service):
        return self._count_link(service, Status.SUBSCRIBED, service.subscribed_count)

    @admin.display(description=_("unsubscribed"), ordering="unsubscribed_count")
    def unsubscribed(self, service: Service):
        return self._count_link(
            service, Status.UNSUBSCRIBED, service.unsubscribed_count
        )

    @staticmethod
    def _count_link(service: Service, status: str, count: int):
        url = reverse("admin:consent_subscription_changelist")
        return format_html(
            '<a href="{}?service__id__exact={}&amp;status__exact={}">{}</a>',
            url,
            service.pk,
            status,
            count,
        )

    @admin.display(description=_("subscribe page"))
    def subscribe_page(self, service: Service):
        if service.channel != Channel.EMAIL or not service.is_active:
            return "—"
        url = subscribe_url(service)
        return format_html('<a href="{}" rel="noopener">{}</a>', url, _("open"))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "validity_days" in form.changed_data:
            count = actions.reschedule_expiry(service=obj)
            self.message_user(
                request,
                ngettext(
                    "The new validity applies to %(count)d running subscription.",
                    "The new validity applies to %(count)d running subscriptions.",
                    count,
                )
                % {"count": count},
                messages.INFO,
            )


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """A read-only list; changes go through the profile list's actions."""

    list_display = [
        "id",
        "profile_link",
        "service",
        "status",
        "subscribed_at",
        "expires_at",
        "unsubscribed_at",
    ]
    list_filter = ["status", "service"]
    list_select_related = ["service"]
    raw_id_fields = ["profile"]
    search_fields = ["profile__email"]
    search_help_text = _("An exact e-mail address or a profile id.")
    ordering = ["-id"]
    list_per_page = 50
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    @admin.display(description=_("profile"), ordering="profile_id")
    def profile_link(self, subscription: Subscription):
        url = reverse("admin:consent_profile_change", args=[subscription.profile_id])
        return format_html('<a href="{}">#{}</a>', url, subscription.profile_id)

    def get_search_results(self, request, queryset, search_term):
        """Exact, indexed lookups only: an address or a profile id."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.isdigit():
            return queryset.filter(profile_id=int(term)), False
        try:
            return queryset.filter(profile__email=normalize_email(term)), False
        except ValidationError:
            return queryset.none(), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# The profile page's panel.


def _subscriptions_panel(request: HttpRequest, profile: Profile) -> dict:
    return {
        "subscriptions": list(selectors.subscriptions_of(profile)[:100]),
        "list_url": reverse("admin:consent_subscription_changelist")
        + f"?q={profile.pk}",
    }


panels.register_panel(
    panels.Panel(
        key="subscriptions",
        title=_("Subscriptions"),
        template="consent/admin/subscriptions_panel.html",
        context=_subscriptions_panel,
        order=20,
    )
)


# Bulk actions of the profile list. They are site actions, disabled for
# every model, so that only ProfileAdmin, which names them, offers them.


class ServiceChoiceForm(forms.Form):
    service = forms.ModelChoiceField(
        label=_("Service"), queryset=Service.objects.order_by("label")
    )
    note = forms.CharField(
        label=_("Note for the consent history"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Why, e.g. 'signed up at the fair on 3 May'."),
    )


@admin.action(description=_("Subscribe to a service…"), permissions=["change"])
def subscribe_to_service(modeladmin, request, queryset):
    return _bulk_subscription_page(
        modeladmin, request, queryset, subscribing=True, action="subscribe_to_service"
    )


@admin.action(description=_("Unsubscribe from a service…"), permissions=["change"])
def unsubscribe_from_service(modeladmin, request, queryset):
    return _bulk_subscription_page(
        modeladmin,
        request,
        queryset,
        subscribing=False,
        action="unsubscribe_from_service",
    )


def _bulk_subscription_page(
    modeladmin,
    request: HttpRequest,
    queryset: QuerySet[Profile],
    *,
    subscribing: bool,
    action: str,
):
    if not request.user.has_perm("consent.change_subscription"):
        modeladmin.message_user(
            request,
            _("You may not change subscriptions."),
            messages.ERROR,
        )
        return None

    form = ServiceChoiceForm(request.POST if "apply" in request.POST else None)
    if form.is_bound and form.is_valid():
        service = form.cleaned_data["service"]
        origin = actions.Origin(
            source=ConsentEvent.Source.OPERATOR,
            operator=request.user,
            note=form.cleaned_data["note"],
        )
        change = actions.bulk_subscribe if subscribing else actions.bulk_unsubscribe
        changed = change(profiles=queryset, service=service, origin=origin)
        if subscribing:
            text = ngettext(
                "%(count)d profile subscribed to %(service)s.",
                "%(count)d profiles subscribed to %(service)s.",
                changed,
            )
        else:
            text = ngettext(
                "%(count)d profile unsubscribed from %(service)s.",
                "%(count)d profiles unsubscribed from %(service)s.",
                changed,
            )
        modeladmin.message_user(
            request,
            text % {"count": changed, "service": service.label},
            messages.SUCCESS if changed else messages.INFO,
        )
        return None

    return TemplateResponse(
        request,
        "consent/admin/bulk_subscription.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": (
                _("Subscribe to a service")
                if subscribing
                else _("Unsubscribe from a service")
            ),
            "subscribing": subscribing,
            "opts": modeladmin.model._meta,
            "form": form,
            "profiles": queryset[:20],
            "count": queryset.count(),
            "action": action,
            "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
        },
    )


for _function in (subscribe_to_service, unsubscribe_from_service):
    admin.site.add_action(_function, _function.__name__)
    admin.site.disable_action(_function.__name__)
