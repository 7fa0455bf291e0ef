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


def _guarded(view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
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
