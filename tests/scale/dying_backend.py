"""An SMTP backend whose worker process dies the moment it connects.

send_batch opens the mail connection after claiming its recipients and
before marking any of them "being sent": a worker killed there holds claims
and has sent nothing. SIGKILL, like the kernel's OOM killer: no cleanup,
no acknowledgement of the task.
"""

import os
import signal

from django.core.mail.backends.smtp import EmailBackend


class DiesOnOpen(EmailBackend):
    def open(self):
        os.kill(os.getpid(), signal.SIGKILL)
