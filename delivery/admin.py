"""Deliveries in the admin: edit, analyse, read the report, send.

Every change of state goes through delivery.actions; the Analyse and Send
buttons post to views here that need the delivery.change_delivery
permission. The report reads the counts the analysis stored, and the lists
of profiles behind it are paged by keyset, so no page counts a large table.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from consent import panels
from consent.models import Profile
from delivery import actions, selectors
from delivery.models import Delivery, Exclusion, LateExclusion, Recipient
from delivery.report import build_report
from delivery.sending import SendingStopped, preview_send

# The send states an operator can list among a delivery's recipients.
LISTED_STATUSES = [
    Recipient.Status.PENDING,
    Recipient.Status.SENT,
    Recipient.Status.FAILED,
    Recipient.Status.SKIPPED,
]


class DeliveryAdminForm(forms.ModelForm):
    class Meta:
        model = Delivery
        fields = list(actions.EDITABLE_FIELDS)
        widgets = {"subject": forms.TextInput(attrs={"size": 80})}

    def clean(self):
        cleaned = super().clean()
        candidate = Delivery(
            **{
                field: cleaned.get(field, getattr(self.instance, field))
                for field in actions.EDITABLE_FIELDS
            }
        )
        try:
            actions.validate_delivery(candidate)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(field if field in self.fields else None, error)
        return cleaned


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    form = DeliveryAdminForm
    change_form_template = "admin/delivery/delivery/change_form.html"
    list_display = [
        "label",
        "channel",
        "target",
        "status",
        "to_send_count",
        "sent_count",
        "created_at",
    ]
    list_filter = ["status", "channel", "service"]
    list_select_related = ["service"]
    search_fields = ["label"]
    show_full_result_count = False
    readonly_fields = [
        "status",
        "created_at",
        "created_by",
        "analysed_at",
        "analysed_by",
        "send_started_at",
        "send_started_by",
        "sent_at",
    ]
    fieldsets = [
        (None, {"fields": ["label", "channel"]}),
        (
            gettext_lazy("Target"),
            {"fields": ["service", "language", "exclude_duplicates"]},
        ),
        (gettext_lazy("Content"), {"fields": ["subject", "body"]}),
        (
            gettext_lazy("State"),
            {
                "fields": [
                    "status",
                    ("created_at", "created_by"),
                    ("analysed_at", "analysed_by"),
                    ("send_started_at", "send_started_by"),
                    "sent_at",
                ]
            },
        ),
    ]

    class Media:
        css = {"all": ["delivery/admin.css"]}

    @admin.display(description=gettext_lazy("target"))
    def target(self, delivery: Delivery) -> str:
        who = (
            _("subscribers of %(service)s") % {"service": delivery.service}
            if delivery.service_id
            else _("every profile")
        )
        if delivery.language:
            who += f" ({delivery.get_language_display()})"
        return who

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status in (
            Delivery.Status.SENDING,
            Delivery.Status.SENT,
        ):
            return [*actions.EDITABLE_FIELDS, *self.readonly_fields]
        return self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        # A delivery that went out is the record of who was sent what.
        if obj is not None and obj.status in (
            Delivery.Status.SENDING,
            Delivery.Status.SENT,
        ):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        if not change:
            created = actions.create_delivery(
                **{
                    field: form.cleaned_data[field] for field in actions.EDITABLE_FIELDS
                },
                operator=request.user,
            )
            # The admin goes on with `obj` (its messages, its redirect).
            for field in Delivery._meta.concrete_fields:
                setattr(obj, field.attname, getattr(created, field.attname))
            obj._state.adding = False
            return
        changes = {
            field: form.cleaned_data[field]
            for field in form.changed_data
            if field in actions.EDITABLE_FIELDS
        }
        try:
            updated = actions.update_delivery(
                delivery=obj, changes=changes, operator=request.user
            )
        except actions.DeliveryStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        if updated.status == Delivery.Status.DRAFT and obj.target_count is not None:
            self.message_user(
                request,
                _("The target changed: analyse the delivery again before sending."),
                messages.WARNING,
            )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "<int:object_id>/analyse/",
                view(self.analyse_view),
                name="delivery_delivery_analyse",
            ),
            path(
                "<int:object_id>/send/",
                view(self.send_view),
                name="delivery_delivery_send",
            ),
            path(
                "<int:object_id>/profiles/<str:reason>/",
                view(self.profiles_view),
                name="delivery_delivery_profiles",
            ),
            *super().get_urls(),
        ]

    def _delivery_or_404(self, request, object_id) -> Delivery:
        delivery = self.get_object(request, str(object_id))
        if delivery is None:
            raise Http404(_("No delivery with this id."))
        return delivery

    def _change_url(self, delivery: Delivery) -> str:
        return reverse("admin:delivery_delivery_change", args=[delivery.pk])

    def _require_change(self, request, delivery) -> None:
        if not self.has_change_permission(request, delivery):
            raise PermissionDenied

    def analyse_view(self, request: HttpRequest, object_id: int):
        return require_POST(self._analyse)(request, object_id)

    def _analyse(self, request: HttpRequest, object_id: int):
        delivery = self._delivery_or_404(request, object_id)
        self._require_change(request, delivery)
        try:
            result = actions.request_analysis(delivery=delivery, operator=request.user)
        except actions.DeliveryStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            if result is None:
                self.message_user(
                    request,
                    _(
                        "Analysis queued: a worker is analysing the delivery. "
                        "This page shows the result when it is done."
                    ),
                    messages.INFO,
                )
                return HttpResponseRedirect(self._change_url(delivery))
            self.message_user(
                request,
                _(
                    "Analysed: %(target)s profiles targeted, %(to_send)s to send, "
                    "%(excluded)s excluded."
                )
                % {
                    "target": result.target,
                    "to_send": result.to_send,
                    "excluded": result.target - result.to_send,
                },
                messages.SUCCESS,
            )
        return HttpResponseRedirect(self._change_url(delivery))

    def send_view(self, request: HttpRequest, object_id: int):
        """GET: what sending would do now; POST: send."""
        delivery = self._delivery_or_404(request, object_id)
        self._require_change(request, delivery)
        if delivery.status not in (Delivery.Status.ANALYSED, Delivery.Status.SENDING):
            self.message_user(
                request,
                _("Only an analysed delivery can be sent; this one is %(status)s.")
                % {"status": delivery.get_status_display().lower()},
                messages.ERROR,
            )
            return HttpResponseRedirect(self._change_url(delivery))
        if request.method != "POST":
            preview = preview_send(delivery)
            return TemplateResponse(
                request,
                "admin/delivery/delivery/send_confirmation.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.opts,
                    "title": _("Send %(label)s?") % {"label": delivery.label},
                    "delivery": delivery,
                    "preview": preview,
                    "skipped": [
                        (LateExclusion(reason).label, count)
                        for reason, count in preview["skipped"].items()
                    ],
                },
            )

        try:
            # With a broker the batches are queued for Celery workers; without
            # one they run here, and an interrupted request leaves the
            # delivery sending: Send resumes it without a second copy.
            result = actions.send_delivery(delivery=delivery, operator=request.user)
        except actions.DeliveryStateError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        except SendingStopped as exc:
            self.message_user(
                request,
                _("Sending stopped: %(error)s Press Send again to go on.")
                % {"error": exc},
                messages.ERROR,
            )
        else:
            self._report_send(request, result)
        return HttpResponseRedirect(self._change_url(delivery))

    def _report_send(self, request: HttpRequest, result: actions.SendResult) -> None:
        if result.queued_batches:
            self.message_user(
                request,
                _(
                    "%(batches)s batches queued for the sending workers; "
                    "this page shows their progress."
                )
                % {"batches": result.queued_batches},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                _("%(sent)s sent, %(failed)s failed, %(skipped)s skipped.")
                % {
                    "sent": result.sent,
                    "failed": result.failed,
                    "skipped": result.skipped,
                },
                messages.SUCCESS,
            )

    def profiles_view(self, request: HttpRequest, object_id: int, reason: str):
        """The profiles behind one line of the report, a page at a time."""
        delivery = self._delivery_or_404(request, object_id)
        if not self.has_view_permission(request, delivery):
            raise PermissionDenied
        labels = {selectors.TO_SEND: _("To send"), **dict(Exclusion.choices)}
        if reason not in labels:
            raise Http404(_("No such reason."))
        status = request.GET.get("status", "")
        if status and (reason != selectors.TO_SEND or status not in LISTED_STATUSES):
            raise Http404(_("No such send state."))
        after = _int_or_none(request.GET.get("after"))
        before = _int_or_none(request.GET.get("before"))

        page = selectors.recipient_page(
            selectors.delivery_profiles(delivery, reason=reason, status=status),
            after=after,
            before=before,
        )
        total = _known_count(delivery, reason, status)
        return TemplateResponse(
            request,
            "admin/delivery/delivery/profiles.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": f"{delivery.label}: {labels[reason]}",
                "delivery": delivery,
                "reason": reason,
                "reason_label": labels[reason],
                "status": status,
                "statuses": [(s, Recipient.Status(s).label) for s in LISTED_STATUSES],
                "page": page,
                "total": total,
            },
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id:
            delivery = self.get_object(request, object_id)
            if delivery is not None:
                extra_context.update(
                    report=build_report(delivery),
                    events=selectors.delivery_events(delivery)[:20],
                    can_act=self.has_change_permission(request, delivery),
                    to_send=selectors.TO_SEND,
                    send_states=_send_states(delivery),
                )
        return super().changeform_view(request, object_id, form_url, extra_context)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _known_count(delivery: Delivery, reason: str, status: str) -> int | None:
    """The size of a list, from the counts kept on the delivery."""
    if reason != selectors.TO_SEND:
        return int(delivery.excluded_counts.get(reason, 0))
    if not status:
        return delivery.to_send_count
    return dict(_send_states(delivery)).get(status)


def _send_states(delivery: Delivery) -> list[tuple[str, int]]:
    """How many recipients are in each send state, from the counters."""
    if delivery.to_send_count is None:
        return []
    done = delivery.sent_count + delivery.failed_count + delivery.skipped_count
    return [
        (Recipient.Status.SENT, delivery.sent_count),
        (Recipient.Status.FAILED, delivery.failed_count),
        (Recipient.Status.SKIPPED, delivery.skipped_count),
        (Recipient.Status.PENDING, max(delivery.to_send_count - done, 0)),
    ]


def _delivery_panel(request: HttpRequest, profile: Profile) -> dict:
    rows = list(selectors.delivery_history(profile)[:50])
    return {"rows": rows}


panels.register_panel(
    panels.Panel(
        key="deliveries",
        title=gettext_lazy("Deliveries"),
        template="admin/delivery/profile_panel.html",
        context=_delivery_panel,
        order=40,
    )
)
