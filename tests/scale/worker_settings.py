"""Settings of a Celery worker that a test starts in another process.

The project's settings, pointed at the test run's database (named by the
test in SCALE_WORKER_DB), the test's broker and queue, and a visibility
timeout of seconds, so a message a killed worker held comes back to the
next worker within the test.
"""

import os

from campaign.settings import *  # noqa: F403
from campaign.settings import DATABASES

DATABASES["default"]["NAME"] = os.environ["SCALE_WORKER_DB"]
CELERY_BROKER_URL = os.environ["SCALE_WORKER_BROKER"]
CELERY_TASK_DEFAULT_QUEUE = os.environ["SCALE_WORKER_QUEUE"]
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("SCALE_WORKER_VISIBILITY", "2"))
}
if os.environ.get("SCALE_WORKER_DIES_ON_OPEN"):
    EMAIL_BACKEND = "tests.scale.dying_backend.DiesOnOpen"
