"""Middleware that keeps failures and malformed requests from becoming 500s.

DatabaseUnavailableMiddleware: a lost connection or a database that refuses
connections is not a bug in the page and not the visitor's fault. The
visitor gets a 503 page in their language with a Retry-After header, and
nothing is half-written because every change runs in a transaction. The
broken connection is dropped at once, so the next request reconnects
without a restart.

RejectMalformedRequestMiddleware: input no browser sends is answered with
the 400 page before it reaches a query.
"""

import logging

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.urls import get_resolver, reverse
from django.utils import translation
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


# Form posts whose fields this middleware reads: the admin's. Other bodies
# (JSON, a multipart post elsewhere) are left unread for their view, which
# may need the raw stream, e.g. a provider's webhook.
_FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_CONTENT_TYPE = "multipart/form-data"

# The admin's changelist posts the ids of the rows an action applies to.
_SELECTED_ROWS_FIELD = "_selected_action"


def _holds_null(values) -> bool:
    return any(
        "\x00" in key or any("\x00" in v for v in values.getlist(key)) for key in values
    )


class RejectMalformedRequestMiddleware:
    """Answer 400 to requests no browser sends, before they reach a query.

    - A NUL character in the path or the query string. No person types
      one, and PostgreSQL cannot compare text that holds one, so wherever
      such a value met a query the answer would be a 500.
    - A row id that is not a number among the admin's selected rows, which
      Django's admin hands to the database unchecked. Every model in the
      admin has an integer primary key (tests/hardening checks it).

    A cookie that holds a NUL is dropped rather than refused, so a corrupt
    cookie cannot lock its browser out: the session is simply absent.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name in [n for n, v in request.COOKIES.items() if "\x00" in n + v]:
            del request.COOKIES[name]
        problem = self._problem(request)
        if problem is None:
            return self.get_response(request)

        logger.info("request refused: %s", problem)
        # This runs before LocaleMiddleware; the 400 page is still in the
        # browser's language.
        language = translation.get_language_from_request(request)
        with translation.override(language):
            handler = get_resolver().resolve_error_handler(400)
            response = handler(request, BadRequest(problem))
        response._has_been_logged = True
        # Answered before XFrameOptionsMiddleware, which never sees it.
        response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response

    def _problem(self, request: HttpRequest) -> str | None:
        if "\x00" in request.path or _holds_null(request.GET):
            return "NUL character in the path or query string"
        if request.method == "POST" and self._reads_form(request):
            # NUL characters in form fields are left to the forms, whose
            # fields refuse them with a message next to the field.
            selected = request.POST.getlist(_SELECTED_ROWS_FIELD)
            if not all(value.isascii() and value.isdigit() for value in selected):
                return "a selected row id is not a number"
        return None

    @staticmethod
    def _reads_form(request: HttpRequest) -> bool:
        return request.content_type in (
            _FORM_CONTENT_TYPE,
            _MULTIPART_CONTENT_TYPE,
        ) and request.path.startswith(reverse("admin:index"))
