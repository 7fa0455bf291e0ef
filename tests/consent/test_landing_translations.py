"""Both languages ship ready: a fresh clone needs no gettext tools."""

import gettext
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core import mail

from consent.actions import Origin, subscribe
from consent.links import preferences_url, stop_all_url, unsubscribe_url
from consent.models import Subscription
from tests.consent.landing_support import path, subscribe_form

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "pt_BR" / "LC_MESSAGES"


def test_the_compiled_catalogue_matches_its_source():
    source = polib.pofile(str(CATALOGUE / "django.po"))
    with open(CATALOGUE / "django.mo", "rb") as compiled_file:
        compiled = gettext.GNUTranslations(compiled_file)

    for entry in source.translated_entries():
        if entry.msgid_plural:
            assert (
                compiled.ngettext(entry.msgid, entry.msgid_plural, 1)
                == (entry.msgstr_plural[0])
            )
            assert (
                compiled.ngettext(entry.msgid, entry.msgid_plural, 2)
                == (entry.msgstr_plural[1])
            )
        else:
            assert compiled.gettext(entry.msgid) == entry.msgstr, entry.msgid


def test_every_string_of_the_catalogue_is_translated():
    source = polib.pofile(str(CATALOGUE / "django.po"))

    assert source.untranslated_entries() == []
    assert source.fuzzy_entries() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "title", "text"),
    [
        ("en", "Your preferences", "How we may contact you"),
        ("pt-br", "Suas preferências", "Como podemos contatar você"),
    ],
)
def test_the_preference_centre_speaks_the_profile_language(
    client, make_profile, newsletter, language, title, text
):
    profile = make_profile(email="ana@example.com", language=language)

    response = client.get(path(preferences_url(profile)))

    body = response.content.decode()
    assert f"<title>{title}</title>" in body
    assert text in body
    assert f'<html lang="{language}">' in body


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("en", "Stop all messages"),
        ("pt-br", "Parar todas as mensagens"),
    ],
)
def test_the_stop_page_speaks_the_profile_language(
    client, make_profile, language, text
):
    profile = make_profile(email="ana@example.com", language=language)

    body = client.get(path(stop_all_url(profile))).content.decode()

    assert f'<h1 class="h3 mb-3">{text}</h1>' in body


@pytest.mark.django_db
def test_a_page_without_a_profile_follows_the_browser(client, newsletter):
    response = client.get(
        "/p/subscribe/news/", HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.8,en;q=0.5"
    )

    body = response.content.decode()
    assert "<title>Inscreva-se em Weekly news</title>" in body
    assert "Endereço de e-mail" in body
    assert "Inscrever-me" in body


@pytest.mark.django_db
def test_a_new_profile_keeps_the_language_of_the_page(client, newsletter):
    client.post("/p/subscribe/news/", subscribe_form(), HTTP_ACCEPT_LANGUAGE="pt-br")

    assert Subscription.objects.get().profile.language == "pt-br"


@pytest.mark.django_db
def test_the_unsubscribe_page_in_portuguese_names_the_channel_in_portuguese(
    client, make_profile
):
    profile = make_profile(email="ana@example.com", language="pt-br")

    body = client.get(
        path(unsubscribe_url(profile, channel="direct_mail"))
    ).content.decode()

    assert "Cancelar mensagens por correio" in body
    assert "Parar todas as mensagens por correio" in body


@pytest.mark.django_db
def test_the_confirmation_mail_is_written_in_the_profile_language(
    make_profile, confirmed_news, django_capture_on_commit_callbacks, mailoutbox
):
    profile = make_profile(email="ana@example.com", language="pt-br")

    with django_capture_on_commit_callbacks(execute=True):
        subscribe(
            profile=profile,
            service=confirmed_news,
            origin=Origin("landing_page"),
            double_opt_in=True,
        )

    (message,) = mail.outbox
    assert message.subject == "Confirme sua inscrição em Deals"
    assert "Para confirmar, abra este link" in message.body
