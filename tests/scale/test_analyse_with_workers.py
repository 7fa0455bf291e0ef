"""The admin's Analyse with a broker: a Celery worker analyses, not the
web request.

A real `celery worker` process runs against Redis and this run's database.
It is started after the operator presses Analyse, so the page is seen in
the state an operator sees while a large target is being analysed.
"""

import re

from django.urls import reverse

from consent.models import Profile
from delivery import actions
from delivery.models import Delivery, Recipient
from tests.scale.conftest import wait_for


def text_of(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def draft_delivery() -> Delivery:
    for n in range(5):
        Profile.objects.create(email=f"reader{n}@example.com")
    Profile.objects.create(email="gone@example.com", no_longer_contact=True)
    return actions.create_delivery(
        label="Winter news", channel="email", subject="News", body="Hi"
    )


def analyse_url(delivery) -> str:
    return reverse("admin:delivery_delivery_analyse", args=[delivery.pk])


def test_analyse_is_queued_and_a_worker_writes_the_report(
    start_worker, client, consent_operator
):
    delivery = draft_delivery()
    client.force_login(consent_operator)

    response = client.post(analyse_url(delivery), follow=True)

    page = text_of(response)
    assert "Analysis queued: a worker is analysing the delivery." in page
    assert "this page reloads until it is done" in page
    assert b'http-equiv="refresh"' in response.content
    queued = Delivery.objects.get(pk=delivery.pk)
    assert queued.status == Delivery.Status.DRAFT
    assert queued.analysis_queued_at is not None
    assert not Recipient.objects.filter(delivery=delivery).exists()

    start_worker("analyst")

    def delivery_is_analysed():
        """the worker to analyse the delivery"""
        return Delivery.objects.get(pk=delivery.pk).status == "analysed"

    wait_for(delivery_is_analysed)
    analysed = Delivery.objects.get(pk=delivery.pk)
    assert (analysed.target_count, analysed.to_send_count) == (6, 5)
    assert analysed.analysed_by == consent_operator
    assert analysed.analysis_queued_at is None
    page = client.get(
        reverse("admin:delivery_delivery_change", args=[delivery.pk])
    ).content
    assert b"reloads until it is done" not in page
    assert b'http-equiv="refresh"' not in page


def test_a_queued_analysis_of_a_delivery_sent_meanwhile_is_dropped(
    start_worker, client, consent_operator
):
    delivery = draft_delivery()
    client.force_login(consent_operator)
    client.post(analyse_url(delivery))
    # Before the worker runs, the delivery is analysed here and sending
    # starts: the queued analysis must not replace what is being sent.
    actions.analyze_delivery(delivery=delivery)
    actions.start_sending(delivery=delivery)

    worker = start_worker("analyst")

    def the_task_is_done():
        """the worker to finish the queued analysis"""
        return worker.tasks_done() == 1

    wait_for(the_task_is_done)
    current = Delivery.objects.get(pk=delivery.pk)
    assert current.status == Delivery.Status.SENDING
    assert current.analysis_queued_at is None
    assert Recipient.objects.filter(delivery=delivery, status="pending").count() == 5


def test_an_unreachable_broker_analyses_in_the_request(
    transactional_db, settings, client, consent_operator
):
    delivery = draft_delivery()
    # Nothing listens on port 9 of loopback.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/15"
    client.force_login(consent_operator)

    response = client.post(analyse_url(delivery), follow=True)

    assert "Analysed: 6 profiles targeted, 5 to send, 1 excluded." in text_of(response)
    analysed = Delivery.objects.get(pk=delivery.pk)
    assert analysed.status == Delivery.Status.ANALYSED
    assert analysed.analysis_queued_at is None
