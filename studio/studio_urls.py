from __future__ import annotations

from django.urls import path

from studio import views

app_name = "studio"
urlpatterns = [
    path("", views.home, name="home"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:public_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("credits/", views.my_credits, name="credits"),
]
