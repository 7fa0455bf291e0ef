"""The Celery app: delivery batches run by workers, with a broker.

Start a worker with `celery -A campaign worker`. Its settings are the
project's (CELERY_* names, see README "Running at scale"); tasks are found
in each app's tasks.py. Without CELERY_BROKER_URL (or REDIS_URL) nothing
here is used: batches run in the process that sends.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings")

app = Celery("campaign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
