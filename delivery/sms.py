"""A small interface for sending text messages, and two backends.

settings.SMS_BACKEND names the class; a provider's backend subclasses
BaseSmsBackend and implements send(). Like Django's e-mail backends, one
backend instance is opened once per batch and reused for its messages.
"""

import sys
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SmsMessage:
    to: str  # E.164
    body: str
    # The recipient row's id, for providers that report back per message.
    reference: str = ""


class SmsError(Exception):
    """The provider refused one message.

    `permanent` says whether the number itself is at fault (it does not
    exist, it cannot receive text messages): that quarantines it at once.
    """

    def __init__(self, message: str, *, permanent: bool, code: str = ""):
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class BaseSmsBackend:
    def __init__(self, **kwargs):
        self.options = kwargs

    def open(self) -> None:
        """Open a connection to the provider, if it has one."""

    def close(self) -> None:
        """Close what open() opened."""

    def send(self, message: SmsMessage) -> None:
        """Send one message or raise SmsError."""
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc_info):
        self.close()


class ConsoleSmsBackend(BaseSmsBackend):
    """Print each message, for development: nothing leaves the machine."""

    def __init__(self, *, stream=None, **kwargs):
        super().__init__(**kwargs)
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, message: SmsMessage) -> None:
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(f"SMS to {message.to}\n{message.body}\n{'-' * 40}\n")
            stream.flush()


# What the in-memory backend sent, like django.core.mail.outbox.
outbox: list[SmsMessage] = []


class LocmemSmsBackend(BaseSmsBackend):
    """Keep messages in delivery.sms.outbox, for tests and demonstrations."""

    def send(self, message: SmsMessage) -> None:
        outbox.append(message)


def get_sms_backend(**kwargs) -> BaseSmsBackend:
    """An instance of the backend settings.SMS_BACKEND names."""
    return import_string(settings.SMS_BACKEND)(**kwargs)
