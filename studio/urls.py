from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from studio import input_links

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("studio.account_urls")),
    path("gallery/", include("gallery.urls")),
    # Signed links a provider fetches references from (no session: the signature is the key).
    path("inputs/<str:name>", input_links.job_input_link, name="job_input_link"),
    path("", include("studio.studio_urls")),
]
