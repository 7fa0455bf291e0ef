"""The public landing pages: subscribe, confirm, unsubscribe, preferences.

No login: a page that concerns one person is reached through a signed link
naming them (consent.tokens). A GET never changes anything, because mail
scanners and previewers follow links; only a POST acts, through
consent.actions, which writes the ledger. Pages speak the person's
language: the profile's, or the browser's when no profile is known. Every
refusal is a page in that language with a 4xx status, never a traceback.
"""

import functools
import ipaddress
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from consent import actions
from consent.forms import (
    PreferencesForm,
    SubscribeForm,
    channel_phrase,
    channel_wording,
    service_wording,
    stop_all_wording,
)
from consent.links import preferences_url, subscribe_url
from consent.models import Channel, ConsentEvent, Profile, Service, Subscription
from consent.tokens import BadToken, Claims, ExpiredToken, Purpose, read_token

logger = logging.getLogger(__name__)

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"

_LANGUAGES = {code for code, _name in settings.LANGUAGES}


class Refusal(Exception):
    """Stop a landing view and answer with an error page instead."""

    def __init__(self, status: int, title: str, message: str, language=None):
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.language = language


def _language_of(profile: Profile | None) -> str:
    if profile is not None and profile.language in _LANGUAGES:
        return profile.language
    return translation.get_language() or settings.LANGUAGE_CODE


def _render(
    request: HttpRequest,
    template: str,
    context: dict,
    *,
    status: int = 200,
    language: str | None = None,
) -> HttpResponse:
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        response = render(request, template, context, status=status)
    response.headers["Content-Language"] = language
    return response


def error_page(
    request: HttpRequest,
    status: int,
    title: str,
    message: str,
    *,
    language: str | None = None,
) -> HttpResponse:
    return _render(
        request,
        "consent/error.html",
        {"title": title, "message": message, "status": status},
        status=status,
        language=language,
    )


