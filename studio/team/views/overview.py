"""The team overview (everyone), switching teams, and deleting the team (its owner)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.http import add_form_errors
from studio.models import Membership, Role
from studio.selectors import team as team_selectors
from studio.services import reports, team_admin
from studio.services.errors import PermissionDenied, StudioError
from studio.team.forms import DeleteTeamForm
from studio.team.views.common import TeamRequest, error_status, forbidden, member_required


@require_GET
@member_required
def overview(request: TeamRequest) -> HttpResponse:
    membership = request.membership
    usage = reports.month_usage(team=membership.team).get(membership.user_id, reports.MemberUsage())
    teams = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    return render(
        request,
        "team/overview.html",
        {"usage": usage, "my_teams": teams, "refilled": team_selectors.refilled_this_month(membership=membership)},
    )


@require_POST
@login_not_required
def switch(request: TeamRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(f"{reverse('login')}?next={reverse('team:overview')}")
    try:
        team_id = int(request.POST.get("team", ""))
        membership = team_admin.switch_team(user=request.user, team_id=team_id)
    except (ValueError, PermissionDenied):
        return render(request, "team/forbidden.html", {"message": "You are not a member of that team."}, status=404)
    messages.success(request, f"You are now working in {membership.team.name}.")
    return redirect("studio:home")


# -- deleting the team ---------------------------------------------------------------
@require_http_methods(["GET", "POST"])
@member_required
def delete_team(request: TeamRequest) -> HttpResponse:
    if request.membership.role != Role.OWNER:
        return forbidden(request, "Only the team owner can delete the team.")
    team = request.membership.team
    form = DeleteTeamForm(request.POST or None)
    context = {"form": form, "active_jobs": team_selectors.active_job_count(team=team)}
    if request.method == "GET":
        return render(request, "team/delete.html", context)
    if form.is_valid():
        try:
            team_admin.delete_team(actor=request.membership, confirm=form.cleaned_data["confirm"])
        except StudioError as exc:
            add_form_errors(form, exc)
            return render(request, "team/delete.html", context, status=error_status(exc))
        messages.success(request, f"{team.name} was deleted. Its ledger, jobs and images are kept as records.")
        return redirect("studio:home")
    return render(request, "team/delete.html", context, status=400)
