"""URL patterns, mounted by studio/urls.py at /v1/, /v2/ and /settings/api-keys/."""

from __future__ import annotations

from django.urls import path, re_path

from studio.api import views

# Anything else under /v1/ or /v2/ answers with a JSON 404, not the site's HTML page
# (newlines included: `.` would not match them).
catch_all = re_path(r"^(?P<rest>[\s\S]*)$", views.not_found)

v1 = (
    [
        path("models", views.models_list, name="models"),
        path("models/<path:model_id>", views.model_detail, name="model"),
        path("images/generations", views.image_generations, name="image_generations"),
        path("images/edits", views.image_edits, name="image_edits"),
        path("openapi.json", views.openapi_document, name="openapi"),
        path("docs", views.api_docs, name="docs"),
        catch_all,
    ],
    "api_v1",
)

v2 = (
    [
        path("images/generate", views.generate, name="generate"),
        path("jobs", views.jobs_list, name="jobs"),
        path("jobs/<str:job_id>", views.job_detail, name="job"),
        path("jobs/<str:job_id>/cancel", views.job_cancel, name="job_cancel"),
        path("files/<str:token>", views.signed_image, name="signed_image"),
        catch_all,
    ],
    "api_v2",
)

ui = (
    [
        path("", views.api_keys, name="keys"),
        path("<int:pk>/revoke/", views.api_key_revoke, name="revoke"),
        path("<int:pk>/rotate-secret/", views.api_key_rotate_secret, name="rotate_secret"),
        path("deliveries/", views.webhook_deliveries, name="deliveries"),
    ],
    "api_ui",
)
