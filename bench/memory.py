"""Peak memory of a process analysing a delivery, beside a bare Django one.

Each is its own `manage.py` process, started the way cron or an operator
starts it; its peak resident set size comes from the kernel's accounting
of that one child (os.wait4), so nothing of this bench process counts.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.report import Measure

MANAGE = Path(__file__).resolve().parent.parent / "manage.py"
TARGET_MIB = 200


def run_measured(arguments: list[str]) -> tuple[float, float, str]:
    """Run manage.py with `arguments`; return (peak MiB, seconds, stdout)."""
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(MANAGE), *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    # Read both pipes before waiting, so a chatty child cannot block.
    stdout, stderr = _drain(process)
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise RuntimeError(
            f"manage.py {' '.join(arguments)} failed ({process.returncode}): "
            f"{stderr.decode(errors='replace')[-2000:]}"
        )
    # Linux reports ru_maxrss in KiB.
    return usage.ru_maxrss / 1024, seconds, stdout.decode()


def _drain(process: subprocess.Popen) -> tuple[bytes, bytes]:
    chunks: dict[str, bytes] = {}

    def read(name: str, pipe) -> None:
        chunks[name] = pipe.read()
        pipe.close()

    readers = [
        threading.Thread(target=read, args=(name, pipe))
        for name, pipe in (("out", process.stdout), ("err", process.stderr))
    ]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    return chunks["out"], chunks["err"]


def measure(delivery_id: int) -> tuple[Measure, dict]:
    """Analyse the delivery in a process of its own and report its peak."""
    baseline, _seconds, _out = run_measured(["check"])
    peak, seconds, out = run_measured(["analyze_delivery", str(delivery_id), "--json"])
    contract = json.loads(out)
    return (
        Measure(
            name=f"analysing process, peak memory ({contract['target']:,} targeted)",
            value=peak,
            unit="MiB",
            baseline_name="manage.py check",
            baseline=baseline,
            ratio=peak / baseline,
            target=f"< {TARGET_MIB} MiB, flat in N",
            ok=peak < TARGET_MIB,
            note=(
                f"analyze_delivery {delivery_id} took {seconds:.1f} s as a "
                f"command (Django start-up included); {contract['to_send']:,} "
                "to send"
            ),
        ),
        {
            "peak_mib": round(peak, 1),
            "baseline_mib": round(baseline, 1),
            "command_seconds": round(seconds, 2),
            "analysis": contract,
        },
    )
