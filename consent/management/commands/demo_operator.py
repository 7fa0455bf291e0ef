import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from consent.groups import OPERATORS, sync_operator_groups

USERNAME = "operator"


class Command(BaseCommand):
    help = (
        "Create the demo operator, or give it a new password, and print how "
        "to log in. For local runs only: the password changes on every call."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--url", default="http://127.0.0.1:8000", help="Where the console runs."
        )

    def handle(self, *args, url: str, **options):
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            sync_operator_groups()
            user, _created = get_user_model().objects.get_or_create(
                username=USERNAME, defaults={"is_staff": True}
            )
            user.is_staff = True
            user.is_active = True
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=OPERATORS))

        admin_url = f"{url.rstrip('/')}/admin/"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("The consent console is starting."))
        self.stdout.write(f"  Open      {admin_url}")
        self.stdout.write(f"  Log in as {USERNAME}")
        self.stdout.write(f"  Password  {password}   (new on every `make run`)")
        self.stdout.write("")
