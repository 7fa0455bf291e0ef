from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Consent console"
admin.site.site_title = "Consent console"
admin.site.index_title = "Profiles, consent and deliveries"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
