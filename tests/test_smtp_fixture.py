from django.core.mail import send_mail


def test_mail_sent_through_django_arrives_at_the_loopback_server(smtp_server):
    send_mail("Hello", "Body text", "from@example.test", ["to@example.test"])

    assert len(smtp_server.messages) == 1
    message = smtp_server.messages[0]
    assert message["Subject"] == "Hello"
    assert message.get_content().strip() == "Body text"
    assert smtp_server.envelopes[0][1] == ["to@example.test"]