def landing_view(methods: tuple[str, ...]):
    """Allow only `methods`, turn a Refusal into its page, never cache.

    A request with another method gets a 405 page listing what is allowed.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                response = error_page(
                    request,
                    405,
                    _("This action is not possible here"),
                    _("This page cannot be used that way. Open the link again."),
                )
                response.headers["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except Refusal as refusal:
                    response = error_page(
                        request,
                        refusal.status,
                        refusal.title,
                        refusal.message,
                        language=refusal.language,
                    )
            add_never_cache_headers(response)
            response.headers["X-Robots-Tag"] = "noindex"
            return response

        return wrapper

    return decorate


def _path(url: str) -> str:
    """A link between our own pages: relative, whatever host served them."""
    return urlsplit(url).path


def _client_ip(request: HttpRequest) -> str | None:
    """The address the request came from, as the ledger keeps it."""
    candidate = request.META.get("REMOTE_ADDR", "")
    if settings.SECURE_PROXY_SSL_HEADER:
        # Behind our proxy, the last hop it appends is the client; earlier
        # entries are whatever the client chose to send.
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            candidate = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def _origin(
    request: HttpRequest,
    *,
    wording: str = "",
    source: str = ConsentEvent.Source.LANDING_PAGE,
) -> actions.Origin:
    return actions.Origin(
        source=source,
        ip_address=_client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        wording=wording,
    )


def _bad_link(purpose: Purpose, reason: str) -> Refusal:
    # The token itself stays out of the log: it is a key to someone's page.
    logger.warning("landing link refused: purpose %s, %s", purpose.value, reason)
    return Refusal(
        400,
        _("This link does not work"),
        _(
            "The link is incomplete or has been changed. Open it again from "
            "the message you received, or copy the whole address."
        ),
    )


def _unknown_person(purpose: Purpose) -> Refusal:
    logger.warning("landing link refused: purpose %s, unknown profile", purpose.value)
    return Refusal(
        404,
        _("We could not find you"),
        _("This link belongs to a record we no longer keep. Nothing was changed."),
    )


def _read_link(purpose: Purpose, token: str) -> tuple[Profile, Claims]:
    """The profile a genuine link names, or a Refusal."""
    try:
        claims = read_token(purpose, token)
    except BadToken as exc:
        raise _bad_link(purpose, exc.reason) from None
    profile = Profile.objects.filter(public_id=claims.public_id).first()
    if profile is None:
        raise _unknown_person(purpose)
    return profile, claims


# Subscribe and confirm.


@landing_view(("GET", "HEAD", "POST"))
def subscribe(request: HttpRequest, service_name: str) -> HttpResponse:
    service = (
        Service.objects.filter(
            name=service_name[:100], is_active=True, channel=Channel.EMAIL
        ).first()
        # TODO: services on other channels need a phone number and an SMS
        # confirmation; offer them here once the delivery area sends SMS.
    )
    if service is None:
        raise Refusal(
            404,
            _("This subscription is not available"),
            _("There is no such service, or it is no longer offered."),
        )

    if request.method != "POST":
        form = SubscribeForm(service=service)
        return _render(request, "consent/subscribe.html", _page(service, form))

    form = SubscribeForm(request.POST, service=service)
    if not form.is_valid():
        return _render(
            request, "consent/subscribe.html", _page(service, form), status=400
        )
    if form.suspected_bot:
        logger.info("subscribe: trap field filled, service %s, ignored", service.pk)
        return _render(request, "consent/subscribe_done.html", _page(service, form))

    data = form.cleaned_data
    language = translation.get_language()
    with transaction.atomic():
        profile = actions.profile_for_email(
            email=data["email"],
            first_name=data["first_name"].strip(),
            last_name=data["last_name"].strip(),
            language=language if language in _LANGUAGES else settings.LANGUAGE_CODE,
        )
        actions.subscribe(
            profile=profile,
            service=service,
            origin=_origin(request, wording=form.wording),
            double_opt_in=service.double_opt_in,
            send_message=True,
        )

    # The same page whatever the address's history, so the form cannot be
    # used to learn who is already known.
    return _render(request, "consent/subscribe_done.html", _page(service, form))


def _page(service: Service, form: SubscribeForm) -> dict:
    return {"service": service, "form": form}


def _confirm_wording(service: Service, reopens: bool) -> str:
    wording = _("Yes, I want to receive %(service)s.") % {"service": service.label}
    if reopens:
        wording += " " + _(
            "You had asked us not to contact you this way; confirming allows "
            "it again for this."
        )
    return wording


@landing_view(("GET", "HEAD", "POST"))
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        claims = read_token(Purpose.CONFIRM, token)
    except ExpiredToken:
        logger.info("landing link refused: purpose confirm, expired")
        raise Refusal(
            400,
            _("This confirmation link has expired"),
            _(
                "Confirmation links work for a limited time. Subscribe again "
                "and we will send you a new one."
            ),
        ) from None
    except BadToken as exc:
        raise _bad_link(Purpose.CONFIRM, exc.reason) from None

    profile = Profile.objects.filter(public_id=claims.public_id).first()
    if profile is None:
        raise _unknown_person(Purpose.CONFIRM)
    language = _language_of(profile)
    service = Service.objects.filter(pk=claims.service_id, is_active=True).first()
    if service is None:
        raise Refusal(
            404,
            _("This subscription is not available"),
            _("There is no such service, or it is no longer offered."),
            language=language,
        )

    with translation.override(language):
        reopens = profile.is_opted_out(service.channel)
        wording = _confirm_wording(service, reopens)
        if request.method == "POST":
            actions.confirm_subscription(
                profile=profile,
                service=service,
                origin=_origin(request, wording=wording),
            )
        status = (
            Subscription.objects.filter(profile=profile, service=service)
            .values_list("status", flat=True)
            .first()
        )
        context = {
            "service": service,
            "status": status,
            "wording": wording,
            "reopens": reopens,
            "posted": request.method == "POST",
            "preferences_url": _path(preferences_url(profile)),
            "subscribe_url": _path(subscribe_url(service)),
        }
    return _render(request, "consent/confirm.html", context, language=language)


# Unsubscribe, one-click and stop everything.


_csrf = CsrfViewMiddleware(lambda request: None)

SCOPE_SERVICE, SCOPE_CHANNEL, SCOPE_EVERYTHING = "service", "channel", "everything"


@csrf_exempt
@landing_view(("GET", "HEAD", "POST"))
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The page of a message's unsubscribe link, and its one-click POST.

    The view is exempt from the CSRF middleware because a mailbox provider's
    one-click POST has no cookie; the page's own form is checked here.
    """
    if (
        request.method == "POST"
        and request.POST.get(ONE_CLICK_FIELD, "").strip() == ONE_CLICK_VALUE
    ):
        return _one_click(request, token)

    profile, claims = _read_link(Purpose.UNSUBSCRIBE, token)
    language = _language_of(profile)
    service = None
    if claims.service_id is not None:
        service = Service.objects.filter(pk=claims.service_id).first()
    channel = claims.channel or (service.channel if service else Channel.EMAIL)

    with translation.override(language):
        choices = _unsubscribe_choices(service, channel)
        context = {
            "service": service,
            "channel_label": channel_phrase(channel),
            "choices": choices,
            "preferences_url": _path(preferences_url(profile)),
        }
        if request.method == "POST":
            rejected = _csrf.process_view(request, None, (), {})
            if rejected is not None:
                return rejected
            scope = request.POST.get("scope", "")
            if scope not in choices:
                context["error"] = _("Choose one of the buttons below.")
                return _render(
                    request,
                    "consent/unsubscribe.html",
                    context,
                    status=400,
                    language=language,
                )
            origin = _origin(request, wording=choices[scope])
            if scope == SCOPE_SERVICE:
                actions.unsubscribe(profile=profile, service=service, origin=origin)
            elif scope == SCOPE_CHANNEL:
                actions.record_opt_out(profile=profile, channel=channel, origin=origin)
            else:
                actions.record_opt_out(
                    profile=profile, channel=actions.EVERYTHING, origin=origin
                )
            context["done"] = scope
            context["done_wording"] = choices[scope]
    return _render(request, "consent/unsubscribe.html", context, language=language)


