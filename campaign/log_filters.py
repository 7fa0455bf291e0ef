"""Logging filters that keep personal data out of Django's own log lines.

Django logs the path of every request it answers with an error
("Internal Server Error: /p/stop/<token>/"). A landing page's path carries
the signed token that opens one person's page, so the token is cut out
before the line is written.
"""

import logging
import re

# /p/<page>/<token>/ (consent/urls.py): everything after the page name.
_LANDING_TOKEN = re.compile(r"(/p/[\w-]+/)[^/\s?#]+")
_REPLACEMENT = r"\1<token>"


class RedactLandingTokens(logging.Filter):
    """Replace the token in landing page paths of a record's arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _LANDING_TOKEN.sub(_REPLACEMENT, record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                _LANDING_TOKEN.sub(_REPLACEMENT, arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        return True
