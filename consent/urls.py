"""The public landing pages, all under p/ (see README, "Landing pages")."""

from django.urls import path

from consent import views

app_name = "consent"

urlpatterns = [
    path("p/subscribe/<str:service_name>/", views.subscribe, name="subscribe"),
    path("p/confirm/<str:token>/", views.confirm, name="confirm"),
    path("p/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("p/stop/<str:token>/", views.stop_all, name="stop_all"),
    path("p/preferences/<str:token>/", views.preferences, name="preferences"),
]