def _unsubscribe_choices(service: Service | None, channel: str) -> dict[str, str]:
    """Each button of the unsubscribe page and what it says, in order."""
    choices = {}
    if service is not None:
        choices[SCOPE_SERVICE] = _("Unsubscribe me from %(service)s") % {
            "service": service.label
        }
    choices[SCOPE_CHANNEL] = _("Stop all messages by %(channel)s") % {
        "channel": channel_phrase(channel)
    }
    choices[SCOPE_EVERYTHING] = stop_all_wording()
    return choices


def _one_click(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: unsubscribe at once, answer 200, repeatable.

    Kept lean for mailbox providers that POST in bulk: one signature check,
    one locked UPDATE and one ledger INSERT in one transaction; no session,
    no template.
    """
    try:
        claims = read_token(Purpose.UNSUBSCRIBE, token)
    except BadToken as exc:
        logger.warning("one-click refused: %s", exc.reason)
        return _plain("This link is not valid.", status=400)

    channel = claims.channel or Channel.EMAIL
    changed = actions.unsubscribe_by_link(
        public_id=claims.public_id,
        service_id=claims.service_id,
        channel=channel,
        origin=_origin(request, source=ConsentEvent.Source.ONE_CLICK),
    )
    if not changed and not Profile.objects.filter(public_id=claims.public_id).exists():
        # Rare: only a repeated or stale POST pays for this second look.
        logger.warning("one-click refused: unknown profile")
        return _plain("This link is not valid.", status=404)
    return _plain("Unsubscribed.")


def _plain(text: str, status: int = 200) -> HttpResponse:
    return HttpResponse(
        f"{text}\n", status=status, content_type="text/plain; charset=utf-8"
    )


@landing_view(("GET", "HEAD", "POST"))
def stop_all(request: HttpRequest, token: str) -> HttpResponse:
    profile, _claims = _read_link(Purpose.STOP_ALL, token)
    language = _language_of(profile)

    with translation.override(language):
        wording = stop_all_wording()
        if request.method == "POST":
            actions.record_opt_out(
                profile=profile,
                channel=actions.EVERYTHING,
                origin=_origin(request, wording=wording),
            )
        context = {
            "wording": wording,
            "done": request.method == "POST",
            "stopped": profile.no_longer_contact,
            "preferences_url": _path(preferences_url(profile)),
        }
    return _render(request, "consent/stop_all.html", context, language=language)


# The preference centre.


@landing_view(("GET", "HEAD", "POST"))
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    profile, _claims = _read_link(Purpose.PREFERENCES, token)
    language = _language_of(profile)

    with translation.override(language):
        form = _preferences_form(profile)
        saved = False
        if request.method == "POST":
            form = _preferences_form(profile, data=request.POST)
            if not form.is_valid():
                return _render(
                    request,
                    "consent/preferences.html",
                    {"form": form},
                    status=400,
                    language=language,
                )
            changes = _save_preferences(request, profile, form)
            logger.info("preferences of profile %s: %s changes", profile.pk, changes)
            profile.refresh_from_db()
            form = _preferences_form(profile)
            saved = True
        context = {"form": form, "saved": saved}
    return _render(request, "consent/preferences.html", context, language=language)


def _preferences_form(profile: Profile, data=None) -> PreferencesForm:
    open_statuses = [Subscription.Status.PENDING, Subscription.Status.SUBSCRIBED]
    subscriptions = {
        subscription.service_id: subscription
        for subscription in Subscription.objects.filter(profile=profile)
    }
    # Offered: every active service, and any other the person still gets,
    # so they can leave it.
    services = list(
        Service.objects.filter(
            Q(is_active=True)
            | Q(subscriptions__profile=profile, subscriptions__status__in=open_statuses)
        )
        .distinct()
        .order_by("label", "pk")
    )
    return PreferencesForm(
        data, profile=profile, services=services, subscriptions=subscriptions
    )


def _save_preferences(
    request: HttpRequest, profile: Profile, form: PreferencesForm
) -> int:
    """Apply every switch that changed, in one transaction; count changes."""
    changes = 0
    with transaction.atomic():
        for channel, allowed in form.channel_choices().items():
            changes += actions.set_opt_out(
                profile=profile,
                channel=channel,
                opted_out=not allowed,
                origin=_origin(request, wording=channel_wording(channel)),
            )

        for service, wanted in form.service_choices().items():
            origin = _origin(request, wording=service_wording(service))
            current = form.subscriptions.get(service.pk)
            is_open = current is not None and (
                current.status != Subscription.Status.UNSUBSCRIBED
            )
            if wanted and not is_open:
                # The link reached the person, which is the proof double
                # opt-in asks for: no second confirmation.
                actions.subscribe(profile=profile, service=service, origin=origin)
                changes += 1
            elif not wanted and is_open:
                changes += actions.unsubscribe(
                    profile=profile, service=service, origin=origin
                )

        changes += actions.set_opt_out(
            profile=profile,
            channel=actions.EVERYTHING,
            opted_out=form.cleaned_data["no_longer_contact"],
            origin=_origin(request, wording=stop_all_wording()),
        )
    return changes


# Site-wide error pages, in the visitor's language.


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return error_page(
        request,
        400,
        _("Something is wrong with this request"),
        _("The request could not be read. Open the link again."),
    )


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return error_page(
        request,
        403,
        _("This is not allowed"),
        _("You may not open this page."),
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    logger.info("form refused: CSRF check failed")
    return error_page(
        request,
        403,
        _("Please send the form again"),
        _(
            "The page was open for too long, or your browser blocks cookies. "
            "Go back, reload the page and send the form again."
        ),
    )


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return error_page(
        request,
        404,
        _("Page not found"),
        _("There is no page at this address. Check the link and try again."),
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return error_page(
        request,
        500,
        _("Something went wrong on our side"),
        _("Nothing was changed. Please try again in a few minutes."),
    )
