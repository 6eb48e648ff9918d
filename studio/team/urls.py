from __future__ import annotations

from django.urls import path

from studio.team.views import access, credits, ledger, members, overview, reports, team_settings

app_name = "team"
urlpatterns = [
    path("", overview.overview, name="overview"),
    path("switch/", overview.switch, name="switch"),
    path("members/", members.members, name="members"),
    path("members/invite/", members.member_invite, name="member_invite"),
    path("members/<int:member_id>/role/", members.member_role, name="member_role"),
    path("members/<int:member_id>/remove/", members.member_remove, name="member_remove"),
    path("members/<int:member_id>/limits/", credits.member_limits, name="member_limits"),
    path("members/concurrency/", members.member_concurrency, name="member_concurrency"),
    path("invitations/<int:invitation_id>/revoke/", members.invitation_revoke, name="invitation_revoke"),
    path("invite/<str:token>/", members.invitation, name="invitation"),
    path("credits/", credits.credits_page, name="credits"),
    path("credits/grant/", credits.credits_grant, name="credits_grant"),
    path("credits/revoke/", credits.credits_revoke, name="credits_revoke"),
    path("access/", access.access_page, name="access"),
    path("access/tier/", access.access_tier, name="access_tier"),
    path("access/model/", access.access_model, name="access_model"),
    path("ledger/", ledger.ledger, name="ledger"),
    path("ledger.csv", ledger.ledger_csv, name="ledger_csv"),
    path("reports/", reports.reports_page, name="reports"),
    path("audit/", reports.audit, name="audit"),
    path("settings/", team_settings.team_settings, name="settings"),
    path("delete/", overview.delete_team, name="delete"),
]
