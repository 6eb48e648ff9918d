"""Spend reports with their charts, and the audit trail (owners and admins)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studio.models import AuditEvent
from studio.selectors import team as team_selectors
from studio.team.forms import AuditFilterForm, ReportForm
from studio.team.views.common import TeamRequest, manager_required

AUDIT_PAGE_SIZE = 50


@require_GET
@manager_required
def reports_page(request: TeamRequest) -> HttpResponse:
    form = ReportForm(request.GET or None)
    days = form.cleaned_data["days"] if form.is_bound and form.is_valid() else 30
    status = 400 if form.is_bound and not form.is_valid() else 200
    context = {"form": form, **team_selectors.spend_charts(team=request.membership.team, days=days)}
    if request.htmx and request.htmx.target == "report":
        return render(request, "team/reports.html#report", context, status=status)
    return render(request, "team/reports.html", context, status=status)


# -- audit trail ----------------------------------------------------------------------------------
@require_GET
@manager_required
def audit(request: TeamRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    status = 200
    events = team_selectors.audit_events(team=request.membership.team)
    if form.is_bound:
        if form.is_valid():
            events = team_selectors.audit_events(team=request.membership.team, action=form.cleaned_data["action"])
        else:
            status, events = 400, AuditEvent.objects.none()
    page = Paginator(events, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "team/audit.html", {"form": form, "page": page}, status=status)
