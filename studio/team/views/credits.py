"""Credits: the pool, grants and revokes, and each member's monthly cap and refill."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from studio.http import add_form_errors
from studio.selectors import team as team_selectors
from studio.services import team_admin
from studio.services.errors import StudioError
from studio.team.forms import CreditForm, LimitsForm
from studio.team.views.common import TeamRequest, done, error_status, manager_required, member_of_team, respond


def _credits_context(request: TeamRequest, **extra: Any) -> dict[str, Any]:
    team = request.membership.team
    summary = team_selectors.credit_summary(team=team)
    limit_forms: dict[int, LimitsForm] = extra.pop("limit_forms", {})
    rows = [
        {
            **row,
            "form": limit_forms.get(row["member"].pk)
            or LimitsForm(
                initial={"monthly_cap": row["member"].monthly_cap, "monthly_refill": row["member"].monthly_refill},
                auto_id=f"id_l{row['member'].pk}_%s",
            ),
        }
        for row in summary.rows
    ]
    context = {
        **vars(summary),
        "rows": rows,
        "grant_form": CreditForm(team=team, auto_id="id_grant_%s"),
        "revoke_form": CreditForm(team=team, auto_id="id_revoke_%s"),
    }
    context.update(extra)
    return context


@require_GET
@manager_required
def credits_page(request: TeamRequest) -> HttpResponse:
    return render(request, "team/credits.html", _credits_context(request))


def _credit_move(request: TeamRequest, *, grant: bool) -> HttpResponse:
    team = request.membership.team
    prefix = "grant" if grant else "revoke"
    form = CreditForm(request.POST, team=team, auto_id=f"id_{prefix}_%s")
    status = 400
    if form.is_valid():
        data = form.cleaned_data
        move = team_admin.grant if grant else team_admin.revoke
        try:
            result = move(
                actor=request.membership,
                target=data["member"],
                amount=data["amount"],
                memo=data["memo"],
                request_key=data["request_key"],
            )
        except StudioError as exc:
            add_form_errors(form, exc)
            status = error_status(exc)
        else:
            name = data["member"].user.get_username()
            if result.replayed:
                messages.info(request, "This form was already submitted: nothing changed the second time.")
            elif grant:
                messages.success(request, f"Granted {result.amount:,} credits to {name}.")
            else:
                messages.success(request, f"Revoked {result.amount:,} credits from {name}; they are back in the pool.")
            return done(
                request, "team/credits.html", "credits-panel", "team:credits", lambda: _credits_context(request)
            )
    context = _credits_context(request, **{f"{prefix}_form": form})
    return respond(request, "team/credits.html", "credits-panel", context, status=status)


@require_POST
@manager_required
def credits_grant(request: TeamRequest) -> HttpResponse:
    return _credit_move(request, grant=True)


@require_POST
@manager_required
def credits_revoke(request: TeamRequest) -> HttpResponse:
    return _credit_move(request, grant=False)


@require_POST
@manager_required
def member_limits(request: TeamRequest, member_id: int) -> HttpResponse:
    target = member_of_team(request, member_id)
    form = LimitsForm(request.POST, auto_id=f"id_l{target.pk}_%s")
    status = 400
    if form.is_valid():
        try:
            team_admin.set_limits(
                actor=request.membership,
                target=target,
                monthly_cap=form.cleaned_data["monthly_cap"],
                monthly_refill=form.cleaned_data["monthly_refill"],
            )
        except StudioError as exc:
            add_form_errors(form, exc)
            status = error_status(exc)
        else:
            messages.success(request, f"Saved the cap and refill of {target.user.get_username()}.")
            return done(
                request, "team/credits.html", "credits-panel", "team:credits", lambda: _credits_context(request)
            )
    return respond(
        request,
        "team/credits.html",
        "credits-panel",
        _credits_context(request, limit_forms={target.pk: form}),
        status=status,
    )
