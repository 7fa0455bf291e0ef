"""Turn a delivery's templates into one message per recipient.

Operators write the subject and body in Django's template language with a
few variables. They are compiled once per batch by an engine that can load
no other template and knows only the built-in tags and filters, and
rendered as plain text; the HTML part of an e-mail is built from that text.
"""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.template import Context, Engine, Template, TemplateSyntaxError
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from consent.models import Profile

# No loaders and no directories: {% include %} and {% extends %} find
# nothing, so a message can only show what its context holds.
_engine = Engine(dirs=[], app_dirs=False, loaders=[], autoescape=False)

VARIABLES = ("first_name", "last_name", "full_name", "unsubscribe_url")


def compile_template(source: str, *, field: str) -> Template:
    """Compile an operator's template or raise ValidationError on `field`."""
    try:
        return _engine.from_string(source or "")
    except TemplateSyntaxError as exc:
        raise ValidationError(
            {field: _("This template has an error: %(error)s") % {"error": exc}}
        ) from None


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MessageContent:
    """A delivery's compiled subject and body, rendered per recipient."""

    def __init__(self, *, subject: str, body: str, channel: str):
        self.channel = channel
        self.subject = compile_template(subject, field="subject")
        self.body = compile_template(body, field="body")

    def render(self, profile: Profile, *, unsubscribe_url: str) -> Rendered:
        context = Context(
            {
                "first_name": profile.first_name,
                "last_name": profile.last_name,
                "full_name": f"{profile.first_name} {profile.last_name}".strip(),
                "unsubscribe_url": unsubscribe_url,
            },
            autoescape=False,
        )
        body = self.body.render(context).strip()
        if self.channel != "email":
            # A text message must say how to stop them even when its author
            # forgot; the link is added once, at the end.
            if unsubscribe_url not in body:
                with translation.override(profile.language or None):
                    body = f"{body}\n{_('Stop:')} {unsubscribe_url}".strip()
            return Rendered(subject="", text=body, html="")

        # Headers are one line: a newline in a rendered subject would be
        # refused by the mail library, so it becomes a space.
        subject = " ".join(self.subject.render(context).split())
        with translation.override(profile.language or None):
            page = {"body": body, "unsubscribe_url": unsubscribe_url}
            text = render_to_string("email/delivery_message.txt", page)
            html = render_to_string(
                "email/delivery_message.html", {**page, "subject": subject}
            )
        return Rendered(subject=subject, text=text, html=html)
