from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("studio.account_urls")),
    path("gallery/", include("gallery.urls")),
    path("", include("studio.studio_urls")),
]
