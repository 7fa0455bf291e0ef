"""Server time of the admin pages an operator uses most, at N profiles.

Django's test Client runs the whole request (middleware, view, template)
in this process, so the time around a request is the server's time without
any network. Each page is fetched once to warm caches, then timed several
times; the median is kept.
"""

import statistics
import time

from django.contrib.auth import get_user_model
from django.test import Client

from bench.report import Measure
from bench.seed import BENCH_OPERATOR
from consent.models import Profile

REPEAT = 7
TARGET_MS = 300


def _median_ms(client: Client, url: str, data: dict | None = None) -> float:
    response = client.get(url, data)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    timings = []
    for _ in range(REPEAT):
        began = time.perf_counter()
        response = client.get(url, data)
        timings.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200
    return statistics.median(timings)


def measure(n: int) -> list[Measure]:
    operator = get_user_model().objects.get(username=BENCH_OPERATOR)
    client = Client()
    client.force_login(operator)

    # The baseline: a page that renders a template and touches no profile.
    baseline = _median_ms(Client(), "/admin/login/")

    # A profile in the middle of the table, with an e-mail address others
    # may share: the search and its page are the ones an operator opens.
    middle = (
        Profile.objects.filter(pk__gte=max(n // 2, 1))
        .exclude(email="")
        .order_by("pk")
        .values("pk", "email")
        .first()
    )
    pages = [
        ("admin: profile list", "/admin/consent/profile/", None),
        (
            "admin: search by e-mail",
            "/admin/consent/profile/",
            {"q": middle["email"].upper()},
        ),
        (
            "admin: profile page",
            f"/admin/consent/profile/{middle['pk']}/change/",
            None,
        ),
    ]
    measures = []
    for name, url, data in pages:
        value = _median_ms(client, url, data)
        measures.append(
            Measure(
                name=name,
                value=value,
                unit="ms",
                baseline_name="login page",
                baseline=baseline,
                ratio=value / baseline if baseline else None,
                target=f"< {TARGET_MS} ms",
                ok=value < TARGET_MS,
            )
        )
    return measures
