"""A real Redis broker, real Celery worker processes and a loopback SMTP
server for the tests of sending at scale.

Workers run `celery -A campaign worker --pool=solo` in a process of their
own, on the test run's database (a file on SQLite, see campaign.settings),
consuming a queue unique to the test so concurrent runs never share work.
Redis missing is a failure, never a skip: CI starts it (.ci/run).
"""

import email
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from email.policy import default
from pathlib import Path

import pytest
import redis
from django.db import connection

from campaign.celery import app as celery_app

PROJECT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
VISIBILITY_SECONDS = 2


@pytest.fixture
def broker(settings):
    """The Redis broker, with sending pointed at a queue of this test."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        pytest.fail(
            f"Redis is not reachable at {REDIS_URL} ({exc}); start it with "
            "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379` "
            "(CI does, in .ci/run)."
        )
    queue = f"scale-test-{uuid.uuid4().hex[:12]}"
    saved = celery_app.conf.task_default_queue
    settings.CELERY_BROKER_URL = REDIS_URL
    celery_app.conf.task_default_queue = queue
    yield queue
    celery_app.conf.task_default_queue = saved
    # The queue and the bindings kombu keeps for it.
    redis.Redis.from_url(REDIS_URL).delete(
        queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}"
    )


class Inbox:
    """Messages the loopback server accepted; `before_accepting(n)` runs
    as the n-th message arrives, before the server answers."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.recipients: Counter = Counter()
        self.before_accepting = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            arriving = len(self.messages) + 1
        if self.before_accepting is not None and self.before_accepting(arriving):
            return "451 Not accepted"
        with self._lock:
            self.messages.append(
                email.message_from_bytes(envelope.original_content, policy=default)
            )
            self.recipients.update(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def inbox():
    from aiosmtpd.controller import Controller

    received = Inbox()
    controller = Controller(received, hostname="127.0.0.1", port=_free_port())
    controller.start()
    received.port = controller.port
    yield received
    controller.stop()


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def tasks_done(self) -> int:
        return self.log.read_text(errors="replace").count("succeeded in")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_worker(broker, inbox, transactional_db, tmp_path):
    """Start a Celery worker process on this test's database and queue."""
    started: list[Worker] = []

    def start(name: str, *, dies_on_open: bool = False, send_slice: int = 3):
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "tests.scale.worker_settings",
            "SCALE_WORKER_DB": str(connection.settings_dict["NAME"]),
            "SCALE_WORKER_BROKER": REDIS_URL,
            "SCALE_WORKER_QUEUE": broker,
            "SCALE_WORKER_VISIBILITY": str(VISIBILITY_SECONDS),
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(inbox.port),
            "DELIVERY_SEND_SLICE": str(send_slice),
        }
        env.pop("SCALE_WORKER_DIES_ON_OPEN", None)
        if dies_on_open:
            env["SCALE_WORKER_DIES_ON_OPEN"] = "1"
        log = tmp_path / f"{name}.log"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "campaign",
                "worker",
                "--pool=solo",
                "--queues",
                broker,
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=PROJECT,
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        worker = Worker(process, log)
        started.append(worker)
        _wait_until_ready(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def _wait_until_ready(worker: Worker, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if " ready." in worker.log.read_text(errors="replace"):
            return
        if worker.process.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"the Celery worker did not start:\n{worker.log.read_text()[-3000:]}")


def wait_for(condition, seconds: float = 60, step: float = 0.2):
    """Poll until condition() is true; fail saying what did not happen."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(step)
    pytest.fail(f"waited {seconds} s in vain for {condition.__doc__}")
