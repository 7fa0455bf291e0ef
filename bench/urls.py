"""The project's URLs plus the one-click baseline (bench.server_settings)."""

from django.urls import path

from bench import views
from campaign.urls import handler400, handler403, handler404, handler500  # noqa: F401
from campaign.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path(
        "bench/one-click/<uuid:public_id>/",
        views.one_click_baseline,
        name="bench_one_click",
    ),
    *project_urlpatterns,
]
