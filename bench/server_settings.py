"""Settings of the server that serves the one-click baseline view.

The project's settings, with a URLconf that adds bench.views' baseline.
Only `make bench` starts a server with these (DJANGO_SETTINGS_MODULE=
bench.server_settings); no normal run can reach the baseline view.
"""

from campaign.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
