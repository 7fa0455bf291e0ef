"""Less common shapes of delivery status reports."""

import base64

from delivery.quarantine.bounces import read_report

STATUS = (
    "Reporting-MTA: dns; mx.example.net\r\n"
    "\r\n"
    "Original-Recipient: rfc822;sent.to@example.com\r\n"
    "Final-Recipient: rfc822;alias.target@example.net\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
)


def report(status_type: str, encoding: str, body: bytes) -> bytes:
    head = (
        "From: MAILER-DAEMON@mx.example.net\r\n"
        "To: bounces@sender.example\r\n"
        "Subject: Undelivered Mail\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0000\r\n"
        "Message-ID: <report@mx.example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message failed.\r\n"
        f"--B\r\nContent-Type: {status_type}\r\n"
        f"Content-Transfer-Encoding: {encoding}\r\n\r\n"
    ).encode()
    return head + body + b"\r\n--B--\r\n"


def test_the_original_recipient_is_preferred_to_the_final_one():
    parsed = read_report(report("message/delivery-status", "7bit", STATUS.encode()))

    assert [r.address for r in parsed.recipients] == ["sent.to@example.com"]


def test_a_base64_encoded_status_part_is_decoded():
    parsed = read_report(
        report(
            "message/delivery-status",
            "base64",
            base64.encodebytes(STATUS.encode()),
        )
    )

    assert [(r.address, r.kind, r.status) for r in parsed.recipients] == [
        ("sent.to@example.com", "hard", "5.1.1")
    ]


def test_the_global_form_with_a_utf8_address_is_read():
    body = STATUS.replace("rfc822;sent.to@example.com", "utf-8;josé@example.com")

    parsed = read_report(
        report("message/global-delivery-status", "8bit", body.encode())
    )

    assert [(r.address, r.kind) for r in parsed.recipients] == [
        ("josé@example.com", "hard")
    ]


def test_a_report_without_a_message_id_is_identified_by_its_content():
    data = report("message/delivery-status", "7bit", STATUS.encode()).replace(
        b"Message-ID: <report@mx.example.net>\r\n", b""
    )

    first, second = read_report(data), read_report(data)

    assert first.message_id == second.message_id
    assert first.message_id.startswith("sha256:")
