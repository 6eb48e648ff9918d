"""Mounted at the site root by studio/urls.py (before the admin, for admin/status/)."""

from __future__ import annotations

from django.urls import path

from studio.ops import views

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("admin/status/", views.status_page, name="ops_status"),
]
