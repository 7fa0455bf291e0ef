"""Answer "try again later" when the database is unavailable.

A lost connection or a database that refuses connections is not a bug in
the page and not the visitor's fault: the visitor gets a 503 page in their
language with a Retry-After header, and nothing is half-written because
every change runs in a transaction. The broken connection is dropped at
once, so the next request reconnects without a restart.
"""

import logging

from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.cache import add_never_cache_headers

from campaign.outages import DATABASE_ERRORS, drop_broken_connections

logger = logging.getLogger(__name__)

# What the 503 page asks browsers and clients to wait before trying again.
RETRY_AFTER_SECONDS = 30


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """The "try again" page, status 503."""
    # Rendered without the request's context processors: they may read the
    # session or the user, and the database is the thing that is missing.
    body = loader.render_to_string(
        "503.html", {"retry_after": RETRY_AFTER_SECONDS, "path": request.path}
    )
    response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    add_never_cache_headers(response)
    # Django logs every 5xx with the request's path, and a landing page's
    # path carries a token; the middleware has logged the outage without
    # it, and this flag is how Django's log_response knows.
    response._has_been_logged = True
    return response


def _log_unavailable(request: HttpRequest, exc: BaseException) -> None:
    # The path is not logged: a landing page's path carries a token. The
    # view's name says which page failed; the driver's message is left out
    # because it may quote the statement and the data in it.
    match = getattr(request, "resolver_match", None)
    logger.warning(
        "database unavailable: %s %s answered 503 (%s)",
        request.method,
        match.view_name if match else "-",
        type(exc).__name__,
    )


class DatabaseUnavailableMiddleware:
    """Turn OperationalError and InterfaceError from a view into a 503."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not isinstance(exception, DATABASE_ERRORS):
            return None
        drop_broken_connections()
        _log_unavailable(request, exception)
        return database_unavailable(request)
