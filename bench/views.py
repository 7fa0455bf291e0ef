"""The baseline the one-click endpoint is measured against.

The least a one-click unsubscribe can do: the same two writes (the opt-out
flag, one ledger row) in raw SQL, in one transaction, behind the same
middleware and server, with no token to check and no ORM. Served only by
bench.server_settings.
"""

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


@csrf_exempt
@require_POST
def one_click_baseline(request: HttpRequest, public_id) -> HttpResponse:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_profile SET email_opt_out = true "
            "WHERE public_id = %s AND NOT email_opt_out RETURNING id",
            [public_id],
        )
        changed = cursor.fetchone()
        if changed:
            cursor.execute(
                "INSERT INTO consent_consentevent (profile_id, action, channel, "
                "source, ip_address, user_agent, wording, note, created_at) "
                "VALUES (%s, 'opt_out', 'email', 'one_click', %s, %s, '', '', now())",
                [
                    changed[0],
                    request.META.get("REMOTE_ADDR"),
                    request.META.get("HTTP_USER_AGENT", "")[:1000],
                ],
            )
    return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")
