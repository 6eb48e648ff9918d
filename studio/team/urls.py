from __future__ import annotations

from django.urls import path

from studio.team import views

app_name = "team"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("switch/", views.switch, name="switch"),
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member_invite"),
    path("members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("members/<int:member_id>/limits/", views.member_limits, name="member_limits"),
    path("invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
    path("credits/", views.credits_page, name="credits"),
    path("credits/grant/", views.credits_grant, name="credits_grant"),
    path("credits/revoke/", views.credits_revoke, name="credits_revoke"),
    path("access/", views.access_page, name="access"),
    path("access/tier/", views.access_tier, name="access_tier"),
    path("access/model/", views.access_model, name="access_model"),
    path("ledger/", views.ledger, name="ledger"),
    path("ledger.csv", views.ledger_csv, name="ledger_csv"),
    path("reports/", views.reports_page, name="reports"),
    path("audit/", views.audit, name="audit"),
    path("delete/", views.delete_team, name="delete"),
]
