"""What the console does when the database goes away.

A lost connection, a database that refuses new connections, or one that is
too busy to take a write: none of these is the person's fault, and none
leaves anything half-written, because every change runs in a transaction.
Pages answer "try again" (campaign.middleware) and commands stop with a
clear CommandError (`connection_lost_is_a_command_error`).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.management.base import CommandError
from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

# The errors that mean "the database is unreachable or unusable right now",
# as opposed to a bug (ProgrammingError) or bad data (IntegrityError).
DATABASE_ERRORS = (OperationalError, InterfaceError)


def drop_broken_connections() -> None:
    """Close connections an error left unusable, so the next query reconnects.

    Django does this at the end of every request; doing it as soon as the
    error is seen also covers callers that never finish a request, such as
    a long-running command or worker. Connections inside a transaction are
    left to it: Django closes them when the transaction unwinds.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@contextmanager
def connection_lost_is_a_command_error(message: str) -> Iterator[None]:
    """Turn a lost database into a CommandError saying `message`.

    `message` names what was lost and what that means for the work, e.g.
    "data.csv: the database connection was lost; nothing was imported."
    The driver's own text is left out: it may quote the statement, and with
    it the data being written.
    """
    try:
        yield
    except DATABASE_ERRORS as exc:
        drop_broken_connections()
        logger.warning("command stopped: database unavailable (%s)", type(exc).__name__)
        raise CommandError(message) from None
