from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Consent console"
admin.site.site_title = "Consent console"
admin.site.index_title = "Profiles, consent and deliveries"

urlpatterns = [
    path("admin/", admin.site.urls),
    # E-mail provider tracking webhooks, e.g. webhooks/postmark/tracking/.
    path("webhooks/", include("delivery.quarantine.webhook_urls")),
    path("", include("consent.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]

# Error pages in the visitor's language, the landing pages' layout.
handler400 = "consent.views.bad_request"
handler403 = "consent.views.permission_denied"
handler404 = "consent.views.page_not_found"
handler500 = "consent.views.server_error"
