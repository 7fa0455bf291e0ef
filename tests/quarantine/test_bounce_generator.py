"""The generator behind the 10,000-message timing writes messages that
import as their fixtures do."""

import pytest
from django.core.management import call_command

from delivery.quarantine.models import Bounce

from .bounce_generator import write_maildir, write_mbox

pytestmark = pytest.mark.django_db


def test_a_generated_mbox_imports_with_the_expected_kinds(tmp_path):
    kinds = write_mbox(tmp_path / "bounces.mbox", 60)

    call_command("import_bounces", str(tmp_path / "bounces.mbox"), verbosity=0)

    imported = {
        kind: Bounce.objects.filter(kind=kind).count()
        for kind in ("hard", "soft", "ignored")
    }
    assert imported == {kind: kinds[kind] for kind in ("hard", "soft", "ignored")}
    assert kinds["not a bounce"] == 8


def test_a_generated_maildir_repeats_addresses_when_asked(tmp_path):
    write_maildir(tmp_path / "Maildir", 30, distinct_addresses=10)

    call_command("import_bounces", str(tmp_path / "Maildir"), verbosity=0)

    assert Bounce.objects.values("address").distinct().count() == 10
