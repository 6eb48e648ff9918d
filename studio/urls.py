from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path

from studio import input_links
from studio.api import urls as api_urls


@login_not_required
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request: with the manifest storage, the hashed name exists only after collectstatic.
    return HttpResponsePermanentRedirect(static("favicon.svg"))


urlpatterns = [
    # healthz, readyz, metrics and admin/status/ (before the admin claims admin/).
    path("", include("studio.ops.urls")),
    # Browsers ask for /favicon.ico on pages that name no icon (JSON, files): point them at ours.
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("studio.account_urls")),
    path("gallery/", include("gallery.urls")),
    path("team/", include("studio.team.urls")),
    path("v1/", include(api_urls.v1)),
    path("v2/", include(api_urls.v2)),
    path("settings/api-keys/", include(api_urls.ui)),
    # Signed links a provider fetches references from (no session: the signature is the key).
    path("inputs/<str:name>", input_links.job_input_link, name="job_input_link"),
    path("", include("studio.studio_urls")),
]
