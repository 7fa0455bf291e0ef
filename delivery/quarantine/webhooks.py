"""E-mail provider events, received by django-anymail's tracking webhooks.

anymail authenticates the request (basic auth with ANYMAIL["WEBHOOK_SECRET"],
plus the provider's signature where it has one), normalises the provider's
payload and sends the `tracking` signal; this receiver turns each event into
quarantine and consent actions. It decides nothing itself: classify.py and
the actions apply the rules.
"""

import json
import logging

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.core.exceptions import ValidationError

from consent.actions import Origin, record_opt_out
from consent.addresses import normalize_email
from consent.models import ConsentEvent, Profile
from delivery.quarantine import actions
from delivery.quarantine.classify import classify
from delivery.quarantine.models import ErrorKind, Reason, StatusChange

logger = logging.getLogger(__name__)

SOURCE = StatusChange.Source.ESP_WEBHOOK

# A provider's refusal to send, by anymail's reject reason: (kind, reason).
# Only "invalid" says the address is bad; a suppression for an earlier
# bounce or a policy block says nothing new about it.
_REJECTIONS = {
    RejectReason.INVALID: (ErrorKind.HARD, Reason.USER_UNKNOWN),
    RejectReason.BOUNCED: (ErrorKind.SOFT, Reason.REFUSED),
    RejectReason.TIMED_OUT: (ErrorKind.SOFT, Reason.UNREACHABLE),
    RejectReason.BLOCKED: (ErrorKind.SOFT, Reason.REFUSED),
}


def handle_tracking_event(
    sender, event: AnymailTrackingEvent, esp_name: str, **kwargs
) -> None:
    """Receiver of anymail's `tracking` signal."""
    handler = _HANDLERS.get(event.event_type)
    if handler is None:
        return
    try:
        address = normalize_email(event.recipient or "")
    except ValidationError:
        # Answering with an error would only make the provider retry.
        logger.warning(
            "%s %s event %s has no valid recipient; ignored",
            esp_name,
            event.event_type,
            event.event_id or "without id",
        )
        return
    handler(event, esp_name, address)


def _bounced(event: AnymailTrackingEvent, esp_name: str, address: str) -> None:
    response = event.mta_response or ""
    result = classify(diagnostic=response)
    if result.reason == Reason.UNKNOWN and event.description:
        # The provider's own words help when the server's reply says nothing.
        response = f"{response} {event.description}".strip()
        result = classify(diagnostic=response)
    _record(
        event, esp_name, address, result.kind, result.reason, response, result.status
    )


def _rejected(event: AnymailTrackingEvent, esp_name: str, address: str) -> None:
    if event.reject_reason == RejectReason.SPAM:
        _complained(event, esp_name, address)
        return
    if event.reject_reason == RejectReason.UNSUBSCRIBED:
        _unsubscribed(event, esp_name, address)
        return
    kind, reason = _REJECTIONS.get(
        event.reject_reason, (ErrorKind.SOFT, Reason.REFUSED)
    )
    diagnostic = " ".join(
        part
        for part in (
            f"rejected by {esp_name} ({event.reject_reason or 'no reason given'})",
            event.description or "",
            event.mta_response or "",
        )
        if part
    )
    _record(event, esp_name, address, kind, reason, diagnostic, "")


def _complained(event: AnymailTrackingEvent, esp_name: str, address: str) -> None:
    if _is_spam_filter_notice(event):
        # The receiving server's filter judged the message, not the person:
        # a rejection of the sender, soft like the others.
        diagnostic = event.description or "classified as spam by a filter"
        _record(
            event, esp_name, address, ErrorKind.SOFT, Reason.REFUSED, diagnostic, ""
        )
        return
    changed = actions.record_complaint(
        address=address,
        channel="email",
        source=SOURCE,
        note=f"spam complaint reported by {esp_name}",
    )
    logger.info(
        "%s complaint event %s: address denylisted %s",
        esp_name,
        event.event_id or "without id",
        changed,
    )


def _unsubscribed(event: AnymailTrackingEvent, esp_name: str, address: str) -> None:
    origin = Origin(
        source=ConsentEvent.Source.ESP_WEBHOOK,
        note=f"unsubscribe reported by {esp_name}",
    )
    changed = 0
    # Every profile with the address: the person unsubscribed the address.
    for profile in Profile.objects.filter(email=address).order_by("pk"):
        changed += record_opt_out(profile=profile, channel="email", origin=origin)
    logger.info(
        "%s unsubscribe event %s: %s profiles opted out of e-mail",
        esp_name,
        event.event_id or "without id",
        changed,
    )


def _delivered(event: AnymailTrackingEvent, esp_name: str, address: str) -> None:
    actions.record_success(address=address, channel="email")


def _record(
    event: AnymailTrackingEvent,
    esp_name: str,
    address: str,
    kind: str,
    reason: str,
    diagnostic: str,
    status_code: str,
) -> None:
    # A provider retries a webhook it thinks failed: its event id keeps the
    # retry from counting twice.
    report_id = (
        f"{esp_name}:{event.event_id}" if event.event_id else event.message_id or ""
    )
    actions.apply_error(
        address=address,
        channel="email",
        kind=kind,
        reason=reason,
        source=SOURCE,
        diagnostic=diagnostic,
        status_code=status_code,
        origin=f"{esp_name} {event.event_type} event {event.event_id or ''}".strip(),
        raw=_as_text(event.esp_event),
        message_id=report_id,
        occurred_at=event.timestamp,
    )


def _is_spam_filter_notice(event: AnymailTrackingEvent) -> bool:
    """Postmark reports a spam filter's verdict as a complaint too."""
    payload = event.esp_event
    return isinstance(payload, dict) and payload.get("Type") == "SpamNotification"


def _as_text(payload) -> str:
    try:
        return json.dumps(payload, default=str, ensure_ascii=False, indent=1)
    except (TypeError, ValueError):
        return str(payload)


_HANDLERS = {
    EventType.BOUNCED: _bounced,
    EventType.REJECTED: _rejected,
    EventType.COMPLAINED: _complained,
    EventType.UNSUBSCRIBED: _unsubscribed,
    EventType.DELIVERED: _delivered,
}
