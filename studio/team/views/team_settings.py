"""The team's settings (its owner): for now, whether owners and admins need two-factor sign-in."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studio.http import add_form_errors
from studio.models import Role
from studio.services import two_factor
from studio.services.errors import StudioError
from studio.team.forms import TeamSettingsForm
from studio.team.views.common import TeamRequest, error_status, forbidden, member_required


@require_http_methods(["GET", "POST"])
@member_required
def team_settings(request: TeamRequest) -> HttpResponse:
    if request.membership.role != Role.OWNER:
        return forbidden(request, "Only the team owner can change the team's settings.")
    team = request.membership.team
    # Bound on every POST: an unticked box sends nothing, and an empty form still means "off".
    form = TeamSettingsForm(
        request.POST if request.method == "POST" else None, initial={"require_two_factor": team.require_two_factor}
    )
    if request.method == "GET":
        return render(request, "team/settings.html", {"form": form})
    status = 400
    if form.is_valid():
        try:
            two_factor.set_require_two_factor(actor=request.membership, required=form.cleaned_data["require_two_factor"])
        except StudioError as exc:
            add_form_errors(form, exc)
            status = error_status(exc)
        else:
            messages.success(request, "Settings saved.")
            return redirect("team:settings")
    return render(request, "team/settings.html", {"form": form}, status=status)
