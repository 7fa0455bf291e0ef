#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    from campaign.outages import DATABASE_ERRORS

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A bad environment variable deserves one clear line, not a traceback.
        sys.exit(f"Configuration error: {exc}")
    except DATABASE_ERRORS as exc:
        # So does a database that is down or went away. The driver's text
        # is left out: it may quote the statement and the data in it.
        sys.exit(
            f"Database unavailable ({type(exc).__name__}): the command stopped. "
            "Each change it makes is committed whole or not at all; what it "
            "committed before stays."
        )


if __name__ == "__main__":
    main()
