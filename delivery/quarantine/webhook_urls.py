"""The e-mail providers' webhook URLs, guarded against missing settings.

django-anymail raises ImproperlyConfigured inside the view when a provider
needs a signing key we were not given (Mailgun, Postal, Mandrill...). A
provider must never see a 500 for that: it would retry for days. The guard
answers 503 with a plain reason and logs which endpoint is unconfigured.
"""

import logging
from functools import wraps

from anymail import urls as anymail_urls
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.urls import URLPattern

logger = logging.getLogger(__name__)

app_name = anymail_urls.app_name


class _MalformedPayload(Exception):
    """anymail could not read the body as the provider's events."""


# What anymail's parsers raise on a body that is not the provider's shape
# (broken JSON, a list where an object belongs, a missing key).
_PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def _reading_strictly(view):
    """The view, its parsing errors told apart from errors in our receivers.

    A body anymail cannot parse gets a 400: the provider will not fix it
    by retrying. An error after parsing, in a receiver, stays a 500, so the
    provider retries and the event is not lost.
    """
    view_class = getattr(view, "view_class", None)
    if view_class is None:
        return view

    class Strict(view_class):
        def parse_events(self, request):
            try:
                return list(super().parse_events(request))
            except _PARSE_ERRORS as exc:
                raise _MalformedPayload(type(exc).__name__) from None

    return Strict.as_view(**view.view_initkwargs)


def _guarded(view):
    view = _reading_strictly(view)

    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _MalformedPayload as exc:
            logger.warning(
                "webhook %s: body not readable as events (%s)",
                request.resolver_match.url_name if request.resolver_match else "?",
                exc,
            )
            return HttpResponse(
                "The body is not a payload of this provider.",
                status=400,
                content_type="text/plain; charset=utf-8",
            )
        except ImproperlyConfigured:
            logger.error(
                "webhook %s is not configured: its signing key is missing",
                request.resolver_match.url_name if request.resolver_match else "?",
            )
            return HttpResponse(
                "This provider's webhook is not configured on this server.",
                status=503,
                content_type="text/plain; charset=utf-8",
            )

    return guarded


urlpatterns = [
    URLPattern(
        pattern.pattern, _guarded(pattern.callback), pattern.default_args, pattern.name
    )
    for pattern in anymail_urls.urlpatterns
]
