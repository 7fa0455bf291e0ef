"""Sections other apps add to the admin's profile page.

The consent app owns the profile page but not quarantine or deliveries.
Each of those apps registers a panel from its admin module: a template and a
function that builds its context from the profile, so the page shows them
without the consent app importing theirs.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest

from consent.models import Profile

PanelContext = Callable[[HttpRequest, Profile], dict]


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    context: PanelContext
    order: int = 100


_panels: dict[str, Panel] = {}


def register_panel(panel: Panel) -> None:
    """Add a panel to the profile page; registering a key again replaces it."""
    _panels[panel.key] = panel


def render_context(request: HttpRequest, profile: Profile) -> list[dict]:
    """Each panel's title, template and context, in page order."""
    return [
        {
            "key": panel.key,
            "title": panel.title,
            "template": panel.template,
            "context": panel.context(request, profile),
        }
        for panel in sorted(_panels.values(), key=lambda p: (p.order, p.key))
    ]
