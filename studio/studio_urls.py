from __future__ import annotations

from django.urls import path

from studio import views

app_name = "studio"
urlpatterns = [
    path("", views.home, name="home"),
    path("compare/", views.compare, name="compare"),
    path("batch/", views.batch, name="batch"),
    path("batches/<uuid:batch_id>/", views.batch_detail, name="batch_detail"),
    path("templates/", views.prompt_templates, name="templates"),
    path("templates/<slug:slug>/", views.prompt_template, name="template"),
    path("jobs/<uuid:public_id>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:public_id>/refine/", views.job_refine, name="job_refine"),
    path("jobs/<uuid:public_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<uuid:public_id>/preview/", views.job_preview, name="job_preview"),
    path("jobs/<uuid:public_id>/state/", views.job_state, name="job_state"),
    path("credits/", views.my_credits, name="credits"),
]
