"""Members: the list, invitations (sent, revoked, accepted), roles and removal."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from studio.http import add_form_errors, service_errors
from studio.models import Invitation
from studio.selectors import team as team_selectors
from studio.services import team, team_admin
from studio.services.errors import StudioError
from studio.team.forms import ConcurrencyCapForm, InviteForm, RoleForm
from studio.team.views.common import TeamRequest, done, error_status, manager_required, member_of_team, respond


def _members_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    actor = request.membership
    row_errors: dict[int, str] = extra.pop("row_errors", {})
    rows = [
        {
            **row,
            "role_form": RoleForm(
                initial={"role": row["member"].role}, actor=actor, auto_id=f"id_m{row['member'].pk}_%s"
            ),
            "error": row_errors.get(row["member"].pk, ""),
        }
        for row in team_selectors.member_rows(actor=actor)
    ]
    context = {
        "rows": rows,
        "invitations": team_selectors.open_invitations(team=actor.team),
        "invite_form": InviteForm(actor=actor),
        "cap": actor.team.max_running_per_member,
        "cap_error": "",
        "max_cap": team.MAX_RUNNING_PER_MEMBER,
    }
    context.update(extra)
    return context


@require_GET
@manager_required
def members(request: TeamRequest) -> HttpResponse:
    return render(request, "team/members.html", _members_context(request))


@require_POST
@manager_required
def member_invite(request: TeamRequest) -> HttpResponse:
    form = InviteForm(request.POST, actor=request.membership)
    status = 400
    if form.is_valid():
        try:
            issued = team_admin.invite_member(
                actor=request.membership, role=form.cleaned_data["role"], email=form.cleaned_data["email"]
            )
        except StudioError as exc:
            add_form_errors(form, exc)
            status = error_status(exc)
        else:
            url = request.build_absolute_uri(reverse("team:invitation", args=[issued.token]))
            invitation = issued.invitation
            messages.success(
                request,
                f"Invitation link for a {invitation.role} (works once, for {team_admin.INVITATION_DAYS} days; "
                f"copy it now, it is not shown again): {url}",
            )
            if invitation.email:
                try:
                    team_admin.send_invitation_email(invitation=invitation, url=url)
                except Exception as exc:  # noqa: BLE001 - any mail backend failure; the link still works
                    messages.warning(
                        request, f"The email to {invitation.email} could not be sent ({exc}); share the link instead."
                    )
                else:
                    messages.info(request, f"Emailed the invitation to {invitation.email}.")
            return done(
                request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request)
            )
    return respond(
        request, "team/members.html", "members-panel", _members_context(request, invite_form=form), status=status
    )


@require_POST
@manager_required
def member_role(request: TeamRequest, member_id: int) -> HttpResponse:
    target = member_of_team(request, member_id)
    form = RoleForm(request.POST, actor=request.membership)
    if not form.is_valid():
        return respond(
            request,
            "team/members.html",
            "members-panel",
            _members_context(request, row_errors={target.pk: "Choose one of the roles offered."}),
            status=400,
        )
    try:
        updated = team_admin.change_role(actor=request.membership, target=target, role=form.cleaned_data["role"])
    except StudioError as exc:
        return respond(
            request,
            "team/members.html",
            "members-panel",
            _members_context(request, row_errors={target.pk: exc.message}),
            status=error_status(exc),
        )
    messages.success(request, f"{updated.user.get_username()} is now {updated.get_role_display().lower()}.")
    return done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_POST
@manager_required
def member_remove(request: TeamRequest, member_id: int) -> HttpResponse:
    target = member_of_team(request, member_id)
    try:
        returned = team_admin.remove_member(actor=request.membership, target=target)
    except StudioError as exc:
        return respond(
            request,
            "team/members.html",
            "members-panel",
            _members_context(request, row_errors={target.pk: exc.message}),
            status=error_status(exc),
        )
    messages.success(
        request,
        f"Removed {target.user.get_username()}; {returned:,} credits went back to the pool. "
        "Their team images stay in the gallery.",
    )
    return done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_POST
@manager_required
def invitation_revoke(request: TeamRequest, invitation_id: int) -> HttpResponse:
    invitation = get_object_or_404(Invitation, pk=invitation_id, team=request.membership.team)
    try:
        team_admin.revoke_invitation(actor=request.membership, invitation=invitation)
    except StudioError as exc:
        messages.error(request, exc.message)
        return respond(
            request, "team/members.html", "members-panel", _members_context(request), status=error_status(exc)
        )
    messages.success(request, "Invitation withdrawn: the link no longer works.")
    return done(request, "team/members.html", "members-panel", "team:members", lambda: _members_context(request))


@require_http_methods(["GET", "POST"])
@login_not_required
def invitation(request: TeamRequest, token: str) -> HttpResponse:
    """The link in an invitation: anyone with it may look; signed-in users accept with a POST."""
    found = team_admin.find_invitation(token=token)
    if found is None:
        return render(request, "team/forbidden.html", {"message": "This invitation link is not valid."}, status=404)
    if not request.user.is_authenticated:
        if request.method == "POST":
            return redirect(f"{reverse('login')}?next={request.path}")
        return render(request, "team/invitation.html", {"invitation": found, "problem": "", "token": token})
    if request.method == "GET":
        problem = team_admin.invitation_problem(invitation=found, user=request.user)
        return render(request, "team/invitation.html", {"invitation": found, "problem": problem})
    try:
        joined = team_admin.accept_invitation(token=token, user=request.user)
    except StudioError as exc:
        return render(request, "team/invitation.html", {"invitation": found, "problem": exc.message}, status=400)
    messages.success(request, f"Welcome to {joined.team.name}: you joined as {joined.get_role_display().lower()}.")
    return redirect("studio:home")


@require_POST
@manager_required
def member_concurrency(request: TeamRequest) -> HttpResponse:
    """The team's cap on jobs one member may have running at once (blank: no cap)."""
    form = ConcurrencyCapForm(request.POST)
    if not form.is_valid():
        context = _members_context(request, cap_error="Enter a whole number, or leave it blank for no cap.")
        return respond(request, "team/members.html", "concurrency-panel", context, status=400)
    cap = form.cleaned_data["max_running_per_member"]
    try:
        changed = team.set_member_concurrency_cap(actor=request.membership, cap=cap)
    except StudioError as exc:
        context = _members_context(request, cap_error=" ".join(service_errors(exc).values()))
        return respond(request, "team/members.html", "concurrency-panel", context, status=error_status(exc))
    if not changed:
        messages.info(request, "Nothing changed.")
    elif cap:
        messages.success(request, f"Each member may now run {cap} job{'s' if cap != 1 else ''} at once; the rest wait queued.")
    else:
        messages.success(request, "No cap: members' jobs start as worker slots free up.")
    return done(request, "team/members.html", "concurrency-panel", "team:members", lambda: _members_context(request))
